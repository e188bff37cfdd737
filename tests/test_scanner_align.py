"""Registration marks and alignment on real formgen sheets, moved the way scanners and phones move them."""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scanner_helpers import REPO, box_error_mm, clean_page, erase_rect_mm, layout, mm_to_clean_px, move

from core.settings import ScanSettings
from formgen.definition import load_definition
from formgen.render import build_form
from phieu.provingground.degrade import degrade
from scanner.align import find_alignment, fit_marks, mm_to_px, px_to_mm, warp_to_layout
from scanner.marks import MarkCandidate, find_candidates
from scanner.render import render_pdf_page

SETTINGS = ScanSettings()
TOLERANCE_MM = 1.0


def _marks(page: int = 1):
    return layout().page(page).marks


@pytest.mark.parametrize(
    "quarter, angle, scale, shift, perspective",
    [
        (0, 0.0, 1.0, (0, 0), 0.0),
        (0, 10.0, 1.0, (5, -8), 0.0),
        (0, -10.0, 1.03, (-6, 4), 0.0),
        (1, 4.0, 0.97, (0, 0), 0.0),
        (2, -7.0, 1.0, (3, 3), 0.0),
        (3, 9.5, 1.02, (-4, 0), 0.0),
        (0, 3.0, 1.0, (0, 0), 0.12),  # keystone, as from a phone held at an angle
        (2, -2.0, 0.98, (0, 0), -0.1),
    ],
)
def test_alignment_maps_every_box_within_a_millimetre(quarter, angle, scale, shift, perspective):
    moved = move(clean_page(2), dpi=300, angle=angle, scale=scale, shift_mm=shift, quarter=quarter,
                 perspective=perspective)
    alignment = find_alignment(moved.image, marks=_marks(2), dpi=300, settings=SETTINGS)
    assert alignment is not None
    assert alignment.marks_found == 4
    assert alignment.rotation == quarter * 90
    assert box_error_mm(alignment, moved.truth, layout(), 2, 300) < TOLERANCE_MM


@pytest.mark.parametrize("dpi", [150.0, 200.0, 600.0])
def test_alignment_at_other_resolutions(dpi):
    moved = move(clean_page(1, dpi=dpi), dpi=dpi, angle=-6.0, quarter=1)
    alignment = find_alignment(moved.image, marks=_marks(), dpi=dpi, settings=SETTINGS)
    assert alignment is not None and alignment.rotation == 90
    assert box_error_mm(alignment, moved.truth, layout(), 1, dpi) < TOLERANCE_MM


def test_alignment_survives_a_wrongly_estimated_dpi():
    # A phone photo's "dpi" is a guess from the image size; the mark geometry is scale-free.
    moved = move(clean_page(1), dpi=300, angle=2.0, scale=0.8)
    alignment = find_alignment(moved.image, marks=_marks(), dpi=300, settings=SETTINGS)
    assert alignment is not None
    assert box_error_mm(alignment, moved.truth, layout(), 1, 300) < TOLERANCE_MM


@pytest.mark.parametrize("profile", ["office", "fax", "phone"])
def test_alignment_on_degraded_pages(profile):
    rng = np.random.default_rng(7)
    page = clean_page(3)
    out = degrade(page, profile, rng)
    truth = out.transform @ mm_to_clean_px(300)
    alignment = find_alignment(out.image, marks=_marks(3), dpi=out.dpi, settings=SETTINGS)
    assert alignment is not None
    assert box_error_mm(alignment, truth, layout(), 3, out.dpi) < TOLERANCE_MM


def test_three_marks_give_an_affine_fit():
    moved = move(clean_page(1), dpi=300, angle=5.0, quarter=2)
    lost = [m for m in _marks() if m.name == "top_left"][0]
    half = lost.size
    erase_rect_mm(moved.image, moved.truth, (lost.cx - half, lost.cy - half, 2 * half, 2 * half))
    alignment = find_alignment(moved.image, marks=_marks(), dpi=300, settings=SETTINGS)
    assert alignment is not None
    assert alignment.marks_found == 3
    assert alignment.rotation == 180
    assert box_error_mm(alignment, moved.truth, layout(), 1, 300) < TOLERANCE_MM


def test_forced_rotation_overrides_the_circle():
    moved = move(clean_page(1), dpi=300, quarter=0)
    turned = find_alignment(moved.image, marks=_marks(), dpi=300, settings=SETTINGS, rotation=180)
    assert turned is not None and turned.rotation == 180


def test_no_marks_on_a_page_without_them():
    blank = np.full((3508, 2480), 255, np.uint8)
    cv2.putText(blank, "Khong phai phieu khao sat", (200, 1500), cv2.FONT_HERSHEY_SIMPLEX, 4, 0, 8)
    assert find_alignment(blank, marks=_marks(), dpi=300, settings=SETTINGS) is None


