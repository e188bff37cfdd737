"""The benchmark's kinds write the files they say, and record where every page went."""

from __future__ import annotations

from pathlib import Path

import pikepdf
import pytest

from formgen.definition import load_definition
from formgen.render import BuiltForm, build_form
from phieu.provingground.kinds import KINDS, generate
from phieu.provingground.sample import SAMPLE_YAML
from phieu.provingground.truth import MIX_PRESETS
from scanner.ingest import page_count

SECRET = bytes(range(32))


@pytest.fixture(scope="module")
def built() -> BuiltForm:
    return build_form(load_definition(SAMPLE_YAML, source_name="sample"))


def test_every_kind_is_a_known_mix_and_profile() -> None:
    from phieu.provingground.degrade import ALL_PROFILES

    for kind in KINDS.values():
        assert kind.mix in MIX_PRESETS and kind.profile in ALL_PROFILES and kind.formats, kind
    issue8 = {"loops", "askew-clipped", "qr-clipped", "phone-table", "stray-dots", "real-marks", "bw-scanner"}
    assert issue8 | {"office", "fax", "phone"} == set(KINDS)


def test_a_kind_records_every_page_it_writes(built: BuiltForm, tmp_path: Path) -> None:
    truths, records = generate(built, [3, 4, 5], SECRET, tmp_path, kind=KINDS["bw-scanner"], split="tune", workers=2)
    assert [t.serial for t in truths] == [3, 4, 5]
    assert sorted((r.serial, r.page) for r in records) == [(3, 1), (4, 1), (5, 1)]
    files = {Path(r.path) for r in records}
    assert {f.suffix for f in files} == {".pdf", ".tif"}  # the two workers: a PDF and a TIFF, both 1-bit G4
    for f in files:
        assert f.exists() and page_count(f) == sum(1 for r in records if Path(r.path) == f)
    pdf = next(f for f in files if f.suffix == ".pdf")
    with pikepdf.open(pdf) as doc:
        (image,) = doc.pages[0].get_images().values()
        assert image.Filter == "/CCITTFaxDecode" and image.BitsPerComponent == 1
    loops = KINDS["loops"]
    tune, _ = generate(built, [3], SECRET, tmp_path / "a", kind=loops, split="tune", workers=1)
    again, _ = generate(built, [3], SECRET, tmp_path / "b", kind=loops, split="tune", workers=1)
    final, _ = generate(built, [3], SECRET, tmp_path / "c", kind=loops, split="final", workers=1)
    assert tune == again != final  # the same split draws the same sheets; the other split others


def test_real_marks_need_a_bank(built: BuiltForm, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="real marks"):
        generate(built, [1], SECRET, tmp_path, kind=KINDS["real-marks"], split="tune", workers=1)
