"""From registration marks to the page transform, and the upright canonical page.

``find_alignment`` chooses, among the mark candidates, the four whose distances match the layout's
mark rectangle (scale-free, so an estimated dpi is enough), names them by the circle (bottom-right)
and fits the homography layout mm -> image pixels (exact on four points, so phone photos with
perspective work). With only three marks it fits an affine transform and says so
(``Alignment.marks_found == 3``), after looking where the three put the fourth: the mark found
there gives the homography; print there means a chance triangle (refused); plain paper or the
image edge, a lost mark. Exact fits leave nothing over to check: ``residual_mm`` is 0.0 here and is
measured on the QR code's corners by ``scanner.identify`` (``code_misfit_mm``).

Coordinates: layout in mm from the page's top-left (x right, y down); image points (x, y) pixels,
x = column, OpenCV convention (pixel centres at integers); images are numpy (row, col).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence

import cv2
import numpy as np

from core.settings import ScanSettings
from core.types import Alignment
from formgen.layout import Rect, RegistrationMark
from scanner.marks import MM_PER_INCH, MarkCandidate, find_candidates, reduce

log = logging.getLogger(__name__)

CLOCKWISE = ("top_left", "top_right", "bottom_right", "bottom_left")
# The QR standard's quiet zone, which the layout's QR rectangle includes (formgen.render.QUIET_MODULES).
QR_QUIET_MODULES = 4
# Share of the mark rectangle's width and height the fitting points must span for an affine fit.
_AFFINE_MIN_SPREAD = 0.5
# Fill of the min-area rectangle between a disc (0.785, at most 0.82 scanned) and a square (1.0, at
# least 0.89 on a fax's ragged edges).
_CIRCLE_FILL = 0.855
# Three-mark fits tried, best first, before giving up.
_THREES_TRIED = 8
# How far (mark sides) from its predicted place the fourth mark is looked for (an affine prediction
# misses it by millimetres on a phone photo), and the ink share there that still counts as plain paper.
_FOURTH_REACH = 4.0
_FOURTH_BLANK_INK = 0.03


def find_alignment(
    image: np.ndarray,
    *,
    marks: Sequence[RegistrationMark],
    dpi: float,
    settings: ScanSettings,
    rotation: int | None = None,
) -> Alignment | None:
    """Find the page's marks in a uint8 greyscale image and fit layout mm -> image px.

    ``marks`` are the layout's marks (mm); ``dpi`` the image's (estimated) resolution. ``rotation``
    (0/90/180/270), when known from elsewhere (the QR code), forces the orientation instead of the
    circle mark deciding it. Returns None when fewer than three marks fit the expected geometry.
    """
    candidates = find_candidates(image, dpi=dpi, mark_mm=marks[0].size, settings=settings)
    return fit_marks(candidates, marks=marks, settings=settings, rotation=rotation, image=image)


def fit_marks(
    candidates: Sequence[MarkCandidate],
    *,
    marks: Sequence[RegistrationMark],
    settings: ScanSettings,
    rotation: int | None = None,
    image: np.ndarray | None = None,
) -> Alignment | None:
    """Choose the candidates forming the layout's mark rectangle and fit the transform (or None).

    ``image`` (the page the candidates come from) lets a three-mark fit be checked where it puts the
    fourth mark; without it a three-mark fit is taken as it is.
    """
    by_name: dict[str, RegistrationMark] = {m.name: m for m in marks}
    layout = np.array([[by_name[n].cx, by_name[n].cy] for n in CLOCKWISE])
    mark_mm = marks[0].size
    found = _best_four(candidates, layout, mark_mm, settings, rotation)
    if found is not None:
        points, _ = found
        return _homography(layout, points, 4)
    for missing, named, affine in _ranked_threes(candidates, layout, mark_mm, settings, rotation):
        three = _confirm_three(image, layout, missing, named, affine, mark_mm, settings)
        if three is not None:
            return three
    log.debug("no mark geometry among %d candidates", len(candidates))
    return None


def fit_with_code(
    candidates: Sequence[MarkCandidate],
    *,
    marks: Sequence[RegistrationMark],
    code_rect: Rect,
    modules: int,
    code_px: np.ndarray,
    settings: ScanSettings,
) -> Alignment | None:
    """Affine fit on the QR symbol's corners plus the marks found where the code predicts them.

    For pages whose marks are partly cut off (a skewed page cropped to A4 by the scanner): the
    code's four corners (``code_px``, (x, y) in its own order TL, TR, BR, BL) place the page
    roughly; every mark candidate within ``settings.code_mark_radius_mm`` of its predicted place
    then anchors the fit across the page: affine when the points span the page both ways, else a
    similarity. None when no mark is found or the points misfit by more than
    ``settings.fit_residual_max_mm`` on average.
    """
    code_mm = code_corners_mm(code_rect, modules)
    rough = _affine_fit(code_mm, code_px)
    px_per_mm = float(np.sqrt(abs(np.linalg.det(rough[:, :2]))))
    src, dst = [code_mm], [np.asarray(code_px, dtype=np.float64)]
    for mark in marks:
        predicted = rough @ np.array([mark.cx, mark.cy, 1.0])
        near = [c for c in candidates
                if np.hypot(c.x - predicted[0], c.y - predicted[1]) < settings.code_mark_radius_mm * px_per_mm
                and _sizes_match([c], mark.size * px_per_mm, settings)]
        if near:
            best = min(near, key=lambda c: np.hypot(c.x - predicted[0], c.y - predicted[1]))
            src.append(np.array([[mark.cx, mark.cy]]))
            dst.append(np.array([[best.x, best.y]]))
    found = len(src) - 1
    if found < 1:
        return None
    mm, px = np.vstack(src), np.vstack(dst)
    if found == 4:  # the page's corners too: a homography, as a phone photo's perspective needs
        matrix = cv2.findHomography(mm, px, 0)[0]
    else:
        # An affine map needs points spread along both page axes; marks on one side plus the small
        # code determine only a similarity (turn, one scale, shift) well.
        extent = np.ptp(np.array([[m.cx, m.cy] for m in marks]), axis=0)
        spread = np.ptp(mm, axis=0) / extent
        affine = _affine_fit(mm, px) if min(spread) >= _AFFINE_MIN_SPREAD else _similarity_fit(mm, px)
        matrix = np.vstack([affine, [0.0, 0.0, 1.0]])
    if matrix is None:
        return None
    fitted = cv2.perspectiveTransform(mm.reshape(1, -1, 2), matrix)[0]
    residual = float(np.mean(np.hypot(*(fitted - px).T))) / px_per_mm
    if residual > settings.fit_residual_max_mm:
        return None  # the points disagree (strong perspective, a decoy taken for a mark): do not guess
    top = cv2.perspectiveTransform(np.array([[[0.0, 0.0], [1.0, 0.0]]]), matrix)[0]
    return Alignment(mm_to_px=matrix, rotation=_rotation_of(top), residual_mm=residual, marks_found=found,
                     method="code+marks")


def code_corners_mm(code_rect: Rect, modules: int) -> np.ndarray:
    """(4, 2) layout mm of the QR symbol's corners (TL, TR, BR, BL), the quiet zone left out."""
    unit = code_rect.w / (modules + 2 * QR_QUIET_MODULES)
    x0, y0 = code_rect.x + QR_QUIET_MODULES * unit, code_rect.y + QR_QUIET_MODULES * unit
    x1, y1 = code_rect.x + code_rect.w - QR_QUIET_MODULES * unit, code_rect.y + code_rect.h - QR_QUIET_MODULES * unit
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])


