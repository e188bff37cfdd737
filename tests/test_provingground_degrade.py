"""Degradation profiles keep a real stamped page identifiable, and say where every point went."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from formgen.definition import load_definition
from formgen.identity import parse_payload, verify
from formgen.render import BuiltForm, build_form
from phieu.provingground import PROFILES, degrade, fill_page, random_truth, render_pdf_page
from phieu.provingground.bundle import stamp
from phieu.provingground.sample import SAMPLE_YAML

DPI = 300.0
SECRET = bytes(range(32))


@pytest.fixture(scope="module")
def built() -> BuiltForm:
    return build_form(load_definition(SAMPLE_YAML, source_name="sample"))


@pytest.fixture(scope="module")
def filled(built: BuiltForm) -> np.ndarray:
    page = render_pdf_page(stamp(built, [42], SECRET), 0, dpi=DPI)
    truth = random_truth(built.layout, np.random.default_rng(0), serial=42, mix="mixed")
    return fill_page(page, built.layout.page(1), truth, dpi=DPI, rng=np.random.default_rng(0))


def mark_centres_px(built: BuiltForm) -> np.ndarray:
    """Registration mark centres as (x, y) pixels of the 300 dpi page."""
    return np.array([(m.cx, m.cy) for m in built.layout.page(1).marks]) * DPI / 25.4


def apply(t: np.ndarray, points: np.ndarray) -> np.ndarray:
    homogeneous = np.c_[points, np.ones(len(points))] @ t.T
    return homogeneous[:, :2] / homogeneous[:, 2:]


@pytest.mark.parametrize("profile", PROFILES)
def test_profile_keeps_the_page_identifiable(built: BuiltForm, filled: np.ndarray, profile: str) -> None:
    for seed in range(3):
        out = degrade(filled, profile, np.random.default_rng(seed), dpi=DPI, turns=seed == 2)
        assert out.image.dtype == np.uint8 and out.image.ndim == 2
        codes = zxingcpp.read_barcodes(out.image)
        assert codes, f"{profile} seed {seed}: QR unreadable"
        parsed = parse_payload(codes[0].text)
        assert parsed is not None and parsed.identity.serial == 42 and verify(parsed, SECRET)


@pytest.mark.parametrize("profile", PROFILES)
def test_transform_says_where_the_marks_went(built: BuiltForm, filled: np.ndarray, profile: str) -> None:
    for seed in range(4):
        out = degrade(filled, profile, np.random.default_rng(seed), dpi=DPI, turns=True)
        h, w = out.image.shape
        for x, y in apply(out.transform, mark_centres_px(built)):
            assert 0 <= x < w and 0 <= y < h, (profile, seed, x, y)
            patch = out.image[int(y) - 2 : int(y) + 3, int(x) - 2 : int(x) + 3]
            assert patch.mean() < 110, f"{profile} seed {seed}: no mark at ({x:.0f}, {y:.0f})"
        # the page's size in the result matches the resolution reported (perimeter through the marks)
        before, after = mark_centres_px(built), apply(out.transform, mark_centres_px(built))
        ring = [0, 1, 3, 2, 0]  # top_left, top_right, bottom_right, bottom_left
        perimeter = [np.linalg.norm(np.diff(p[ring], axis=0), axis=1).sum() for p in (before, after)]
        assert perimeter[1] / perimeter[0] == pytest.approx(out.dpi / DPI, rel=0.04)


def test_profiles_have_their_character(filled: np.ndarray) -> None:
    rng = np.random.default_rng(7)
    fax = degrade(filled, "fax", rng, dpi=DPI)
    assert fax.dpi == 200 and set(np.unique(fax.image)) == {0, 255}
    assert fax.jpeg_quality is None
    offices = [degrade(filled, "office", rng, dpi=DPI) for _ in range(8)]
    assert {o.dpi for o in offices} <= {200.0, 300.0}
    for o in offices:
        assert 75 <= (o.jpeg_quality or 0) <= 90
        assert 200 < np.median(o.image) < 255  # paper stays light, not pure white
    phone = degrade(filled, "phone", rng, dpi=DPI)
    assert 150 <= phone.dpi <= 200
    border = np.r_[phone.image[:10].ravel(), phone.image[-10:].ravel()]
    assert border.mean() < 170  # the table around the page shows


def test_turns_only_when_asked_and_same_seed_same_result(filled: np.ndarray) -> None:
    assert all(degrade(filled, "fax", np.random.default_rng(s), dpi=DPI).turn == 0 for s in range(12))
    turned = {degrade(filled, "fax", np.random.default_rng(s), dpi=DPI, turns=True).turn for s in range(24)}
    assert 0 in turned and turned - {0}
    a = degrade(filled, "office", np.random.default_rng(3), dpi=DPI)
    b = degrade(filled, "office", np.random.default_rng(3), dpi=DPI)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.transform, b.transform)
    with pytest.raises(ValueError, match="unknown degradation profile"):
        degrade(filled, "xerox", np.random.default_rng(0))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), profile=st.sampled_from(PROFILES), turns=st.booleans())
def test_transform_maps_every_dot_onto_its_image(seed: int, profile: str, turns: bool) -> None:
    """Round trip on a small card of dots: wherever the transform sends a dot, the result is dark there."""
    card = np.full((600, 450), 255, np.uint8)
    dots = np.array([(60, 60), (390, 70), (80, 520), (380, 540), (225, 300)], float)  # (x, y)
    for x, y in dots:
        cv2.circle(card, (int(x), int(y)), 9, 0, -1)
    out = degrade(card, profile, np.random.default_rng(seed), dpi=DPI, turns=turns)
    for x, y in apply(out.transform, dots):
        row, col = int(round(y)), int(round(x))
        assert 0 <= row < out.image.shape[0] and 0 <= col < out.image.shape[1]
        assert out.image[row - 1 : row + 2, col - 1 : col + 2].mean() < 100, (profile, seed, x, y)
