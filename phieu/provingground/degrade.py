"""Make a clean page look scanned or photographed, as office scanners, faxes and phones do.

Profiles: ``office``, ``fax``, ``phone`` (the first proving ground) and, from what scanners and phones
do to real returns (issue 8): ``askew-clipped`` (sheets fed 3-4 degrees askew into an A4 scan area
that loses corner marks; torn and stapled corners, folds: ``feeds``), ``qr-clipped`` (the QR's quiet
zone cut at the edge, in any orientation), ``bw-scanner`` (an office scanner in black-and-white mode
with its own thresholding), ``phone-table`` (a phone photo of the whole sheet lying on a table:
``photo``).

Input is a uint8 greyscale array indexed (row, col), 0 = black; output too, except ``phone-table``
(RGB, as phones write). Geometry is (x, y) with x = column; ``Degraded.transform`` is the 3x3 matrix
T with ``[x', y', 1] ~ T @ [x, y, 1]`` from input pixels to output pixels (resolution change,
rotation, shift, perspective, all in one), so tests can check where every box went; a curled sheet
adds a smooth non-linear part: ``Degraded.map_points`` is then the exact mapping. Pure numpy/cv2:
one geometric warp per page, then cheap per-pixel effects (texture and lighting computed at low
resolution and scaled up), then JPEG. Deterministic for a given ``rng`` state: every random
choice, noise included, is drawn from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import cv2
import numpy as np

if TYPE_CHECKING:
    from formgen.layout import PageLayout

log = logging.getLogger(__name__)

Profile = Literal["office", "fax", "phone"]
PROFILES: tuple[Profile, ...] = ("office", "fax", "phone")
# issue 8: what scanners and phones do to real returns (see the module docstring)
NEW_PROFILES: tuple[str, ...] = ("askew-clipped", "qr-clipped", "bw-scanner", "phone-table")
ALL_PROFILES: tuple[str, ...] = (*PROFILES, *NEW_PROFILES)
MM_PER_INCH = 25.4
_TEXTURE_CELL_PX = 24  # low-frequency fields are drawn on a grid this coarse, then interpolated
_BED_MARGIN_MM = 1.0  # white beyond the skewed sheet's corners on office and fax scans
_NOISE_TILE_PX = 509  # sensor-noise tile (odd size: its repeats do not line up with 8x8 JPEG blocks)


class PointMap(Protocol):
    """An exact, non-linear input px -> output px mapping (a curled sheet seen by a camera)."""

    def project(self, points: np.ndarray) -> np.ndarray: ...


@dataclass
class Degraded:
    image: np.ndarray  # uint8 grey (fax and bw-scanner: only 0 and 255); phone-table: uint8 RGB
    dpi: float  # resolution of the page in the result (effective resolution for phone photos)
    transform: np.ndarray  # 3x3 float64, input px -> output px (a curled sheet: its flat part)
    profile: str
    turn: int = 0  # 0/90/180/270: quarter turns applied (counter-clockwise as displayed)
    jpeg_quality: int | None = None  # the JPEG quality already applied (write the file with it)
    warp: PointMap | None = None  # the exact mapping when the paper is not flat (see map_points)
    damage: tuple[str, ...] = ()  # what happened to this page, in words ("askew 3.4°", "torn corner ...")
    lost_marks: tuple[str, ...] = ()  # registration marks (layout names) mostly cut off or covered
    exif_orientation: int = 1  # the writer stores the pixels turned so that a viewer applying it shows ``image``

    def map_points(self, points: np.ndarray) -> np.ndarray:
        """Where input pixels (N x 2, x y) are in ``image``: exact, curl included."""
        if self.warp is not None:
            return self.warp.project(np.asarray(points, np.float64))
        pts = np.c_[np.asarray(points, np.float64), np.ones(len(points))] @ self.transform.T
        return np.asarray(pts[:, :2] / pts[:, 2:], np.float64)


def degrade(
    image: np.ndarray,
    profile: str,
    rng: np.random.Generator,
    *,
    dpi: float = 300.0,
    turns: bool = False,
    jpeg: bool = True,
    page: PageLayout | None = None,
) -> Degraded:
    """Degrade ``image`` (a page at ``dpi``) with one of ALL_PROFILES.

    ``page``: the page's layout, which the issue-8 profiles use to aim their damage (which corner
    marks a feed loses, where the QR's quiet zone is) and to keep every answer area on the image;
    without it they assume the standard A4 sheet.

    ``turns``: a quarter of the pages come out turned by 90, 180 or 270 degrees (a sheet fed the
    wrong way round), as the scanner must cope with. ``jpeg=False`` leaves the JPEG step to the file
    writer (``Degraded.jpeg_quality`` says which quality to write with), saving a round trip.

    >>> page = np.full((3508, 2480), 255, np.uint8)
    >>> out = degrade(page, "fax", np.random.default_rng(1))
    >>> out.dpi, [int(v) for v in np.unique(out.image)]
    (200.0, [0, 255])
    """
    turn = int(rng.choice([90, 180, 270])) if turns and rng.random() < 0.25 else 0
    if profile == "office":
        out = _office(image, rng, dpi, turn)
    elif profile == "fax":
        out = _fax(image, rng, dpi, turn)
    elif profile == "phone":
        out = _phone(image, rng, dpi, turn)
    elif profile in NEW_PROFILES:
        from . import feeds, photo  # noqa: PLC0415 (they build on this module's helpers)

        make = photo.phone_table if profile == "phone-table" else feeds.FEEDS[profile]
        out = make(image, rng, dpi=dpi, page=page, turn=turn)
    else:
        raise ValueError(f"unknown degradation profile {profile!r}; choose one of {ALL_PROFILES}")
    if jpeg and out.jpeg_quality is not None:
        out.image = _jpeg(out.image, out.jpeg_quality)
    return out


def _office(image: np.ndarray, rng: np.random.Generator, dpi: float, turn: int) -> Degraded:
    out_dpi = 300.0 if rng.random() < 0.7 else 200.0
    angle = float(np.clip(rng.normal(0, 1.2), -3, 3))
    scale = float(rng.uniform(0.98, 1.02))
    shift_mm = rng.uniform(-3, 3, 2)
    warped, t = _scan_warp(image, dpi, out_dpi, angle + turn, scale, shift_mm)
    img = cv2.GaussianBlur(warped, (0, 0), float(rng.uniform(0.3, 0.8)))
    img = _paper(
        img,
        rng,
        gain=float(rng.uniform(0.92, 0.99)),
        texture=float(rng.uniform(1.5, 4)),
        noise=float(rng.uniform(1.5, 4)),
    )
    quality = int(rng.integers(75, 91))
    return Degraded(img, out_dpi, t, "office", turn, quality)


def _fax(image: np.ndarray, rng: np.random.Generator, dpi: float, turn: int) -> Degraded:
    out_dpi = 200.0
    angle = float(np.clip(rng.normal(0, 2), -5, 5))
    warped, t = _scan_warp(
        image, dpi, out_dpi, angle + turn, float(rng.uniform(0.99, 1.01)), rng.uniform(-4, 4, 2)
    )
    level = float(rng.uniform(155, 180))  # light pencil survives, as on a decent fax
    noisy = _paper(warped, rng, gain=1.0, texture=0.0, noise=float(rng.uniform(5, 10)))
    binary = np.where(noisy < level, 0, 255).astype(np.uint8)
    h, w = binary.shape
    speckles = int(rng.integers(300, 2500))
    ys, xs = rng.integers(0, h - 1, speckles), rng.integers(0, w - 1, speckles)
    binary[ys, xs] = 0
    big = speckles // 10  # some specks are 2x2
    binary[ys[:big] + 1, xs[:big]] = 0
    binary[ys[:big], xs[:big] + 1] = 0
    for row in rng.integers(0, h, int(rng.integers(0, 4))):  # a dropped scan line
        binary[row, :] = 255
    return Degraded(binary, out_dpi, t, "fax", turn, None)


def _phone(image: np.ndarray, rng: np.random.Generator, dpi: float, turn: int) -> Degraded:
    eff_dpi = float(rng.uniform(155, 195))  # nominal; the tilt moves it a little
    h, w = image.shape
    s = eff_dpi / dpi
    angle = np.deg2rad(float(np.clip(rng.normal(0, 4), -10, 10)) + turn)
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    rot = np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    dst: np.ndarray = (corners - (w / 2, h / 2)) * s @ rot.T
    dst += rng.uniform(-0.03, 0.03, (4, 2)) * w * s  # the phone is not held parallel to the page
    margin = rng.uniform(0.03, 0.1, 2) * w * s
    dst -= dst.min(axis=0) - margin
    size = (int(dst[:, 0].max() + margin[0]), int(dst[:, 1].max() + margin[1]))
    t = cv2.getPerspectiveTransform(corners.astype(np.float32), dst.astype(np.float32)).astype(np.float64)
    eff_dpi = dpi * float(np.sqrt(cv2.contourArea(dst.astype(np.float32)) / (w * h)))  # after the tilt
    canvas = _texture_field(rng, (size[1], size[0]), mean=float(rng.uniform(40, 150)), amplitude=12.0)
    cv2.warpPerspective(image, t, size, dst=canvas, flags=cv2.INTER_AREA, borderMode=cv2.BORDER_TRANSPARENT)
    light = _lighting(rng, canvas.shape)
    img: np.ndarray = cv2.multiply(canvas.astype(np.float32), light).astype(np.uint8)
    img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.5, 1.1)))
    img = _paper(img, rng, gain=1.0, texture=0.0, noise=float(rng.uniform(2.5, 5)))
    quality = int(rng.integers(70, 91))
    return Degraded(img, eff_dpi, t, "phone", turn, quality)


def _scan_warp(
    image: np.ndarray, dpi: float, out_dpi: float, angle: float, scale: float, shift_mm: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate (degrees, counter-clockwise as displayed) and scale about the centre, then shift, onto
    a white scanner bed at ``out_dpi`` just large enough for the whole skewed sheet (scanners scan a
    little beyond the paper; cutting off a corner would cut the QR code's quiet zone)."""
    h, w = image.shape
    k = out_dpi / dpi
    rad = np.deg2rad(angle)
    margin = 2 * (float(np.abs(shift_mm).max()) + _BED_MARGIN_MM) * out_dpi / MM_PER_INCH
    out_w = int(np.ceil(k * scale * (w * abs(np.cos(rad)) + h * abs(np.sin(rad))) + margin))
    out_h = int(np.ceil(k * scale * (w * abs(np.sin(rad)) + h * abs(np.cos(rad))) + margin))
    a = np.asarray(cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale * k), np.float64)
    a[:, 2] += (out_w / 2 - w / 2, out_h / 2 - h / 2)
    a[:, 2] += shift_mm * out_dpi / MM_PER_INCH
    warped = cv2.warpAffine(
        image,
        a,
        (out_w, out_h),
        flags=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=255,
    )
    return warped, np.vstack([a, [0.0, 0.0, 1.0]])