def test_warp_gives_the_upright_page_at_the_canonical_dpi():
    moved = move(clean_page(2), dpi=300, angle=-8.0, quarter=3, scale=1.02)
    alignment = find_alignment(moved.image, marks=_marks(2), dpi=300, settings=SETTINGS)
    assert alignment is not None
    lay = layout().page(2)
    canonical = warp_to_layout(moved.image, alignment, width_mm=lay.width, height_mm=lay.height, dpi=150)
    reference = clean_page(2, dpi=150)
    assert canonical.shape == reference.shape
    # The ink of the two pages coincides: correlation of the (slightly blurred) images is high.
    a = cv2.GaussianBlur(canonical, (0, 0), 1.0).astype(np.float32)
    b = cv2.GaussianBlur(reference, (0, 0), 1.0).astype(np.float32)
    assert float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) > 0.9
    # ... and a page warped with a wrong transform does not (the check can fail).
    shifted = np.roll(canonical, 6, axis=1).astype(np.float32)
    assert float(np.corrcoef(cv2.GaussianBlur(shifted, (0, 0), 1.0).ravel(), b.ravel())[0, 1]) < 0.8


def test_mm_and_px_round_trip():
    moved = move(clean_page(1), dpi=300, angle=3.0, perspective=0.05)
    alignment = find_alignment(moved.image, marks=_marks(), dpi=300, settings=SETTINGS)
    assert alignment is not None
    pts = np.array([[20.0, 30.0], [150.0, 250.0]])
    assert np.allclose(px_to_mm(alignment, mm_to_px(alignment, pts)), pts, atol=1e-6)


def test_a_dropped_scan_line_through_the_marks_does_not_shift_them():
    # A fax loses a whole pixel row now and then; through the top marks it splits them in two.
    moved = move(clean_page(1, dpi=200), dpi=200, angle=0.5)
    fax = np.where(moved.image < 170, 0, 255).astype(np.uint8)
    top_left = next(m for m in _marks() if m.name == "top_left")
    row = cv2.perspectiveTransform(np.array([[[top_left.cx, top_left.cy + 1.0]]]), moved.truth)[0, 0, 1]
    fax[int(row), :] = 255
    alignment = find_alignment(fax, marks=_marks(), dpi=200, settings=SETTINGS)
    assert alignment is not None
    assert box_error_mm(alignment, moved.truth, layout(), 1, 200) < 0.25


@settings(max_examples=60, deadline=None)
@given(
    quarter=st.integers(0, 3),
    angle=st.floats(-10, 10),
    scale=st.floats(2.0, 25.0),  # px per mm: 50 to 635 dpi
    shift=st.tuples(st.floats(-500, 500), st.floats(-500, 500)),
    decoys=st.lists(st.tuples(st.floats(20, 190), st.floats(20, 277)), max_size=6),
)
def test_fit_marks_recovers_the_transform(quarter, angle, scale, shift, decoys):
    """Round trip: marks placed by a known similarity (plus decoy blobs) give that transform back."""
    theta = np.radians(angle + 90 * quarter)
    truth = np.array([[scale * np.cos(theta), -scale * np.sin(theta), 1000 + shift[0]],
                      [scale * np.sin(theta), scale * np.cos(theta), 1000 + shift[1]], [0, 0, 1.0]])
    marks = _marks()

    def blob(x_mm: float, y_mm: float, fill: float) -> MarkCandidate:
        x, y, _ = truth @ np.array([x_mm, y_mm, 1.0])
        return MarkCandidate(float(x), float(y), 6.0 * scale * (0.886 if fill < 0.9 else 1.0), fill, 0.95)

    candidates = [blob(m.cx, m.cy, 0.785 if m.shape == "circle" else 0.98) for m in marks]
    candidates += [blob(x, y, 0.98) for x, y in decoys]
    alignment = fit_marks(candidates, marks=marks, settings=SETTINGS)
    assert alignment is not None
    assert alignment.rotation == quarter * 90
    probe = np.array([[0.0, 0.0], [210.0, 0.0], [105.0, 148.0], [0.0, 297.0], [210.0, 297.0]])
    expected = (truth @ np.hstack([probe, np.ones((5, 1))]).T).T[:, :2]
    assert np.allclose(mm_to_px(alignment, probe), expected, atol=1e-3 * scale)


@cache
def _large_print():
    return build_form(load_definition(REPO / "examples" / "sipas-2024.yaml"), large_print=True)


