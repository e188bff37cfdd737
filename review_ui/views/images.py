"""Image endpoints: the picture of each answer with the machine's reading, whole pages with every mark, raw scans.

Boxes are drawn in the state the rules decided (recognition.rules.lone_fills: a lone solid fill is
doubtful, not a cancellation), so a picture never says something the stored answer contradicts.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, request
from sqlalchemy import select

from recognition.rules import lone_fills
from review_ui import images as im
from review_ui.data import layout_of
from review_ui.item import ROW_MARGIN_MM, answer_rect, box_views
from review_ui.web import MAX_ID, STAFF, roles, state
from review_ui.web import session as db_session
from storage.models import Answer, BoxReading, Page, Sheet

bp = Blueprint("images", __name__, url_prefix="/img")
MAX_IDS = 60
ROTATIONS = ("0", "90", "180", "270")


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


def _ids(raw: str) -> list[int]:
    return [int(x) for x in raw.split(",") if x.isdigit() and len(x) < 11 and int(x) <= MAX_ID][:MAX_IDS]


@bp.route("/answers.png")
@roles(*STAFF)
def answers() -> Response:
    """The picture of the given answers of one sheet question and page: a grid row, a question, a write-in
    line with its option's box and label; boxes coloured by state, the doubtful ones singled out."""
    with db_session() as s:
        rows = [a for a in (s.get(Answer, i) for i in _ids(request.args.get("ids", ""))) if a is not None]
        if not rows or len({(a.sheet_id, a.question, a.page_id) for a in rows}) != 1 or rows[0].page_id is None:
            abort(404)
        page = s.get_one(Page, rows[0].page_id)
        dpi = _aligned_dpi(page)
        layout = layout_of(s, s.get_one(Sheet, rows[0].sheet_id).edition_id)
        places = [answer_rect(layout, a) for a in rows]
        views = [v for a in rows for v in box_views(s, layout, a)]
        if any(p is None for p in places) or page.aligned_sha256 is None:
            if rows[0].crop_sha256:
                return _image_response(state().store.read(rows[0].crop_sha256), "image/png")
            abort(404)
        image = _aligned(page)
    rects = [p[1] for p in places if p is not None]
    x0, y0 = min(r.x for r in rects), min(r.y for r in rects)
    rect = im.Rect(x=x0, y=y0, w=max(r.x + r.w for r in rects) - x0, h=max(r.y + r.h for r in rects) - y0)
    margin = ROW_MARGIN_MM if rows[0].kind == "grid" else im.CROP_MARGIN_MM
    part, origin = im.crop(image, rect, dpi=dpi, margin_mm=margin)
    drawn = im.draw_boxes(part, [(v.box, v.state) for v in views], dpi=dpi, origin=origin,
                          singled={v.box.id for v in views if v.doubtful})
    return _image_response(im.png(drawn), "image/png")


@bp.route("/page/<int:page_id>.jpg")
@roles(*STAFF)
def page(page_id: int) -> Response:
    """The whole page; aligned pages carry every box coloured by state; ``?focus=answer ids`` frames those
    answers; ``?rotate=90`` previews a rotation; ``?raw=1`` the page as scanned."""
    with db_session() as s:
        p = s.get(Page, page_id)
        if p is None:
            abort(404)
        dpi = _aligned_dpi(p)
        image = _aligned(p)
        boxes: list[Any] = []
        focus: list[Any] = []
        if p.aligned_sha256 and p.sheet_id and p.page_number and request.args.get("raw") is None:
            layout = layout_of(s, s.get_one(Sheet, p.sheet_id).edition_id)
            page_layout = layout.page(p.page_number)
            states = dict(s.execute(select(BoxReading.box_id, BoxReading.state).where(BoxReading.page_id == p.id)).all())
            lone = lone_fills(page_layout, layout, states)  # type: ignore[arg-type]
            boxes = [(b, "lone_fill" if b.id in lone else states.get(b.id, "empty")) for b in page_layout.boxes]
            answers = [a for a in (s.get(Answer, i) for i in _ids(request.args.get("focus", ""))) if a and a.page_id == p.id]
            focus = [r[1] for r in (answer_rect(layout, a) for a in answers) if r is not None and r[0] == p.page_number]
        elif request.args.get("raw") is not None and p.image_sha256:
            image = im.decode_file(str(state().store.path(p.image_sha256)))
    if boxes:
        image = im.draw_boxes(image, boxes, dpi=dpi)
    for rect in focus:
        image = im.frame(image, rect, dpi=dpi)
    rotation = request.args.get("rotate", "0")
    image = im.rotate(image, int(rotation) if rotation in ROTATIONS else 0)
    return _image_response(im.jpeg(im.fit_width(image)), "image/jpeg")
