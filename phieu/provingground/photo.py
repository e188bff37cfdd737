"""A phone photo of the whole sheet lying on a table, as people send them.

A pinhole camera (a phone's ~26 mm lens) held by hand over the sheet: tilted up to 15 degrees, the
sheet turned a little on the table (now and then upside down, or sideways in a landscape photo),
fully in frame on a darker surface (wood, cloth, a dark desk, a patterned tablecloth). The paper
is not flat: a curled edge, an old fold's ridge or a gentle wave lifts it a few millimetres towards
the lens, which the camera sees as a smooth non-linear warp (``Camera.project`` is exact; the
degraded page's ``transform`` is the flat part). Uneven light, the soft shadow of the phone or the
hand, the lens's vignetting, focus blur, the phone's sharpening and noise, colour, JPEG; a full
camera picture (12 MP) or one a messenger shrank. Phones stamp 72 dpi whatever the distance, and
store some pictures sideways with an EXIF orientation tag (``Degraded.exif_orientation``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from formgen.layout import PageLayout

from .degrade import MM_PER_INCH, Degraded

_GRID = 16  # the inverse warp is computed on a grid this coarse (px) and interpolated (smooth: < 0.01 px off)


@dataclass(frozen=True)
class Curl:
    """The paper's height over the table (mm) as a function of position on the page (mm from its centre)."""

    kind: str  # flat | edge (a curled edge) | ridge (an old fold) | wave
    height: float
    direction: tuple[float, float]
    offset: float
    width: float

    def z(self, xy: np.ndarray) -> np.ndarray:
        u = xy @ np.asarray(self.direction)
        if self.kind == "edge":
            return np.asarray(self.height * np.clip((u - self.offset) / self.width, 0, None) ** 2)
        if self.kind == "ridge":
            return np.asarray(self.height * np.exp(-(((u - self.offset) / self.width) ** 2)))
        if self.kind == "wave":
            return np.asarray(self.height * 0.5 * (1 + np.sin(2 * np.pi * u / self.width + self.offset)))
        return np.zeros(len(xy))


@dataclass(frozen=True)
class Camera:
    """Page px -> photo px through a pinhole camera, the paper's curl included."""

    focal: float  # px
    centre: tuple[float, float]  # principal point, photo px
    rotation: np.ndarray  # 3x3, page frame -> camera frame
    translation: np.ndarray  # (3,) mm: the page centre in camera coordinates
    mm_per_px: float  # of the page image
    page_centre: tuple[float, float]  # page px
    curl: Curl

    def _mm(self, points: np.ndarray) -> np.ndarray:
        return (np.asarray(points, np.float64) - self.page_centre) * self.mm_per_px

    def project(self, points: np.ndarray) -> np.ndarray:
        xy = self._mm(points)
        lifted = np.c_[xy, -self.curl.z(xy)]  # the camera looks along +z: towards it is -z
        cam = lifted @ self.rotation.T + self.translation
        return np.c_[self.focal * cam[:, 0] / cam[:, 2] + self.centre[0], self.focal * cam[:, 1] / cam[:, 2] + self.centre[1]]

    def homography(self) -> np.ndarray:
        """The flat sheet's page px -> photo px (3x3)."""
        k = np.array([[self.focal, 0, self.centre[0]], [0, self.focal, self.centre[1]], [0, 0, 1]])
        h_mm = k @ np.c_[self.rotation[:, 0], self.rotation[:, 1], self.translation]
        m = self.mm_per_px
        to_mm = np.array([[m, 0, -m * self.page_centre[0]], [0, m, -m * self.page_centre[1]], [0, 0, 1]])
        h = h_mm @ to_mm
        return np.asarray(h / h[2, 2], np.float64)

    def unproject(self, pixels: np.ndarray, *, rounds: int = 5) -> np.ndarray:
        """Page px seen at photo ``pixels`` (the inverse of ``project``, by fixed-point rounds)."""
        inv = np.linalg.inv(self.homography())
        flat = _apply(inv, pixels)
        p = flat.copy()
        for _ in range(rounds):
            p = flat - (_apply(inv, self.project(p)) - p)
        return p


def _apply(t: np.ndarray, points: np.ndarray) -> np.ndarray:
    q = np.c_[points, np.ones(len(points))] @ t.T
    return np.asarray(q[:, :2] / q[:, 2:])