def code_misfit_mm(alignment: Alignment, code_rect: Rect, modules: int, code_px: np.ndarray) -> float:
    """Mean distance (mm, on the page) between the decoded QR symbol's corners (``code_px``, (x, y)
    pixels, TL TR BR BL) and where ``alignment`` puts them: a check the marks' fit had no part in."""
    found_mm = px_to_mm(alignment, np.asarray(code_px, dtype=np.float64))
    return float(np.mean(np.hypot(*(found_mm - code_corners_mm(code_rect, modules)).T)))


def _similarity_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2x3 similarity (rotation, uniform scale, shift) of ``src`` onto ``dst`` (Umeyama)."""
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    # As complex numbers: dst = z * src, z = sum(conj(a) b) / sum(|a|^2)
    za, zb = a[:, 0] + 1j * a[:, 1], b[:, 0] + 1j * b[:, 1]
    z = complex(np.sum(np.conj(za) * zb) / np.sum(np.abs(za) ** 2))
    linear = np.array([[z.real, -z.imag], [z.imag, z.real]])
    return np.hstack([linear, (mu_d - linear @ mu_s).reshape(2, 1)])


def _affine_fit(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares 2x3 affine map of (N, 2) points ``src`` onto ``dst``."""
    design = np.hstack([src, np.ones((len(src), 1))])
    coeffs, *_ = np.linalg.lstsq(design, dst, rcond=None)
    return np.asarray(coeffs.T, dtype=np.float64)


