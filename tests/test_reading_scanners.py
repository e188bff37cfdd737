"""Pages as feeders and phones deliver them: fed askew with corners beyond the scan area, a code that
lost its quiet zone at the paper's edge, a whole sheet photographed on a table. Each was a page
left unread before registration on print (issue #8): "not aligned: rescan", or unidentified."""

from __future__ import annotations

import numpy as np
import pytest
from reading_helpers import answers, circle_option, feeder, identify, on_table, page, read, tick
from scanner_helpers import SERIAL, box_error_mm, layout

from formgen.identity import SheetIdentity


def _truth_after_feed(angle: float, shift_mm: tuple[float, float], turn: int = 0) -> np.ndarray:
    """Layout mm -> scan px of ``feeder`` with these settings (for checking where boxes landed)."""
    import cv2
    from scanner_helpers import mm_to_clean_px

    h, w = page(1).shape
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle + turn, 1.0)
    m[:, 2] += np.array(shift_mm) * 300 / 25.4
    return np.vstack([m, [0, 0, 1.0]]) @ mm_to_clean_px(300)


def _marked_page(number: int) -> tuple[np.ndarray, dict[tuple[str, str], str]]:
    image, expected = page(number), {}
    for box_id in ("B9:tc1:4", "B9:tc3:5", "B9:cc2:2") if number == 4 else ("B9:gt1:4", "B9:gt3:5", "B8:gop-y:1"):
        question, item, value = box_id.split(":")
        tick(image, box_id)
        expected[question, item] = value
    return image, expected


@pytest.mark.parametrize("angle, shift_mm, marks_lost", [
    (3.5, (6.0, 4.0), "two"),  # the top-left and bottom-left corners fed out of the scan area
    (-3.8, (-7.0, -8.0), "three"),
    (4.0, (0.0, 0.0), "four"),  # a sheet fed 4 degrees askew: every corner beyond an A4 scan area
])
def test_a_sheet_fed_askew_with_corners_cut_off_is_identified_and_read(angle, shift_mm, marks_lost):
    image, expected = _marked_page(4)
    scan = feeder(image, angle=angle, shift_mm=shift_mm)
    scanned, reading = read(scan)
    assert scanned.identification.identity == SheetIdentity(layout().survey, layout().edition, SERIAL, 4)
    assert scanned.alignment is not None and scanned.alignment.method in ("code+print", "marks+print", "print")
    assert box_error_mm(scanned.alignment, _truth_after_feed(angle, shift_mm), layout(), 4, 300) < 0.4
    got = answers(reading)
    for key, value in expected.items():
        assert (got[key].value, got[key].needs_review) == (value, False), key
    assert not any(a.reason == "misaligned" for a in reading.answers)


@pytest.mark.parametrize("turn", [0, 180])
def test_a_code_cut_at_the_papers_edge_still_identifies_the_page(turn):
    image, expected = _marked_page(3)
    # the top 9 mm fed out of the scan area: the code's quiet zone and both top marks are gone
    scan = feeder(image, angle=0.6, shift_mm=(2.0, -9.0 if turn == 0 else 9.0), turn=turn)
    scanned, reading = read(scan)
    assert scanned.identification.identity == SheetIdentity(layout().survey, layout().edition, SERIAL, 3)
    got = answers(reading)
    assert {k: got[k].value for k in expected} == expected


def test_answers_beyond_the_scanned_image_go_to_a_person_never_read_blank():
    image, _ = _marked_page(4)
    # fed 3.5 degrees askew and 16 mm to the right: the grid's last column (codes at ~195 mm) leaves
    # the scan area
    scan = feeder(image, angle=3.5, shift_mm=(16.0, 0.0))
    scanned, reading = read(scan)
    assert scanned.visible is not None and not scanned.visible.all()
    got = answers(reading)
    cut = [a for a in reading.answers if a.reason == "outside_scan"]
    assert cut, "some answers lie beyond the image"
    assert all(a.needs_review and a.value is None for a in cut)
    assert got["B9", "tc1"].value == "4"  # what the scan shows is read as usual


def test_the_printed_digits_identify_a_page_whose_code_is_gone_at_any_turn():
    image, _ = _marked_page(3)
    qr = layout().page(3).qr
    image[int((qr.y - 2) * 300 / 25.4):int((qr.y + qr.h + 2) * 300 / 25.4),
          int((qr.x - 2) * 300 / 25.4):int((qr.x + qr.w + 2) * 300 / 25.4)] = 255  # torn off
    scan = feeder(image, angle=-3.0, shift_mm=(5.0, 9.0), turn=180)  # and the bottom marks cut off
    scanned = identify(scan)
    assert scanned.identification.identity == SheetIdentity(layout().survey, layout().edition, SERIAL, 3)
    assert scanned.identification.decoder == "ocr"
    assert "dãy số" in scanned.identification.detail  # says how, in words


@pytest.mark.parametrize("turn, long_side", [(0, 4000), (90, 4000), (180, 4000), (0, 1600)])
def test_a_photo_of_the_whole_sheet_on_a_table_is_read(turn, long_side):
    """At 1,600 px (a photo sent by a messenger app) the sheet is about 125 dpi: still read."""
    image, expected = _marked_page(4)
    circle_option(image, "B9:kq2:3")
    expected["B9", "kq2"] = "3"
    scanned, reading = read(on_table(image, np.random.default_rng(turn), turn=turn, long_side=long_side))
    assert scanned.identification.identity == SheetIdentity(layout().survey, layout().edition, SERIAL, 4)
    got = answers(reading)
    assert {k: (got[k].value, got[k].needs_review) for k in expected} == {k: (v, False) for k, v in expected.items()}
    assert sum(a.needs_review for a in reading.answers) == 0


def test_a_messenger_photo_is_not_refused_as_too_coarse(tmp_path):
    """A photo says nothing of its resolution; estimated from a 1,600 px picture it is ~137 dpi, below
    what a scan must have, and still read (the sheet is straightened to the canonical resolution)."""
    from PIL import Image

    from core.settings import ScanSettings
    from scanner.ingest import ScanReader

    image, _ = _marked_page(4)
    photo = on_table(image, np.random.default_rng(3), long_side=1600)
    path = tmp_path / "zalo.jpg"
    Image.fromarray(photo.image).save(path, quality=85, dpi=(72, 72))
    page = ScanReader(ScanSettings()).read_page(path, 0)
    assert not hasattr(page, "reason"), page
    assert page.dpi < ScanSettings().min_dpi and not page.dpi_stated