def _rot(axis: str, degrees: float) -> np.ndarray:
    c, s = np.cos(np.deg2rad(degrees)), np.sin(np.deg2rad(degrees))
    return {"x": np.array([[1, 0, 0], [0, c, -s], [0, s, c]]), "y": np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            "z": np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def _curl(rng: np.random.Generator, size_mm: tuple[float, float]) -> Curl:
    kind = str(rng.choice(["flat", "edge", "ridge", "wave"], p=[0.2, 0.35, 0.3, 0.15]))
    angle = float(rng.choice([0, 90, 180, 270]) + rng.normal(0, 5))
    d = (float(np.cos(np.deg2rad(angle))), float(np.sin(np.deg2rad(angle))))
    reach = abs(d[0]) * size_mm[0] / 2 + abs(d[1]) * size_mm[1] / 2
    if kind == "edge":
        width = float(rng.uniform(40, 80))
        return Curl(kind, float(rng.uniform(2, 7)), d, reach - width, width)
    if kind == "ridge":
        return Curl(kind, float(rng.uniform(1.5, 4)), d, float(rng.uniform(-0.3, 0.3)) * reach, float(rng.uniform(15, 40)))
    if kind == "wave":
        return Curl(kind, float(rng.uniform(0.5, 2)), d, float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(80, 200)))
    return Curl("flat", 0.0, d, 0.0, 1.0)


def _camera(rng: np.random.Generator, page_px: tuple[int, int], dpi: float, frame: tuple[int, int],
            yaw: float) -> Camera:
    """A hand-held phone framing the whole sheet with a margin of table all round."""
    w, h = page_px
    mm = MM_PER_INCH / dpi
    focal = 0.78 * max(frame)
    curl = _curl(rng, (w * mm, h * mm))
    rotation = _rot("x", float(rng.uniform(-15, 15))) @ _rot("y", float(rng.uniform(-10, 10))) @ _rot("z", yaw)
    sideways = abs(np.sin(np.deg2rad(yaw))) > 0.5
    span = frame[0] if sideways else frame[1]
    fill = float(rng.uniform(0.62, 0.85))
    corners = np.array([[0, 0], [w, 0], [0, h], [w, h]], np.float64)
    for _ in range(20):
        distance = focal * h * mm / (fill * span)
        cam = Camera(focal, (0.0, 0.0), rotation, np.array([0.0, 0.0, distance]), mm, (w / 2, h / 2), curl)
        seen = cam.project(np.vstack([corners, _edge_points(w, h)]))
        lo, hi = seen.min(axis=0), seen.max(axis=0)
        room = np.array(frame, np.float64) - (hi - lo)
        if (room > 0.05 * np.array(frame)).all():
            offset = rng.uniform(0.02, 0.98, 2) * (room - 0.04 * np.array(frame)) + 0.02 * np.array(frame)
            centre = offset - lo
            return Camera(focal, (float(centre[0]), float(centre[1])), rotation, cam.translation, mm, (w / 2, h / 2), curl)
        fill *= 0.93
    raise RuntimeError("could not frame the sheet")  # pragma: no cover (fill shrinks until it fits)


def _edge_points(w: int, h: int) -> np.ndarray:
    t = np.linspace(0, 1, 9)
    return np.vstack([np.c_[t * w, 0 * t], np.c_[t * w, 0 * t + h], np.c_[0 * t, t * h], np.c_[0 * t + w, t * h]])