def _rotation_of(points: np.ndarray) -> int:
    """How far the page is turned (clockwise degrees, 0/90/180/270) given TL, TR image points."""
    dx, dy = points[1] - points[0]
    return int(round(np.degrees(np.arctan2(dy, dx)) / 90.0)) % 4 * 90


def _best_four(
    candidates: Sequence[MarkCandidate],
    layout: np.ndarray,
    mark_mm: float,
    settings: ScanSettings,
    rotation: int | None,
) -> tuple[np.ndarray, float] | None:
    """(image points in CLOCKWISE order, geometric error) of the best quadruple, or None."""
    expected = _distances(layout)
    expected_sorted = sorted(expected)
    pts = np.array([[c.x, c.y] for c in candidates])
    if len(pts) < 4:
        return None
    pairwise = np.hypot(*(pts[:, None, :] - pts[None, :, :]).transpose(2, 0, 1)).tolist()
    best: tuple[float, np.ndarray, float] | None = None
    for combo in itertools.combinations(range(len(candidates)), 4):
        # Cheap test first: the six distances, sorted, must match the layout's up to scale.
        if not _plausible(combo, pairwise, expected_sorted, settings.mark_geometry_tolerance):
            continue
        quad = pts[list(combo)]
        centre = quad.mean(axis=0)
        order = np.argsort(np.arctan2(quad[:, 1] - centre[1], quad[:, 0] - centre[0]))
        ordered = [candidates[combo[i]] for i in order]
        for shift in range(4):
            named = ordered[shift:] + ordered[:shift]  # named[0] is top-left, clockwise
            points = np.array([[c.x, c.y] for c in named])
            error = _geometry_error(points, expected, named, mark_mm, settings)
            if error is None:
                continue
            if rotation is not None and _rotation_of(points) != rotation:
                continue
            # The circle must be the bottom-right mark and the others squares (rectangles of glyphs,
            # at half scale, fit the geometry too); a known rotation (from the QR code) overrides.
            if rotation is None and any((c.fill < _CIRCLE_FILL) != (i == 2) for i, c in enumerate(named)):
                continue
            circle_penalty = named[2].fill - min(c.fill for c in named)
            score = error + circle_penalty
            if best is None or score < best[0]:
                best = (score, points, error)
    if best is None:
        return None
    return best[1], best[2]


def _plausible(combo: tuple[int, ...], pairwise: list[list[float]], expected_sorted: list[float], tol: float) -> bool:
    a, b, c, d = combo
    found = sorted((pairwise[a][b], pairwise[a][c], pairwise[a][d], pairwise[b][c], pairwise[b][d], pairwise[c][d]))
    scale = sum(found) / sum(expected_sorted)
    return scale > 0 and all(abs(f / (e * scale) - 1.0) <= tol for f, e in zip(found, expected_sorted, strict=True))


def _distances(points: np.ndarray) -> np.ndarray:
    """Four sides then two diagonals of a quadrilateral given in order."""
    idx = [(0, 1), (1, 2), (2, 3), (3, 0), (0, 2), (1, 3)]
    return np.array([np.hypot(*(points[a] - points[b])) for a, b in idx])


def _geometry_error(
    points: np.ndarray,
    expected_mm: np.ndarray,
    named: Sequence[MarkCandidate],
    mark_mm: float,
    settings: ScanSettings,
) -> float | None:
    """Largest relative distance error against the layout at the best scale, or None if out of tolerance."""
    measured = _distances(points)
    scale = float(measured.sum() / expected_mm.sum())  # px per mm
    error = float(np.max(np.abs(measured / (expected_mm * scale) - 1.0)))
    if error > settings.mark_geometry_tolerance:
        return None
    if not _sizes_match(named, mark_mm * scale, settings):
        return None
    # Scans are never mirrored: the named order must run clockwise in the image too.
    (ax, ay), (bx, by) = points[1] - points[0], points[3] - points[0]
    if ax * by - ay * bx <= 0:
        return None
    return error


