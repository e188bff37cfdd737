"""Cutting real pen marks out of filled answer sheets, and pasting them onto ours.

The corpus (../shared) is never read here: the tests draw an answer sheet of another OMR system
(small square boxes with digits printed beside them, a printed code strip of touching cells) at
200 dpi, fill some boxes by hand-like strokes, and check what the cutter keeps.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from formgen.layout import Rect
from phieu.provingground.kinds import KINDS, SPLIT_SEEDS, kind_seed
from phieu.provingground.realmarks import HAND_FILLED, MarkBank, cut_marks, paste_mark, split_of

DPI = 200.0
SIDE = 28  # px: a 3.6 mm box at 200 dpi


def other_sheet() -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    """A page of another OMR form with marks: (image, [(box centre x, y, what was drawn)])."""
    page = np.full((2339, 1654), 250, np.uint8)
    marked: list[tuple[int, int, str]] = []
    rng = np.random.default_rng(7)
    for col in range(8):  # a code strip of touching cells, some filled: print, never marks
        x = 600 + col * SIDE
        cv2.rectangle(page, (x, 100), (x + SIDE, 100 + SIDE), 0, 2)
        if col % 3 == 0:
            cv2.rectangle(page, (x, 100), (x + SIDE, 100 + SIDE), 0, -1)
    for row in range(10):
        for col in range(8):
            x, y = 300 + col * 70, 400 + row * 55
            cv2.rectangle(page, (x, y), (x + SIDE, y + SIDE), 0, 2)
            cv2.putText(page, str(row), (x + SIDE + 6, y + SIDE - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 0, 2)
            cx, cy = x + SIDE // 2, y + SIDE // 2
            if (row + col) % 9 == 0:  # a cross running past the frame, never twice the same
                j = rng.integers(-4, 5, 8)
                over = int(rng.integers(3, 9))
                width = int(rng.integers(2, 5))
                cv2.line(page, (x - over + 4 + j[0], y - over + 6 + j[1]),
                         (x + SIDE + over - 6 + j[2], y + SIDE + over - 2 + j[3]), 20, width)
                cv2.line(page, (x + SIDE + 2 + j[4], y + 3 + j[5]), (x + 3 + j[6], y + SIDE + over + j[7]), 20, width)
                marked.append((cx, cy, "cross"))
            elif (row * 3 + col) % 17 == 0:  # filled in, with a ragged edge
                pts = np.array([[x - 2, y + 1], [x + SIDE + 3, y - 2], [x + SIDE + 1, y + SIDE + 3], [x - 3, y + SIDE]])
                cv2.fillPoly(page, [pts], 15)
                marked.append((cx, cy, "fill"))
    return page, marked


@pytest.fixture(scope="module")
def sheet() -> tuple[np.ndarray, list[tuple[int, int, str]]]:
    return other_sheet()


def test_cutter_finds_every_hand_mark_and_no_print(sheet: tuple[np.ndarray, list[tuple[int, int, str]]]) -> None:
    page, marked = sheet
    marks = cut_marks(page, dpi=DPI, source="synthetic/page.png#0")
    assert len(marks) == len(marked)  # the filled code-strip cells are print: left out
    assert sorted(m.solid for m in marks) == sorted(what == "fill" for *_, what in marked)
    for m in marks:
        assert abs(m.side - (SIDE + 1)) <= 2 and m.alpha.dtype == np.uint8
        assert m.source == "synthetic/page.png#0"


def test_cut_marks_keep_their_strokes_and_lose_the_frame(sheet: tuple[np.ndarray, list[tuple[int, int, str]]]) -> None:
    page, _marked = sheet
    for m in cut_marks(page, dpi=DPI, source="s#0"):
        if m.solid:
            continue
        cx, cy, half = int(m.centre[0]), int(m.centre[1]), int(m.side / 2)
        frame = np.zeros_like(m.alpha, bool)
        cv2.rectangle(frame.view(np.uint8), (cx - half, cy - half), (cx + half, cy + half), 1, 1)
        strokes = cv2.dilate((m.alpha > 64).astype(np.uint8), np.ones((7, 7), np.uint8), iterations=2) > 0
        # the frame's pixels far from any stroke are gone (the frame was taken out, not cut with the mark)
        lonely = frame & ~cv2.dilate(((m.alpha > 64) & ~frame).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        assert m.alpha[lonely].mean() < 40
        # and the cross still runs through where the frame was: ink beyond the frame, joined to ink inside
        count, labels = cv2.connectedComponents((m.alpha > 64).astype(np.uint8))
        inside = set(np.unique(labels[cy - 3 : cy + 4, cx - 3 : cx + 4])) - {0}
        outside = labels[np.abs(np.mgrid[: m.alpha.shape[0], : m.alpha.shape[1]] - cy).max(axis=0) > half + 3]
        assert inside & set(np.unique(outside)), "the stroke should cross the frame in one piece"
        assert strokes.any()


def test_paste_scales_a_real_mark_onto_our_box(sheet: tuple[np.ndarray, list[tuple[int, int, str]]]) -> None:
    page, _ = sheet
    bank = MarkBank(cut_marks(page, dpi=DPI, source="s#0"))
    ours = np.full((600, 600), 245, np.uint8)
    box = Rect(x=20.0, y=20.0, w=5.5, h=5.5)
    s = 300 / 25.4
    paste_mark(ours, box, bank.pick(np.random.default_rng(1), solid=False), dpi=300, rng=np.random.default_rng(2))
    ink = ours < 150
    ys, xs = np.nonzero(ink)
    assert ink.sum() > 200
    assert abs(xs.mean() / s - 22.75) < 1.5 and abs(ys.mean() / s - 22.75) < 1.5  # centred on our box
    assert xs.min() / s < 20.5 and xs.max() / s > 25.0  # scaled to our 5.5 mm box (and its overshoot)
    with pytest.raises(ValueError, match="empty"):
        MarkBank().pick(np.random.default_rng(0), solid=True)


def test_tune_and_final_are_disjoint_halves() -> None:
    halves = {split_of(f"{folder}/scans/x.tif#0") for folder in HAND_FILLED}
    assert halves == {"tune", "final"}
    assert all(split_of(f"{f}/a#0") == split_of(f"{f}/b/c.pdf#3") for f in HAND_FILLED)  # by folder, whole
    tune = {kind_seed(k, "tune") + w for k in KINDS for w in range(100)}
    final = {kind_seed(k, "final") + w for k in KINDS for w in range(100)}
    assert not tune & final and min(final) >= SPLIT_SEEDS["final"] > max(tune)
    with pytest.raises(ValueError, match="unknown kind"):
        kind_seed("crumpled", "tune")