def phone_table(image: np.ndarray, rng: np.random.Generator, *, dpi: float, page: PageLayout | None = None,
                turn: int = 0) -> Degraded:
    """Photograph ``image`` (a grey page at ``dpi``) lying on a table with a phone (RGB result)."""
    camera_size = rng.random() < 0.55
    long = 4032 if camera_size else int(rng.integers(1600, 2561))
    landscape = rng.random() < 0.15
    frame = (long, long * 3 // 4) if landscape else (long * 3 // 4, long)
    base = float(rng.choice([90, 270])) if landscape else (180.0 if rng.random() < 0.1 else 0.0)
    yaw = base + float(np.clip(rng.normal(0, 4), -10, 10))
    h, w = image.shape[:2]
    cam = _camera(rng, (w, h), dpi, frame, yaw)
    flat = cam.homography()
    quad = _apply(flat, np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64))
    eff_dpi = dpi * float(np.sqrt(cv2.contourArea(quad.astype(np.float32)) / (w * h)))
    sheet, alpha, lift, coarse_alpha = _render_sheet(image, cam, frame, dpi, eff_dpi)
    surface, name = _surface(rng, frame)
    light = _light(rng, frame, lift)
    noise = rng.normal(1, float(rng.uniform(0.008, 0.02)), (frame[1] // 2 + 1, frame[0] // 2 + 1)).astype(np.float32)
    light = cv2.multiply(light, cv2.resize(noise, frame, interpolation=cv2.INTER_NEAREST))  # sensor noise, in the light
    tint = [float(rng.uniform(0.97, 1.0)), float(rng.uniform(0.95, 0.99)), float(rng.uniform(0.88, 0.96))]
    # the sheet's own faint shadow on the table, drawn coarse
    rim = cv2.GaussianBlur(coarse_alpha, (0, 0), 0.004 * long / _GRID + 0.5) - coarse_alpha
    shadow = 1 - 0.3 * cv2.resize(np.clip(rim, 0, 1), frame, interpolation=cv2.INTER_LINEAR)
    # every pixel is part sheet, part table, both lit (OpenCV's element-wise operations: several times numpy's speed)
    on_sheet = cv2.multiply(cv2.multiply(sheet, alpha, dtype=cv2.CV_32F), light)
    on_table = cv2.multiply(cv2.multiply(1.0 - alpha, shadow), light)
    out = np.empty((frame[1], frame[0], 3), np.uint8)
    for c in range(3):
        table = cv2.multiply(surface[:, :, c], on_table, dtype=cv2.CV_32F)
        out[:, :, c] = cv2.convertScaleAbs(cv2.scaleAdd(on_sheet, tint[c], table))  # saturating
    out = _lens(out, rng, long)
    quality = int(rng.integers(85, 96)) if camera_size else int(rng.integers(70, 86))
    orientation = int(rng.choice([1, 6, 8], p=[0.7, 0.2, 0.1])) if camera_size else 1
    words = (f"{name} table", f"curl {cam.curl.kind} {cam.curl.height:.1f} mm",
             f"{frame[0]}x{frame[1]} photo", f"sheet turned {yaw:.0f}°")
    turn = int(round(base)) % 360
    return Degraded(out, eff_dpi, flat, "phone-table", turn, quality, warp=cam, damage=words,
                    exif_orientation=orientation)


def _render_sheet(image: np.ndarray, cam: Camera, frame: tuple[int, int], dpi: float,
                  eff_dpi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(sheet grey uint8, its coverage 0..1 float32, over the whole frame; the paper's lift in mm and
    the coverage, on the coarse grid)."""
    h, w = image.shape[:2]
    shrink = min(1.0, 1.15 * eff_dpi / dpi)
    source = cv2.resize(image, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA) if shrink < 0.95 else image
    scale = source.shape[1] / w
    gw, gh = frame[0] // _GRID + 2, frame[1] // _GRID + 2
    # grid point i sits at i * GRID + (GRID - 1) / 2: where cv2.resize by GRID puts its samples
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float64) * _GRID + (_GRID - 1) / 2
    page = cam.unproject(np.c_[gx.ravel(), gy.ravel()])
    lift = cam.curl.z(cam._mm(page)).reshape(gh, gw).astype(np.float32)
    maps = (page * scale).reshape(gh, gw, 2).astype(np.float32)
    mx, my = (cv2.resize(np.ascontiguousarray(maps[:, :, i]), (gw * _GRID, gh * _GRID),
                         interpolation=cv2.INTER_LINEAR)[: frame[1], : frame[0]] for i in (0, 1))
    fixed = cv2.convertMaps(mx, my, cv2.CV_16SC2)  # once, for both remaps
    sheet = cv2.remap(source, *fixed, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    paper = np.full(source.shape[:2], 255, np.uint8)
    alpha = cv2.remap(paper, *fixed, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    inside = ((page[:, 0] >= 0) & (page[:, 0] < w) & (page[:, 1] >= 0) & (page[:, 1] < h)).reshape(gh, gw)
    coverage = alpha.astype(np.float32)
    coverage *= 1 / 255
    return sheet, coverage, lift, inside.astype(np.float32)


def _smooth(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    coarse = rng.normal(0, 1, cells).astype(np.float32)
    return np.asarray(cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC), np.float32)


def _surface(rng: np.random.Generator, frame: tuple[int, int]) -> tuple[np.ndarray, str]:
    """A table darker than paper: wood, cloth, a dark desk or a patterned tablecloth (RGB uint8)."""
    w, h = frame
    sw, sh = w // 4, h // 4  # drawn at a quarter of the size, then scaled up
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    kind = str(rng.choice(["wood", "cloth", "dark desk", "tablecloth"]))
    if kind == "wood":
        theta = float(rng.uniform(0, np.pi))
        v = -xx * np.sin(theta) + yy * np.cos(theta) + 25 * _smooth(rng, (sh, sw), (6, 6))
        grain = 0.5 + 0.5 * np.sin(2 * np.pi * v / float(rng.uniform(6, 14)))
        plank = float(rng.uniform(120, 260))
        seams = (np.mod(v, plank) < 1.5).astype(np.float32)
        tone = 0.85 + 0.15 * grain - 0.35 * seams
        colour = np.array([[150, 105, 65], [95, 60, 40], [120, 58, 38], [170, 125, 80]][int(rng.integers(4))], np.float32)
    elif kind == "cloth":
        folds = _smooth(rng, (sh, sw), (4, 4))
        weave = np.sin(xx * float(rng.uniform(1.5, 2.5))) * np.sin(yy * float(rng.uniform(1.5, 2.5)))
        tone = 0.9 + 0.1 * folds + 0.04 * weave
        colour = np.array([[40, 50, 95], [110, 32, 42], [45, 85, 55], [90, 90, 96], [70, 45, 90]][int(rng.integers(5))], np.float32)
    elif kind == "dark desk":
        spot = np.exp(-(((xx - rng.uniform(0, sw)) ** 2 + (yy - rng.uniform(0, sh)) ** 2) / (2 * (0.25 * sw) ** 2)))
        tone = 1.0 + 0.04 * _smooth(rng, (sh, sw), (8, 8)) + float(rng.uniform(0.3, 0.8)) * spot
        colour = np.full(3, float(rng.uniform(28, 60)), np.float32) * np.array([1.0, 0.95, 0.9], np.float32)
    else:
        size = float(rng.uniform(18, 45))
        theta = float(rng.uniform(0, np.pi / 2))
        u, v = xx * np.cos(theta) + yy * np.sin(theta), -xx * np.sin(theta) + yy * np.cos(theta)
        checks = ((np.floor(u / size) + np.floor(v / size)) % 2).astype(np.float32)
        tone = 0.75 + 0.25 * checks + 0.03 * _smooth(rng, (sh, sw), (5, 5))
        colour = np.array([[150, 40, 45], [40, 70, 140], [60, 110, 60], [160, 120, 40]][int(rng.integers(4))], np.float32)
    small = np.clip(tone[:, :, None] * colour[None, None, :], 0, 255).astype(np.uint8)
    big = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return big, kind


def _light(rng: np.random.Generator, frame: tuple[int, int], lift: np.ndarray) -> np.ndarray:
    """Multiplicative light over the frame: a gradient, the lens's vignetting, the curl's shading
    and the soft shadow of the phone or the hand (float32, full size)."""
    w, h = frame
    cw, ch = w // 16 + 1, h // 16 + 1
    yy, xx = np.mgrid[0:ch, 0:cw].astype(np.float32)
    direction = float(rng.uniform(0, 2 * np.pi))
    ramp = (np.cos(direction) * xx / cw + np.sin(direction) * yy / ch)
    light = 1.02 - float(rng.uniform(0.08, 0.25)) * (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    r2 = ((xx / cw - 0.5) ** 2 + (yy / ch - 0.5) ** 2) / 0.5
    light *= 1 - float(rng.uniform(0.08, 0.22)) * r2
    small_lift = cv2.resize(lift, (cw, ch), interpolation=cv2.INTER_AREA)
    gy, gx = np.gradient(small_lift)
    light *= 1 + 0.12 * (np.cos(direction) * gx + np.sin(direction) * gy)
    if rng.random() < 0.75:  # the phone's or the hand's shadow, soft, reaching in from an edge
        shade = np.zeros((ch, cw), np.float32)
        cx, cy = float(rng.uniform(0, cw)), float(rng.choice([rng.uniform(-0.2, 0.2), rng.uniform(0.8, 1.2)])) * ch
        axes = (int(rng.uniform(0.15, 0.35) * cw), int(rng.uniform(0.2, 0.45) * ch))
        cv2.ellipse(shade, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        shade = np.asarray(cv2.GaussianBlur(shade, (0, 0), float(rng.uniform(0.03, 0.08)) * cw), np.float32)
        light *= 1 - float(rng.uniform(0.15, 0.35)) * shade
    return np.asarray(cv2.resize(light.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR), np.float32)


def _lens(img: np.ndarray, rng: np.random.Generator, long: int) -> np.ndarray:
    """Focus blur (sometimes a little shake), the phone's sharpening."""
    sigma = float(rng.uniform(0.6, 1.3)) * long / 4032
    out = cv2.GaussianBlur(img, (0, 0), max(sigma, 0.4))
    if rng.random() < 0.2:
        length = int(rng.integers(2, 6))
        kernel = np.zeros((length * 2 + 1, length * 2 + 1), np.float32)
        angle = float(rng.uniform(0, 180))
        cv2.line(kernel, (length, length), (length + int(length * np.cos(np.deg2rad(angle))),
                                            length + int(length * np.sin(np.deg2rad(angle)))), 1.0, 1)
        out = cv2.filter2D(out, -1, kernel / kernel.sum())
    if rng.random() < 0.7:
        soft = cv2.GaussianBlur(out, (0, 0), 1.3)
        amount = float(rng.uniform(0.3, 0.8))
        out = cv2.addWeighted(out, 1 + amount, soft, -amount, 0)
    return out