def _ranked_threes(
    candidates: Sequence[MarkCandidate],
    layout: np.ndarray,
    mark_mm: float,
    settings: ScanSettings,
    rotation: int | None,
) -> list[tuple[int, dict[int, MarkCandidate], np.ndarray]]:
    """(missing mark index, candidates by mark index, 2x3 affine mm -> px) of the triples that form a
    right corner of the mark rectangle, each mark the right shape (circle bottom-right), best first."""
    ranked: list[tuple[float, int, dict[int, MarkCandidate], np.ndarray]] = []
    for combo in itertools.combinations(candidates, 3):
        for missing in range(4):
            present = [i for i in range(4) if i != missing]
            for perm in itertools.permutations(combo):
                if any((c.fill < _CIRCLE_FILL) != (i == 2) for i, c in zip(present, perm, strict=True)):
                    continue
                src = layout[present].astype(np.float32)
                dst = np.array([[c.x, c.y] for c in perm], dtype=np.float32)
                affine = cv2.getAffineTransform(src, dst).astype(np.float64)
                error = _similarity_error(affine[:, :2], perm, mark_mm, settings)
                if error is None:
                    continue
                if rotation is not None and _rotation_of(_affine_points(affine, layout[:2])) != rotation:
                    continue
                ranked.append((error, missing, dict(zip(present, perm, strict=True)), affine))
    ranked.sort(key=lambda r: r[0])
    return [(missing, named, affine) for _, missing, named, affine in ranked[:_THREES_TRIED]]


def _affine_points(affine: np.ndarray, points_mm: np.ndarray) -> np.ndarray:
    return np.hstack([points_mm, np.ones((len(points_mm), 1))]) @ affine.T


def _confirm_three(
    image: np.ndarray | None,
    layout: np.ndarray,
    missing: int,
    named: dict[int, MarkCandidate],
    affine: np.ndarray,
    mark_mm: float,
    settings: ScanSettings,
) -> Alignment | None:
    """Check a three-mark fit where it puts the fourth mark (three points always fit an affine map
    exactly, so their residual proves nothing).

    The fourth mark found there (it was not among the candidates): the four-mark homography. Its place
    beyond the image edge, or plain paper there (a torn or covered corner): the affine fit. Print
    or ink there instead of a mark: the triangle is a chance one (glyphs, filled boxes), None.
    """
    if image is None:
        return _affine_alignment(affine, layout, 3)
    x, y = _affine_points(affine, layout[missing:missing + 1])[0]
    side = mark_mm * float(np.sqrt(abs(np.linalg.det(affine[:, :2]))))
    rows, cols = image.shape
    if min(x, y) < side or x + side >= cols or y + side >= rows:
        return _affine_alignment(affine, layout, 3)  # cut off by the image edge (at least partly)
    reach = side * _FOURTH_REACH
    x0, y0 = max(0, int(x - reach)), max(0, int(y - reach))
    window = image[y0:int(y + reach) + 1, x0:int(x + reach) + 1]
    dpi = side / mark_mm * MM_PER_INCH
    near = [c for c in find_candidates(window, dpi=dpi, mark_mm=mark_mm, settings=settings)
            if (c.fill < _CIRCLE_FILL) == (missing == 2)]
    for found in sorted(near, key=lambda c: float(np.hypot(c.x + x0 - x, c.y + y0 - y))):
        placed = MarkCandidate(found.x + x0, found.y + y0, found.side, found.fill, found.darkness)
        four = [named.get(i, placed) for i in range(4)]
        points = np.array([[c.x, c.y] for c in four])
        if _geometry_error(points, _distances(layout), four, mark_mm, settings) is not None:
            return _homography(layout, points, 4)
    centre = image[int(y - side):int(y + side) + 1, int(x - side):int(x + side) + 1]
    paper = float(np.percentile(image[::8, ::8], 90)) or 1.0
    ink = float(np.mean(centre < paper * (1.0 - settings.blank_darkness)))
    if ink <= _FOURTH_BLANK_INK:
        return _affine_alignment(affine, layout, 3)
    log.debug("three marks refused: print where the fourth should be (ink %.3f)", ink)
    return None


