"""The QR decoder chain on codes printed by formgen: order, acceptance, orientation, missing tools.

The rescue variants are measured on real photos by benchmarks/qr_corpus.py (they add 1 of 179).
"""

from __future__ import annotations

import numpy as np
import pytest
from scanner_helpers import SECRET, SERIAL, clean_page, layout

from core.errors import MissingToolError
from formgen.identity import SheetIdentity, encode_payload
from scanner import qr

K = 300 / 25.4


def _qr_crop(page: int = 1, margin_mm: float = 4.0) -> np.ndarray:
    r = layout().page(page).qr
    image = clean_page(page)
    return image[int((r.y - margin_mm) * K):int((r.y + r.h + margin_mm) * K),
                 int((r.x - margin_mm) * K):int((r.x + r.w + margin_mm) * K)].copy()


def _payload(page: int = 1) -> str:
    return encode_payload(SheetIdentity(layout().survey, layout().edition, SERIAL, page), SECRET)


@pytest.mark.parametrize("decoder", qr.DECODERS)
def test_each_decoder_reads_a_printed_code(decoder):
    found = qr.decode(_qr_crop(2), decoders=[decoder], rescue=False)
    assert [d.text for d in found] == [_payload(2)]
    assert found[0].decoder == decoder


def test_chain_stops_at_the_first_decoder_and_reports_orientation():
    crop = np.ascontiguousarray(np.rot90(_qr_crop(), -1))  # turned a quarter clockwise
    (found,) = qr.decode(crop)
    assert found.decoder == "zxing" and found.text == _payload()
    assert found.corners is not None
    dx, dy = found.corners[1] - found.corners[0]  # the code's top edge now points down
    assert abs(dx) < abs(dy) and dy > 0


def test_accept_filters_foreign_codes():
    assert qr.decode(_qr_crop(), accept=lambda text: text.startswith("XYZ")) == []


def test_nothing_to_read_gives_an_empty_list():
    assert qr.decode(np.full((300, 300), 255, np.uint8)) == []


def test_no_decoder_available_says_what_to_install():
    with pytest.raises(MissingToolError, match="QR"):
        qr.decode(np.zeros((10, 10), np.uint8), decoders=["no-such-decoder"])