def test_large_print_glyphs_do_not_crowd_out_a_mark():
    # Large print's bold headings blur into as many mark-sized dark blobs as there are candidate
    # places; the top-left mark was left out and three marks made a 220 mm wrong fit (residual 0.0).
    built = _large_print()
    lay = built.layout.pages[2]
    out = degrade(render_pdf_page(built.blank_pdf, 2, dpi=300), "fax", np.random.default_rng(0))
    alignment = find_alignment(out.image, marks=lay.marks, dpi=out.dpi, settings=SETTINGS)
    assert alignment is not None and alignment.marks_found == 4
    assert box_error_mm(alignment, out.transform @ mm_to_clean_px(300), built.layout, 3, out.dpi) < TOLERANCE_MM


def test_three_marks_find_the_fourth_where_they_put_it():
    # A phone photo's perspective puts an affine fit's far corner millimetres off; the fourth mark,
    # missed by the candidate search, is looked for where the three put it, and the fit is exact again.
    moved = move(clean_page(1), dpi=300, angle=4.0, perspective=0.08)
    alignment = find_alignment(moved.image, marks=_marks(), dpi=300, settings=SETTINGS)
    assert alignment is not None and alignment.marks_found == 4
    corners = mm_to_px(alignment, np.array([[m.cx, m.cy] for m in _marks()]))
    candidates = find_candidates(moved.image, dpi=300, mark_mm=_marks()[0].size, settings=SETTINGS)
    bottom_left = corners[[m.name for m in _marks()].index("bottom_left")]
    kept = [c for c in candidates if np.hypot(c.x - bottom_left[0], c.y - bottom_left[1]) > 50]
    assert len(kept) == len(candidates) - 1
    blind = fit_marks(kept, marks=_marks(), settings=SETTINGS)
    assert blind is not None and blind.marks_found == 3
    assert box_error_mm(blind, moved.truth, layout(), 1, 300) > 2 * TOLERANCE_MM  # why the fourth matters
    checked = fit_marks(kept, marks=_marks(), settings=SETTINGS, image=moved.image)
    assert checked is not None and checked.marks_found == 4
    assert box_error_mm(checked, moved.truth, layout(), 1, 300) < 0.3


def test_three_marks_are_refused_when_print_lies_where_the_fourth_should_be():
    # Three points always fit an affine map exactly: the fit is checked where it puts the fourth mark.
    moved = move(clean_page(1), dpi=300, angle=-3.0)
    lost = next(m for m in _marks() if m.name == "bottom_left")
    erase_rect_mm(moved.image, moved.truth, (lost.cx - lost.size, lost.cy - lost.size, 2 * lost.size, 2 * lost.size))
    blank = find_alignment(moved.image, marks=_marks(), dpi=300, settings=SETTINGS)
    assert blank is not None and blank.marks_found == 3  # plain paper there: a lost mark, fit accepted
    centre = cv2.perspectiveTransform(np.array([[[lost.cx, lost.cy]]]), moved.truth)[0, 0]
    for dx in range(-60, 61, 20):  # a scribble (not a mark) over the place
        cv2.line(moved.image, (int(centre[0]) + dx, int(centre[1]) - 60), (int(centre[0]) - dx, int(centre[1]) + 60), 0, 5)
    assert find_alignment(moved.image, marks=_marks(), dpi=300, settings=SETTINGS) is None


def test_a_half_scale_rectangle_of_glyphs_is_not_taken_for_the_marks():
    # Seen on a large-print phone photo: four bold glyphs at half the marks' spacing, turned 90 degrees,
    # fit the (scale-free) geometry better than the tilted page's real marks; only the marks' shapes
    # (a circle bottom-right, squares elsewhere) tell them apart.
    scale = 6.5  # px per mm
    marks = _marks()
    real = {"top_left": (0, 0), "top_right": (0, 0), "bottom_left": (0, 0), "bottom_right": (9.0, 7.0)}
    candidates = [MarkCandidate(m.cx * scale + real[m.name][0] + 100, m.cy * scale + real[m.name][1] + 100,
                                6 * scale * (0.886 if m.shape == "circle" else 1.0),
                                0.79 if m.shape == "circle" else 0.94, 0.95) for m in marks]
    half = scale / 2
    for m in marks:  # turned a quarter: layout (x, y) -> (y, -x), at half the scale, in mid-page
        candidates.append(MarkCandidate(500 + m.cy * half, 900 - m.cx * half, 6 * half, 0.70, 0.7))
    alignment = fit_marks(candidates, marks=marks, settings=SETTINGS)
    assert alignment is not None and alignment.rotation == 0
    top_left = mm_to_px(alignment, np.array([[10.0, 10.0]]))[0]
    assert np.hypot(*(top_left - (10 * scale + 100, 10 * scale + 100))) < 1.0