def _similarity_error(
    linear: np.ndarray, marks: Sequence[MarkCandidate], mark_mm: float, settings: ScanSettings
) -> float | None:
    """How far a 2x2 map is from a rotation+scale (relative), or None beyond tolerance or mirrored."""
    col_x, col_y = linear[:, 0], linear[:, 1]
    sx, sy = float(np.hypot(*col_x)), float(np.hypot(*col_y))
    if sx <= 0 or sy <= 0 or np.linalg.det(linear) <= 0:
        return None
    error = abs(sx / sy - 1.0) + abs(float(col_x @ col_y)) / (sx * sy)
    if error > settings.mark_geometry_tolerance:
        return None
    if not _sizes_match(marks, mark_mm * (sx + sy) / 2, settings):
        return None
    return error


def _sizes_match(marks: Sequence[MarkCandidate], side_px: float, settings: ScanSettings) -> bool:
    """Every chosen mark has the size the distances between the marks imply (a disc: 0.886 of it)."""
    return all(abs(c.side / side_px - 1.0) <= settings.mark_size_match for c in marks)


def _affine_alignment(affine: np.ndarray, layout: np.ndarray, found: int) -> Alignment:
    matrix = np.vstack([affine, [0.0, 0.0, 1.0]]).astype(np.float64)
    corners = cv2.perspectiveTransform(layout[None, :2].astype(np.float64), matrix)[0]
    return Alignment(mm_to_px=matrix, rotation=_rotation_of(corners), residual_mm=0.0, marks_found=found,
                     method="marks-3")


def _homography(layout: np.ndarray, points: np.ndarray, found: int) -> Alignment:
    """Exact homography on four marks. It leaves no point over to check (residual_mm 0.0: the QR code's
    corners check it later); perspective_mm says how far the marks are from an affine map."""
    matrix = cv2.getPerspectiveTransform(layout.astype(np.float32), points.astype(np.float32))
    design = np.hstack([layout, np.ones((4, 1))])
    coeffs, *_ = np.linalg.lstsq(design, points, rcond=None)
    scale = np.sqrt(abs(np.linalg.det(coeffs[:2].T)))
    perspective = float(np.mean(np.hypot(*(design @ coeffs - points).T)) / scale)
    return Alignment(mm_to_px=matrix.astype(np.float64), rotation=_rotation_of(points),
                     residual_mm=0.0, marks_found=found, perspective_mm=perspective)


def mm_to_px(alignment: Alignment, points_mm: np.ndarray) -> np.ndarray:
    """Map (N, 2) layout points (mm) to (N, 2) image points (x, y) pixels."""
    pts = np.asarray(points_mm, dtype=np.float64).reshape(1, -1, 2)
    return cv2.perspectiveTransform(pts, alignment.mm_to_px)[0]


def px_to_mm(alignment: Alignment, points_px: np.ndarray) -> np.ndarray:
    """Map (N, 2) image points (x, y) pixels back to (N, 2) layout points (mm)."""
    pts = np.asarray(points_px, dtype=np.float64).reshape(1, -1, 2)
    return cv2.perspectiveTransform(pts, np.linalg.inv(alignment.mm_to_px))[0]


def warp_to_layout(
    image: np.ndarray,
    alignment: Alignment,
    *,
    width_mm: float,
    height_mm: float,
    dpi: float,
    origin_mm: tuple[float, float] = (0.0, 0.0),
    border: int = 255,
) -> np.ndarray:
    """The upright page in layout coordinates at ``dpi``: pixel (r, c) covers layout mm
    ``origin_mm + ((c, r) + 0.5) * 25.4 / dpi`` (x, y). A non-zero origin cuts out one region.

    Paper outside the scanned image is filled with ``border`` (white). The image is first reduced by area averaging
    when it is much finer than ``dpi``, so thin lines are not lost to point sampling.
    """
    k = MM_PER_INCH / dpi
    out_to_mm = np.array([[k, 0, origin_mm[0] + 0.5 * k], [0, k, origin_mm[1] + 0.5 * k], [0, 0, 1.0]])
    src_per_out = float(np.sqrt(abs(np.linalg.det(alignment.mm_to_px[:2, :2])))) * k
    source, to_source = image, np.eye(3)
    factor = int(src_per_out)
    if factor >= 2:
        source = reduce(image, factor)
        f = float(factor)
        to_source = np.array([[1 / f, 0, 0.5 / f - 0.5], [0, 1 / f, 0.5 / f - 0.5], [0, 0, 1.0]])
    matrix = to_source @ alignment.mm_to_px @ out_to_mm
    size = (int(np.ceil(width_mm / k - 1e-6)), int(np.ceil(height_mm / k - 1e-6)))  # as pdfium sizes pages
    return cv2.warpPerspective(source, matrix, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=border)
