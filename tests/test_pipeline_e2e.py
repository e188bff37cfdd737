"""End to end through the real pipeline: printed SIPAS sheets, filled and degraded by the proving
ground, scanned into a real SQLite workspace, compared with their ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pipeline_helpers import Printed, print_sipas, with_jobs
from sqlalchemy import func, select

from phieu.provingground.bundle import make_bundle, make_photocopy, stamp, stamp_forged
from phieu.provingground.score import score_answers
from pipeline.run import scan_paths
from storage.models import Answer, BoxReading, Page, ReviewItem, ScanFile

SHEETS = 9


@pytest.fixture(scope="module")
def printed(tmp_path_factory: pytest.TempPathFactory) -> Printed:
    return print_sipas(tmp_path_factory.mktemp("ws"), SHEETS)


def _counts(printed: Printed) -> dict[str, int]:
    with printed.db.session() as session:
        return {
            name: session.scalar(select(func.count()).select_from(model)) or 0
            for name, model in {"pages": Page, "answers": Answer, "boxes": BoxReading, "items": ReviewItem}.items()
        }


@pytest.mark.parametrize(
    ("profile", "fmt", "serials", "jobs"),
    [("office", "pdf", [1, 2], 1), ("fax", "tiff", [3], 1), ("phone", "jpeg", [4], 2)],
)
def test_ground_truth_recovered(printed: Printed, tmp_path: Path, profile: str, fmt: str, serials: list[int],
                                jobs: int) -> None:
    truths = printed.bundle(serials, tmp_path, profile=profile, seed=len(profile), fmt=fmt)
    summary = printed.scan(tmp_path, jobs=jobs)
    pages = len(serials) * printed.built.layout.page_count
    assert (summary.pages, summary.identified, summary.unidentified, summary.duplicates) == (pages, pages, 0, 0)
    assert summary.exit_code == 0 and not summary.errors
    with printed.db.session() as session:
        score = score_answers(session, printed.survey, truths)
    assert score.missing == 0
    assert score.wrong == 0, score.wrong_examples  # every auto-accepted answer equals the truth
    # every answer the truth says a person must decide went to review (a wrong acceptance would be counted above)
    expected_review = sum(a.expect == "review" for t in truths for a in t.answers.values())
    assert score.review_expected == expected_review
    assert summary.answers_stored >= score.answers - sum(
        a.kind == "writein" for t in truths for a in t.answers.values()
    )


def test_rescan_changes_nothing_and_photocopy_is_a_duplicate(printed: Printed, tmp_path: Path) -> None:
    truths = printed.bundle([5], tmp_path / "a", profile="office", seed=5)
    first = printed.scan(tmp_path / "a")
    assert first.identified == printed.built.layout.page_count
    before = _counts(printed)

    again = printed.scan(tmp_path / "a")
    assert (again.files, again.files_already_done, again.pages) == (1, 1, 0)
    assert _counts(printed) == before

    make_photocopy(stamp(printed.built, [5], printed.secret), printed.built.layout, [5], truths[0],
                   profile="office", rng=np.random.default_rng(55), out_dir=tmp_path / "b")
    copy = printed.scan(tmp_path / "b")
    assert copy.duplicates == printed.built.layout.page_count and copy.identified == 0
    assert copy.exit_code == 10
    with printed.db.session() as session:
        duplicates = session.scalars(select(Page).where(Page.status == "duplicate")).all()
        assert duplicates and all(p.duplicate_of_id is not None and p.reason for p in duplicates)
    assert _counts(printed)["answers"] == before["answers"]  # the copy's answers are not counted twice


def test_forged_sheet_is_unidentified_with_reason(printed: Printed, tmp_path: Path) -> None:
    forged = stamp_forged(printed.built, [6])
    make_bundle(forged, printed.built.layout, [6], profile="office", rng=np.random.default_rng(6), out_dir=tmp_path)
    summary = printed.scan(tmp_path)
    assert summary.unidentified == printed.built.layout.page_count and summary.identified == 0
    assert summary.exit_code == 10
    with printed.db.session() as session:
        pages = session.scalars(select(Page).join(ScanFile).where(ScanFile.original_name.contains(str(tmp_path)))).all()
        assert {p.status for p in pages} == {"unidentified"}
        assert all("forged" in (p.reason or "") or "giả" in (p.reason or "") for p in pages), [p.reason for p in pages]
        items = session.scalars(select(ReviewItem).where(ReviewItem.page_id.in_([p.id for p in pages]))).all()
        assert len(items) == len(pages)  # every unidentified page waits for a person, none dropped
        assert all(p.image_sha256 for p in pages)  # with its image


def test_corrupt_file_is_named_and_the_run_goes_on(printed: Printed, tmp_path: Path) -> None:
    printed.bundle([7], tmp_path, profile="office", seed=7)
    broken = tmp_path / "hỏng.pdf"
    broken.write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\ngarbage" + bytes(range(256)))
    photo = tmp_path / "ảnh-cắt-dở.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0" + bytes(100))  # a photo cut off while copying
    summary = printed.scan(tmp_path, jobs=2)
    assert summary.identified == printed.built.layout.page_count
    assert sorted(e.path for e in summary.errors) == sorted([str(broken), str(photo)])
    assert all(Path(e.path).name in e.message for e in summary.errors)
    assert summary.exit_code == 4
    with printed.db.session() as session:
        failed = session.scalar(select(ScanFile).where(ScanFile.original_name == str(broken)))
        assert failed is not None and failed.status == "failed" and "hỏng.pdf" in (failed.error or "")


def test_interrupted_run_completes_on_rerun(printed: Printed, tmp_path: Path) -> None:
    printed.bundle([8], tmp_path, profile="office", seed=8)
    pages = printed.built.layout.page_count

    def stop_after_two(done: int, total: int) -> None:
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        printed.scan(tmp_path, progress=stop_after_two)
    with printed.db.session() as session:
        stored = session.scalar(select(func.count()).select_from(Page).join(ScanFile)
                                .where(ScanFile.original_name.contains(str(tmp_path))))
    assert stored is not None and 0 < stored < pages

    summary = printed.scan(tmp_path)
    assert summary.pages == pages - stored and summary.identified == pages - stored
    with printed.db.session() as session:
        scan_file = session.scalar(select(ScanFile).where(ScanFile.original_name.contains(str(tmp_path))))
        assert scan_file is not None and scan_file.status == "done"
        indices = session.scalars(select(Page.index_in_file).where(Page.scan_file_id == scan_file.id)).all()
    assert sorted(indices) == list(range(pages))


def test_page_unreadable_at_the_reduced_decode_is_read_again_in_full(printed: Printed, tmp_path: Path) -> None:
    printed.bundle([9], tmp_path, profile="office", seed=9, fmt="jpeg")
    settings = with_jobs(printed.ws.settings, 2)
    # decode every JPEG at 1/4 or 1/8 size (~40-50 dpi): most QR codes and marks are unreadable there
    coarse = settings.scan.model_copy(update={"decode_dpi": 37.5, "min_dpi": 30})
    settings = settings.model_copy(update={"scan": coarse})
    summary = scan_paths(printed.db, printed.store, [tmp_path], secret=printed.secret, settings=settings, ocr=False)
    pages = printed.built.layout.page_count
    assert (summary.pages, summary.identified, summary.unidentified) == (pages, pages, 0)
    with printed.db.session() as session:
        stored = session.scalars(select(Page).join(ScanFile).where(ScanFile.original_name.contains(str(tmp_path)))).all()
    retried = [p for p in stored if "full_resolution_retry" in p.quality["timings_ms"]]
    assert len(retried) >= pages // 2, [p.quality for p in stored]
    assert all(p.quality["decode_scale"] == 1 and p.status != "unidentified" for p in retried)
    # (WeChat's super-resolution reads some codes even at 50 dpi: those pages need no second decode)
    assert all(p.quality["decode_scale"] > 1 for p in stored if p not in retried)
