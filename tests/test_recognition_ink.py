"""Ink maps: paper divides out under uneven light, fax pages pass through, pencil lowers the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from core.settings import RecognitionSettings
from recognition.ink import darkness_map, ink_threshold, mm_box_to_px, px_per_mm

SETTINGS = RecognitionSettings()
DPI = 150.0


def _page_with_marks(
    paper: np.ndarray, ink_grey: float
) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """``paper`` (float grey levels) with 2 mm squares of ink every 20 mm: ink darkens the paper
    multiplicatively (ink_grey/255 of the light passes), as on real paper."""
    image = paper.copy()
    boxes = []
    for y in range(10, 280, 20):
        for x in range(10, 200, 20):
            r0, r1, c0, c1 = mm_box_to_px(x, y, 2, 2, dpi=DPI)
            image[r0:r1, c0:c1] *= ink_grey / 255
            boxes.append((r0, r1, c0, c1))
    return np.clip(image, 0, 255).astype(np.uint8), boxes


def test_uneven_light_divides_out() -> None:
    rows, cols = round(297 * px_per_mm(DPI)), round(210 * px_per_mm(DPI))
    light = (
        np.linspace(110, 250, cols)[None, :] * np.linspace(0.8, 1.0, rows)[:, None]
    )  # a shadow and a slope
    image, boxes = _page_with_marks(light, ink_grey=60)
    dark = darkness_map(image, dpi=DPI, settings=SETTINGS)
    ink = np.zeros(dark.shape, bool)
    for r0, r1, c0, c1 in boxes:
        ink[r0 + 1 : r1 - 1, c0 + 1 : c1 - 1] = True
    assert dark[ink].min() > 0.6 * 255  # the darkest (60/255 of the light) reads dark in shadow and in light
    far = np.ones(dark.shape, bool)
    for r0, r1, c0, c1 in boxes:
        far[max(0, r0 - 6) : r1 + 6, max(0, c0 - 6) : c1 + 6] = False
    assert np.percentile(dark[far], 99) < 0.1 * 255  # the paper is paper everywhere


def test_one_bit_fax_page_passes_through() -> None:
    image = np.full((400, 300), 255, np.uint8)
    image[100:110, 50:250] = 0
    image[200:260, 100:160] = 0  # a solid fill wider than a box
    dark = darkness_map(image, dpi=DPI, settings=SETTINGS)
    assert (dark[image == 0] == 255).all() and (dark[image == 255] == 0).all()


@pytest.mark.parametrize(("ink_grey", "expected"), [(40, SETTINGS.ink_darkness), (165, 0.175), (None, None)])
def test_pencil_sheet_lowers_the_pixel_threshold(ink_grey: int | None, expected: float | None) -> None:
    rows, cols = round(297 * px_per_mm(DPI)), round(210 * px_per_mm(DPI))
    paper = np.full((rows, cols), 245.0)
    image, boxes = _page_with_marks(paper, ink_grey=ink_grey or 255)
    dark = darkness_map(image, dpi=DPI, settings=SETTINGS)
    windows = [(r0 - 3, r1 + 3, c0 - 3, c1 + 3) for r0, r1, c0, c1 in boxes]
    threshold, level = ink_threshold(dark, np.zeros(dark.shape, bool), windows, settings=SETTINGS)
    if expected is None:  # no ink anywhere: the pen threshold, and no claim about the ink
        assert (threshold, level) == (SETTINGS.ink_darkness, 1.0)
    else:
        assert threshold == pytest.approx(expected, abs=0.02)
        assert level == pytest.approx(1 - (ink_grey or 0) / 255, abs=0.03)