def _paper(
    img: np.ndarray, rng: np.random.Generator, *, gain: float, texture: float, noise: float
) -> np.ndarray:
    """Paper tone (``gain``), fibre texture (grey levels of low-frequency variation), sensor noise.

    Noise comes from a random tile repeated with a random offset: the eye and the reader see
    sensor grain, and the page costs a few saturating uint8 operations instead of a full-size draw.
    """
    h, w = img.shape[:2]
    out = cv2.convertScaleAbs(img, alpha=gain) if gain != 1.0 else img.copy()
    if texture > 0:  # fibres only darken: a smooth non-negative field
        spots = np.abs(rng.normal(0, texture, (h // _TEXTURE_CELL_PX + 2, w // _TEXTURE_CELL_PX + 2)))
        field = cv2.resize(np.clip(spots, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
        cv2.subtract(out, field, dst=out)
    if noise > 0:
        tile = np.round(rng.normal(0, noise, (_NOISE_TILE_PX, _NOISE_TILE_PX + 3)))
        reps = (h // tile.shape[0] + 2, w // tile.shape[1] + 2)
        dy, dx = int(rng.integers(tile.shape[0])), int(rng.integers(tile.shape[1]))
        for part, op in ((np.clip(tile, 0, 255), cv2.add), (np.clip(-tile, 0, 255), cv2.subtract)):
            full = np.tile(part.astype(np.uint8), reps)[dy : dy + h, dx : dx + w]
            op(out, np.ascontiguousarray(full), dst=out)
    return out


def _texture_field(
    rng: np.random.Generator, shape: tuple[int, ...], *, mean: float, amplitude: float
) -> np.ndarray:
    """Smooth random uint8 field of ``shape`` around ``mean`` (drawn coarse, interpolated up)."""
    h, w = shape[:2]
    coarse = rng.normal(mean, amplitude, (h // _TEXTURE_CELL_PX + 2, w // _TEXTURE_CELL_PX + 2))
    field = cv2.resize(np.clip(coarse, 0, 255).astype(np.uint8), (w, h), interpolation=cv2.INTER_LINEAR)
    return field


def _lighting(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Multiplicative light field (float32, 0.55..1): a gradient across the page and a soft shadow."""
    h, w = shape[:2]
    ch, cw = h // _TEXTURE_CELL_PX + 2, w // _TEXTURE_CELL_PX + 2
    yy, xx = np.mgrid[0:ch, 0:cw].astype(np.float32)
    direction = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(direction) * xx / cw + np.sin(direction) * yy / ch
    light = 0.97 - float(rng.uniform(0.1, 0.25)) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    if rng.random() < 0.7:  # the phone's or the hand's shadow: a soft-edged half-plane
        cut = rng.uniform(0.15, 0.45) * (cw if rng.random() < 0.5 else ch)
        edge = (xx if rng.random() < 0.5 else yy) - cut
        light *= 1.0 - float(rng.uniform(0.15, 0.3)) / (1.0 + np.exp(edge / 1.5))
    return cv2.resize(light.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    colour = img.ndim == 3
    ok, buf = cv2.imencode(".jpg", img[:, :, ::-1] if colour else img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoder failed")
    if colour:  # RGB in, RGB out (OpenCV speaks BGR)
        return np.ascontiguousarray(np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR))[:, :, ::-1])
    return np.asarray(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE))
