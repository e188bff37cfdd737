"""Image endpoints: question crops with the machine's reading, whole pages with every mark, raw scans."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, request
from sqlalchemy import select

from review_ui import images as im
from review_ui.data import crop_rect, layout_of
from review_ui.web import STAFF, roles, state
from review_ui.web import session as db_session
from storage.models import Answer, BoxReading, Page, Sheet

bp = Blueprint("images", __name__, url_prefix="/img")
MAX_IDS = 60


def _image_response(data: bytes, mimetype: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Cache-Control"] = "private, max-age=600"
    return response


def _aligned(page: Page) -> Any:
    sha = page.aligned_sha256 or page.image_sha256
    if sha is None:
        abort(404)
    return im.decode_file(str(state().store.path(sha)))


def _aligned_dpi(page: Page) -> float:
    """The resolution the page's aligned image was made at (pages stored before it was kept: the setting)."""
    return page.aligned_dpi or state().settings.recognition.canonical_dpi


@bp.route("/answers.png")
@roles(*STAFF)
def answers() -> Response:
    """Crop of the question (or grid rows) of the given answers of one sheet, boxes coloured by state."""
    ids = [int(x) for x in request.args.get("ids", "").split(",") if x.isdigit()][:MAX_IDS]
    with db_session() as s:
        rows = [a for a in (s.get(Answer, i) for i in ids) if a is not None]
        if not rows or len({(a.sheet_id, a.question) for a in rows}) != 1 or rows[0].page_id is None:
            abort(404)
        page = s.get(Page, rows[0].page_id)
        sheet = s.get(Sheet, rows[0].sheet_id)
        assert page is not None and sheet is not None
        dpi = _aligned_dpi(page)
        layout = layout_of(s, sheet.edition_id)
        where = crop_rect(layout, rows)
        if where is None or page.aligned_sha256 is None:
            if rows[0].crop_sha256:
                return _image_response(state().store.read(rows[0].crop_sha256), "image/png")
            abort(404)
        page_no, rect = where
        boxes = [b for b in layout.page(page_no).boxes if b.question == rows[0].question]
        states = dict(s.execute(select(BoxReading.box_id, BoxReading.state).where(
            BoxReading.page_id == page.id, BoxReading.box_id.in_([b.id for b in boxes]))).all())
        image = _aligned(page)
    part, origin = im.crop(image, rect, dpi=dpi)
    drawn = im.draw_boxes(part, [(b, states.get(b.id, "empty")) for b in boxes], dpi=dpi, origin=origin)
    return _image_response(im.png(drawn), "image/png")


@bp.route("/page/<int:page_id>.jpg")
@roles(*STAFF)
def page(page_id: int) -> Response:
    """The whole page; aligned pages carry every box coloured by state; ``?rotate=90`` previews a rotation."""
    with db_session() as s:
        p = s.get(Page, page_id)
        if p is None:
            abort(404)
        dpi = _aligned_dpi(p)
        image = _aligned(p)
        boxes: list[Any] = []
        if p.aligned_sha256 and p.sheet_id and p.page_number and request.args.get("raw") is None:
            sheet = s.get(Sheet, p.sheet_id)
            assert sheet is not None
            layout = layout_of(s, sheet.edition_id)
            states = dict(s.execute(select(BoxReading.box_id, BoxReading.state).where(BoxReading.page_id == p.id)).all())
            boxes = [(b, states.get(b.id, "empty")) for b in layout.page(p.page_number).boxes]
        elif request.args.get("raw") is not None and p.image_sha256:
            image = im.decode_file(str(state().store.path(p.image_sha256)))
    if boxes:
        image = im.draw_boxes(image, boxes, dpi=dpi)
    rotation = request.args.get("rotate", "0")
    image = im.rotate(image, int(rotation) if rotation in ("0", "90", "180", "270") else 0)
    return _image_response(im.jpeg(im.fit_width(image)), "image/jpeg")
