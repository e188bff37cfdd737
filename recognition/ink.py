"""Ink maps of aligned pages: how dark each pixel is against its own paper, and what the blank prints.

Images are numpy arrays indexed (row, col), uint8 greyscale, 0 = black. Rectangles from the layout are
millimetres (x, y, w, h) from the page's top-left corner, x = column; ``mm_box_to_px`` turns them into
pixel slices at a given dpi.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from core.settings import RecognitionSettings

MM_PER_INCH = 25.4
BLANK_INK_DARKNESS = 0.1  # the blank is a clean render: even anti-aliased frame edges count as printed


def px_per_mm(dpi: float) -> float:
    return dpi / MM_PER_INCH


def mm_box_to_px(x: float, y: float, w: float, h: float, *, dpi: float) -> tuple[int, int, int, int]:
    """(x, y, w, h) in mm → (row0, row1, col0, col1) pixel bounds (half-open) at ``dpi``."""
    s = px_per_mm(dpi)
    return round(y * s), round((y + h) * s), round(x * s), round((x + w) * s)


def darkness_map(image: np.ndarray, *, dpi: float, settings: RecognitionSettings) -> np.ndarray:
    """Darkness of each pixel relative to the local paper: uint8 (rows, cols), 0 paper .. 255 black.

    The paper level is a grey-level closing (max filter) over ``settings.background_mm``, wider than any
    filled box, so uneven light and shadows of phone photos divide out while marks stay dark. A 1-bit fax
    page passes through unchanged (paper 255, ink 0 → darkness 255). uint8 keeps a page pass at ~1 ms.
    """
    small_factor = 4  # the paper level varies slowly: estimate it on a quarter-size copy (16x fewer pixels)
    rows, cols = image.shape
    r4, c4 = max(1, rows // small_factor), max(1, cols // small_factor)
    # cut to whole 4x4 blocks first: OpenCV's area reduction by an exact integer factor is 4x faster
    whole = image[: r4 * small_factor, : c4 * small_factor] if min(rows, cols) >= small_factor else image
    small = cv2.resize(whole, (c4, r4), interpolation=cv2.INTER_AREA)
    k = max(3, int(round(settings.background_mm * px_per_mm(dpi) / small_factor)) | 1)
    paper = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    paper = cv2.blur(paper, (k, k))
    paper = np.maximum(cv2.resize(paper, (cols, rows), interpolation=cv2.INTER_LINEAR), 1)
    relative = cv2.divide(image, paper, scale=255.0)  # paper → 255, saturating
    return np.asarray(255 - relative, dtype=np.uint8)


def blank_ink_mask(blank: np.ndarray, *, dpi: float, settings: RecognitionSettings) -> np.ndarray:
    """Bool (rows, cols): where the blank master prints anything, grown by ``blank_dilate_mm``."""
    printed = (blank < 255 * (1.0 - BLANK_INK_DARKNESS)).astype(np.uint8)
    return grow_mask(printed, settings.blank_dilate_mm * px_per_mm(dpi))


def grow_mask(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """Bool mask dilated by a disc of ``radius_px`` (rounded; 0 leaves it as is)."""
    grow = max(0, int(round(radius_px)))
    if not grow:
        return mask.astype(bool)
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    return np.asarray(cv2.dilate(mask.astype(np.uint8), disc), dtype=bool)


def remove_specks(ink: np.ndarray, *, dpi: float, settings: RecognitionSettings) -> np.ndarray:
    """Bool ink mask without the connected blobs smaller than ``speck_mm2`` (dust, fax speckle).

    Meant for small windows (a box with its ring, a write-in region): labelling a whole page costs more
    than everything else recognition does.
    """
    min_px = settings.speck_mm2 * px_per_mm(dpi) ** 2
    if min_px < 1.5:
        return ink
    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink.astype(np.uint8), connectivity=8)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_px
    keep[0] = False  # label 0 is the background
    return keep[labels] if count > 1 else ink


def ink_threshold(
    darkness: np.ndarray,
    printed: np.ndarray,
    windows: Sequence[tuple[int, int, int, int]],
    *,
    settings: RecognitionSettings,
    levels: Sequence[float] | None = None,
) -> tuple[float, float]:
    """Per-sheet pixel-ink threshold and the sheet's ink level (both darkness, 0..1).

    ``darkness`` is uint8 (see darkness_map); ``windows`` are (row0, row1, col0, col1) where respondents
    write (box interiors). In each, the 95th
    percentile darkness of the unprinted pixels says how dark its ink is (a few noisy pixels cannot move
    it); the sheet's ink level is the median over the windows that hold ink at all. The threshold is half
    of the level, between ``ink_darkness_floor`` (light pencil) and ``ink_darkness`` (pen). A sheet with
    no inked window keeps the pen threshold. ``levels``: window_levels of the same, when already known.
    """
    if levels is None:
        levels = window_levels(darkness, printed, windows)
    inked = [v for v in levels if v > 2 * settings.ink_darkness_floor]
    if not inked:
        return settings.ink_darkness, 1.0
    level = float(np.median(inked))
    return min(settings.ink_darkness, max(settings.ink_darkness_floor, level / 2)), level


def window_levels(
    darkness: np.ndarray, printed: np.ndarray, windows: Sequence[tuple[int, int, int, int]]
) -> list[float]:
    """Per window (row0, row1, col0, col1): the 95th percentile darkness (0..1) of its unprinted pixels
    (``darkness`` uint8 as darkness_map, ``printed`` bool); windows with none are left out."""
    levels = []
    for r0, r1, c0, c1 in windows:
        values = darkness[r0:r1, c0:c1][~printed[r0:r1, c0:c1]]
        if values.size:
            levels.append(percentile95(values) / 255.0)
    return levels


def faint_threshold(levels: Sequence[float], *, threshold: float, settings: RecognitionSettings) -> float:
    """Pixel darkness (0..1) from which a box is searched for faint ink on this sheet.

    A light pencil tick on a pen sheet can stay under the sheet's ink threshold everywhere; such a
    box must not pass as confidently empty. The paper's own noise is the median of the ``levels``
    (see window_levels) of the windows without ink; faint ink is ``faint_noise_factor`` times that,
    never below ``ink_darkness_floor`` nor above ``threshold`` (the sheet's ink threshold).
    """
    quiet = [v for v in levels if v <= 2 * settings.ink_darkness_floor]
    noise = float(np.median(quiet)) if quiet else 0.0
    return min(threshold, max(settings.ink_darkness_floor, settings.faint_noise_factor * noise))


def percentile95(values: np.ndarray) -> float:
    """95th percentile (nearest rank) of a non-empty 1-D array; np.partition, 5x faster than np.percentile."""
    k = min(values.size - 1, int(0.95 * values.size))
    return float(np.partition(values, k)[k])
