"""The page record, assembled once by the worker: every fact of how a page was read is in ``Page.quality``,
and the aligned image carries its own resolution, so changing ``canonical_dpi`` later cannot mis-crop
the pages stored before."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from hostile_corpus import scanned, sheet_page
from pipeline_helpers import print_sipas
from sqlalchemy import select

from core.settings import RecognitionSettings
from phieu.provingground.writers import write_png
from review_ui import images as im
from review_ui.accounts import create_user
from review_ui.app import create_app
from review_ui.data import layout_of
from review_ui.item import answer_rect
from storage.models import Answer, Page, Sheet

pytestmark = pytest.mark.slow


def test_stored_page_keeps_its_facts_and_its_resolution(tmp_path: Path) -> None:
    printed = print_sipas(tmp_path / "ws", 1)
    image, _ = sheet_page(printed, 1, 1, seed=5)
    path = tmp_path / "trang.png"
    write_png(scanned(image, 5), path, dpi=300)
    assert printed.scan(path).identified == 1
    with printed.db.session() as s:
        page = s.scalars(select(Page)).one()
        assert page.aligned_dpi == 150.0
        quality = page.quality
        for fact in ("dpi", "source_format", "decode_scale", "size_px", "decoder", "residual_mm", "marks_found",
                     "thresholds", "timings_ms"):
            assert fact in quality, fact
        assert {"identify", "read", "encode"} <= set(quality["timings_ms"])
        answers = s.scalars(select(Answer).where(Answer.page_id == page.id, Answer.kind == "single")).all()
        answer = answers[0]
        sheet = s.get_one(Sheet, answer.sheet_id)
        found = answer_rect(layout_of(s, sheet.edition_id), answer)
        assert found is not None
        create_user(s, "giamsat", "mat-khau-123", "supervisor")
    stored = cv2.imdecode(np.frombuffer(printed.store.read(page.aligned_sha256 or ""), np.uint8), cv2.IMREAD_GRAYSCALE)
    expected, _ = im.crop(stored, found[1], dpi=150.0)

    # later, the workspace reads at 200 dpi: the page stored at 150 is still cut where its question is
    settings = printed.ws.settings.model_copy(update={"recognition": RecognitionSettings(canonical_dpi=200)})
    app = create_app(printed.ws.database_url, printed.ws.files_dir, settings=settings, secret_key="k")
    try:
        client = app.test_client()
        token = client.get("/api/login").json["csrf"]
        client.post("/api/login", json={"username": "giamsat", "password": "mat-khau-123"}, headers={"X-CSRFToken": token})
        response = client.get(f"/img/answers.png?ids={answer.id}")
        assert response.status_code == 200
        crop = cv2.imdecode(np.frombuffer(response.data, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert crop.shape == expected.shape
        wrong, _ = im.crop(stored, found[1], dpi=200.0)
        assert wrong.shape != expected.shape  # what the old code cut
    finally:
        app.extensions["phieu"].close()
