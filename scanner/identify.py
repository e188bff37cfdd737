"""Who is this page, and where does it lie: blank test, marks, alignment, QR (or printed digits), MAC.

Order, cheapest first: a page with almost no ink is a blank (duplex) back and costs nothing more;
then the registration marks give the transform; the QR code is decoded from a small crop where the
layout puts it, else from the whole page (any orientation), else the printed digits line is OCR'd
and resolved against the registered editions by its MAC. The decoded code must lie where the
alignment puts the layout's QR square, the right way up: when it does not, the code wins (the
marks are re-fitted with its orientation, or the page is aligned on the code's corners and the
marks that survive, e.g. when the scanner cut some off).

Outcomes (``Identification.reason``): None (identified, page aligned), ``blank_page``, ``no_marks``
(nothing to align on; the identity may still be known from the QR), ``unreadable`` (aligned but no
code read), ``forged`` (a phieu code whose MAC fails), ``unknown_survey`` (a code of an edition not
registered here). ``detail`` says it in Vietnamese with what to do.

Coordinates: images numpy (row, col); points (x, y) with x = column; layout in mm.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from core.settings import DEFAULT_SETTINGS, ScanSettings
from core.types import Alignment, Identification
from formgen.identity import SheetIdentity, identify_digits, parse_payload, verify
from formgen.layout import Layout, PageLayout, Rect, RegistrationMark, standard_marks
from scanner import qr
from scanner.align import (
    _affine_fit,
    code_corners_mm,
    code_misfit_mm,
    fit_marks,
    fit_with_code,
    mm_to_px,
    px_to_mm,
    warp_to_layout,
)
from scanner.marks import MarkCandidate, find_candidates, search_copy
from scanner.register import Master, refine, search_page
from scanner.sheet import straighten
from scanner.tesseract import ocr_text
from scanner.types import PageImage, ScannedPage

log = logging.getLogger(__name__)

DIGITS_WHITELIST = "0123456789-"
# WeChat's detector takes seconds on a whole printed page (every letter is a finder candidate);
# it only ever sees the small QR crop. zxing-cpp (~30 ms) and zbar (~200 ms) read whole pages.
WHOLE_PAGE_DECODERS = ("zxing", "zbar")
# White added round a page whose code lost its quiet zone at the paper's edge (mm)
QUIET_PAD_MM = 6.0
# Rough transforms of an anchorless page tried, best first, and the correlation they need
_SEARCHES_TRIED = 3
_SEARCH_MIN = 0.2

MasterSource = Callable[[str, str, int], Master]
"""The blank master of (survey, edition, page number), prepared for registration on print."""


@dataclass
class _Clock:
    timings: dict[str, float] = field(default_factory=dict)
    last: float = field(default_factory=time.perf_counter)

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round((now - self.last) * 1000, 2)
        self.last = now


def ink_share(small: np.ndarray, *, settings: ScanSettings) -> float:
    """Share of clearly dark pixels in the page's ``search_copy`` (printed pages: a few percent)."""
    paper = float(np.percentile(small[::2, ::2], 90)) or 1.0
    return float(np.count_nonzero(small < paper * (1.0 - settings.blank_darkness)) / small.size)


def identify_page(
    page: PageImage,
    *,
    editions: Mapping[tuple[str, str], Layout],
    secret: bytes,
    settings: ScanSettings,
    canonical_dpi: float = DEFAULT_SETTINGS.recognition.canonical_dpi,
    masters: MasterSource | None = None,
) -> ScannedPage:
    """Identify and align one page. Never raises for a bad page: the outcome says what happened.

    ``editions`` maps (survey, edition) to its layout; ``canonical_dpi`` is the resolution of the
    upright page returned for recognition (pass RecognitionSettings.canonical_dpi); ``masters``
    gives blank masters for registration on print, for pages whose marks are not all there (without
    it such a page is aligned on what marks and code it has, or not at all).

    A photo of the sheet lying on a table is straightened first (``scanner.sheet``); should that
    page come out unidentified or unaligned (a shadow taken for the sheet's edge), the photo is
    tried as it came.
    """
    straight, to_straight = straighten(page, settings=settings)
    if to_straight is None:
        return _identify(page, editions, secret, settings, canonical_dpi, masters)
    found = _identify(straight, editions, secret, settings, canonical_dpi, masters)
    if found.alignment is not None:  # the transform is of the page as read, like every other page's
        found.alignment = replace(found.alignment, mm_to_px=np.linalg.inv(to_straight) @ found.alignment.mm_to_px)
    if found.identification.identity is not None and found.alignment is not None:
        return found
    as_taken = _identify(page, editions, secret, settings, canonical_dpi, masters)
    return as_taken if _rank(as_taken) > _rank(found) else found


def _rank(found: ScannedPage) -> int:
    """How far a page got: identified and aligned, identified, or neither."""
    return (found.identification.identity is not None) + (found.alignment is not None)


def _identify(
    page: PageImage,
    editions: Mapping[tuple[str, str], Layout],
    secret: bytes,
    settings: ScanSettings,
    canonical_dpi: float,
    masters: MasterSource | None,
) -> ScannedPage:
    clock = _Clock()
    image, dpi = page.image, page.dpi
    small = search_copy(image, dpi=dpi, settings=settings)
    if ink_share(small, settings=settings) < settings.blank_ink_max:
        clock.lap("blank")
        return _result(page, _outcome("blank_page", clock), None)
    clock.lap("blank")
    marks = _reference_marks(editions)
    candidates = find_candidates(image, dpi=dpi, mark_mm=marks[0].size, settings=settings, small=small)
    alignment = fit_marks(candidates, marks=marks, settings=settings, image=image)
    clock.lap("marks")
    decoded = _decode(image, alignment, editions, settings)
    clock.lap("qr")
    if decoded is None:
        return _without_code(page, alignment, editions, secret, settings, canonical_dpi, clock, masters)
    parsed = parse_payload(decoded.text)
    assert parsed is not None  # the decoder chain accepts phieu payloads only
    key = (parsed.identity.survey, parsed.identity.edition)
    if key not in editions:
        return _result(page, _outcome("unknown_survey", clock, decoded, parsed.identity), alignment)
    if not verify(parsed, secret) or not 1 <= parsed.identity.page <= editions[key].page_count:
        return _result(page, _outcome("forged", clock, decoded, parsed.identity), alignment)
    page_layout = editions[key].page(parsed.identity.page)
    if page_layout.marks[0].size != marks[0].size:  # an edition printed with other marks: search again
        candidates = find_candidates(image, dpi=dpi, mark_mm=page_layout.marks[0].size, settings=settings,
                                     small=small)
    alignment = _settle_alignment(page, alignment, candidates, decoded, page_layout, settings)
    # The code's corners check the marks (_settle_alignment); without them (zbar reads no corners), or
    # with marks missing, the print checks them, or replaces them.
    checked = decoded.corners is not None and decoded.modules is not None
    if (alignment is None or alignment.marks_found < 4 or not checked) and masters is not None:
        master = masters(key[0], key[1], parsed.identity.page)
        alignment = _on_print(page, alignment, decoded, page_layout, master, settings) or alignment
    clock.lap("check")
    return _finish(page, parsed.identity, decoded.text, decoded.decoder, alignment, editions, canonical_dpi, clock)


def _on_print(
    page: PageImage, alignment: Alignment | None, decoded: qr.Decoded, page_layout: PageLayout, master: Master,
    settings: ScanSettings,
) -> Alignment | None:
    """The page registered on its print, starting from the marks' fit, else the code's place, else a
    search of the whole page (None if none of them leads to a fit)."""
    roughs = [alignment.mm_to_px] if alignment is not None else []
    if decoded.corners is not None and decoded.modules is not None:
        code = _affine_fit(code_corners_mm(page_layout.qr, decoded.modules), decoded.corners)
        roughs.append(np.vstack([code, [0.0, 0.0, 1.0]]))
    method = "marks+print" if alignment is not None and alignment.marks_found else "code+print"
    found = alignment.marks_found if alignment is not None else 0
    for rough in roughs:
        refined = refine(page.image, rough, master, settings=settings, method=method, marks_found=found)
        if refined is not None and _agrees_with_code(refined, decoded, page_layout, settings):
            return refined
    for _, rough, score in search_page(page.image, dpi=page.dpi, masters={"page": master})[:_SEARCHES_TRIED]:
        if score < _SEARCH_MIN:
            break
        refined = refine(page.image, rough, master, settings=settings, method="print")
        if refined is not None and _agrees_with_code(refined, decoded, page_layout, settings):
            return refined
    return None


def _agrees_with_code(alignment: Alignment, decoded: qr.Decoded, page_layout: PageLayout, settings: ScanSettings) -> bool:
    """A fit on print alone must put the decoded code where the layout prints it (when its corners are known)."""
    return decoded.corners is None or _code_offset_mm(alignment, decoded, page_layout.qr) <= settings.code_mark_radius_mm


def _without_code(
    page: PageImage, alignment: Alignment | None, editions: Mapping[tuple[str, str], Layout], secret: bytes,
    settings: ScanSettings, canonical_dpi: float, clock: _Clock, masters: MasterSource | None,
) -> ScannedPage:
    """No code could be read: the printed digits, on the marks' alignment, else on one found by
    matching the page's print with every registered master (a chance triangle of blobs taken for
    three marks puts the digits line elsewhere: OCR finds nothing there, and the search follows)."""
    if alignment is not None:
        found = _identified_by_digits(page, alignment, editions, secret, settings, clock, masters)
        if found is not None:
            return _finish(page, found[0], None, "ocr", found[1], editions, canonical_dpi, clock)
    searched = _search_print(page, editions, settings, masters)
    clock.lap("search")
    if searched is not None:
        found = _identified_by_digits(page, searched, editions, secret, settings, clock, masters)
        if found is not None:
            return _finish(page, found[0], None, "ocr", found[1], editions, canonical_dpi, clock)
    if alignment is not None or searched is not None:
        return _result(page, _outcome("unreadable", clock), alignment or searched)
    return _result(page, _outcome("no_marks", clock), None)


def _identified_by_digits(
    page: PageImage, aligned: Alignment, editions: Mapping[tuple[str, str], Layout], secret: bytes,
    settings: ScanSettings, clock: _Clock, masters: MasterSource | None,
) -> tuple[SheetIdentity, Alignment] | None:
    """(identity from the printed digits, the alignment refined on print when marks were missing)."""
    identity = _ocr_digits(page.image, aligned, editions, secret, settings)
    clock.lap("ocr")
    if identity is None:
        return None
    if aligned.marks_found < 4 and masters is not None:
        # on the master of the page the digits name (pages look alike: a search may have matched
        # another page's grid, a few rows off); a fit on print alone must hold there
        master = masters(identity.survey, identity.edition, identity.page)
        method = "print" if aligned.marks_found == 0 else "marks+print"
        refined = refine(page.image, aligned.mm_to_px, master, settings=settings, method=method,
                         marks_found=aligned.marks_found)
        if refined is None and aligned.marks_found == 0:
            return None
        aligned = refined or aligned
    return identity, aligned


def _search_print(
    page: PageImage, editions: Mapping[tuple[str, str], Layout], settings: ScanSettings,
    masters: MasterSource | None,
) -> Alignment | None:
    """The page aligned on its print alone, matched against every registered master (None if none fits)."""
    if masters is None:
        return None
    candidates = {(s, e, p.number): masters(s, e, p.number) for (s, e), lay in editions.items() for p in lay.pages}
    for key, rough, score in search_page(page.image, dpi=page.dpi, masters=candidates)[:_SEARCHES_TRIED]:
        if score < _SEARCH_MIN:
            break
        found = refine(page.image, rough, candidates[key], settings=settings, method="print")
        if found is not None:
            return found
    return None


def _reference_marks(editions: Mapping[tuple[str, str], Layout]) -> list[RegistrationMark]:
    for layout in editions.values():
        if layout.pages:
            return list(layout.pages[0].marks)
    form = DEFAULT_SETTINGS.form
    return standard_marks(210.0, 297.0, inset=form.mark_inset_mm, size=form.mark_mm)


def _qr_rects(editions: Mapping[tuple[str, str], Layout]) -> list[Rect]:
    """Distinct places a QR code is printed, over every registered page."""
    rects: list[Rect] = []
    for layout in editions.values():
        for page_layout in layout.pages:
            if page_layout.qr not in rects:
                rects.append(page_layout.qr)
    return rects


def _is_payload(text: str) -> bool:
    return parse_payload(text) is not None


def _decode(
    image: np.ndarray,
    alignment: Alignment | None,
    editions: Mapping[tuple[str, str], Layout],
    settings: ScanSettings,
) -> qr.Decoded | None:
    """A phieu payload from the layout's QR place, else from the whole page; None if none is readable."""
    if alignment is not None:
        for rect in _qr_rects(editions):
            crop, origin = _crop(image, alignment, rect, settings.qr_margin_mm)
            if crop.size == 0:
                continue
            found = qr.decode(crop, accept=_is_payload)
            if found:
                return _shifted(found[0], origin)
    found = qr.decode(image, accept=_is_payload, decoders=WHOLE_PAGE_DECODERS, rescue=False)
    if found:
        return found[0]
    # a code at the paper's edge may have lost its quiet zone to the scan's border: give it one back
    pad = int(round(QUIET_PAD_MM * _px_per_mm(image, alignment)))
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    found = qr.decode(padded, accept=_is_payload, decoders=("zxing",), rescue=False)
    return _shifted(found[0], np.array([-pad, -pad], dtype=np.float64)) if found else None


def _px_per_mm(image: np.ndarray, alignment: Alignment | None) -> float:
    if alignment is not None:
        return float(np.sqrt(abs(np.linalg.det(alignment.mm_to_px[:2, :2]))))
    return max(image.shape[:2]) / 297.0  # an A4 page filling the image


def _crop(image: np.ndarray, alignment: Alignment, rect: Rect, margin_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The image pixels around a layout rectangle (axis-aligned bounding box), and its (x, y) origin."""
    x0, y0 = rect.x - margin_mm, rect.y - margin_mm
    x1, y1 = rect.x + rect.w + margin_mm, rect.y + rect.h + margin_mm
    corners = mm_to_px(alignment, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]]))
    left, top = np.floor(corners.min(axis=0)).astype(int).clip(0)
    right, bottom = np.ceil(corners.max(axis=0)).astype(int)
    return image[top:bottom, left:right], np.array([left, top], dtype=np.float64)


def _shifted(found: qr.Decoded, origin: np.ndarray) -> qr.Decoded:
    corners = None if found.corners is None else found.corners + origin
    return qr.Decoded(found.text, found.decoder, corners, found.modules)


def _settle_alignment(
    page: PageImage, alignment: Alignment | None, candidates: list[MarkCandidate], decoded: qr.Decoded,
    page_layout: PageLayout, settings: ScanSettings,
) -> Alignment | None:
    """The marks' alignment if the QR code lies where it puts the code; else one that agrees with the code.

    A wrong alignment (marks turned the wrong way, a chance triangle of blobs) puts the decoded code
    far from the layout's QR square. Then: re-fit the marks with the code's orientation, or fit on
    the code plus the surviving marks; None when nothing agrees (the page goes to review).
    """
    if decoded.corners is None:
        return alignment
    checked = _checked(alignment, decoded, page_layout.qr, settings)
    if checked is not None:
        return checked
    marks = list(page_layout.marks)
    if alignment is not None:
        top_edge = px_to_mm(alignment, decoded.corners[:2])
        dx, dy = top_edge[1] - top_edge[0]
        rotation = (alignment.rotation + 90 * int(round(np.degrees(np.arctan2(dy, dx)) / 90.0))) % 360
        log.info("%s trang %d: dấu định vị và mã QR lệch nhau; theo mã QR (%d°)", page.source.name,
                 page.index + 1, rotation)
        refit = fit_marks(candidates, marks=marks, settings=settings, rotation=rotation, image=page.image)
        checked = _checked(refit, decoded, page_layout.qr, settings)
        if checked is not None:
            return checked
    if decoded.modules is None:
        return None
    return fit_with_code(candidates, marks=marks, code_rect=page_layout.qr, modules=decoded.modules,
                         code_px=decoded.corners, settings=settings)


def _checked(alignment: Alignment | None, decoded: qr.Decoded, rect: Rect, settings: ScanSettings) -> Alignment | None:
    """``alignment`` with its residual measured on the code's corners, or None when the code is not
    where it puts it (beyond ``fit_residual_max_mm`` when the symbol size is known)."""
    if alignment is None or _code_offset_mm(alignment, decoded, rect) > settings.code_mark_radius_mm:
        return None
    if decoded.modules is None or decoded.corners is None:
        return alignment
    misfit = code_misfit_mm(alignment, rect, decoded.modules, decoded.corners)
    if misfit > settings.fit_residual_max_mm:
        log.info("dấu định vị lệch mã QR %.2f mm: không dùng / marks misfit the code by %.2f mm", misfit, misfit)
        return None
    return replace(alignment, residual_mm=max(alignment.residual_mm, misfit))


def _code_offset_mm(alignment: Alignment, decoded: qr.Decoded, rect: Rect) -> float:
    """Distance (mm) between the decoded code's centre, mapped to the layout, and the QR square's centre.

    Also large when the code's top edge does not run along the layout's x axis (a turned page)."""
    assert decoded.corners is not None
    corners = px_to_mm(alignment, decoded.corners)
    centre = corners.mean(axis=0)
    offset = float(np.hypot(*(centre - np.array(rect.centre))))
    dx, dy = corners[1] - corners[0]
    turned = abs(np.degrees(np.arctan2(dy, dx))) > 45.0
    return offset + (rect.w if turned else 0.0)


def _ocr_digits(
    image: np.ndarray,
    alignment: Alignment,
    editions: Mapping[tuple[str, str], Layout],
    secret: bytes,
    settings: ScanSettings,
) -> SheetIdentity | None:
    """The identity from the printed SERIAL-PAGE-MAC line, checked by MAC against each edition."""
    keys = list(editions)
    tried: list[Rect] = []
    for layout in editions.values():
        for page_layout in layout.pages:
            rect = page_layout.digits_text
            if rect in tried:
                continue
            tried.append(rect)
            crop = warp_to_layout(image, alignment, width_mm=rect.w, height_mm=rect.h,
                                  dpi=settings.digits_ocr_dpi, origin_mm=(rect.x, rect.y))
            text = ocr_text(crop, lang="eng", psm=7, whitelist=DIGITS_WHITELIST)
            identity = identify_digits(text, keys, secret)
            if identity is not None:
                return identity
    return None


_DETAILS: dict[str, Callable[[SheetIdentity | None], str]] = {
    "blank_page": lambda _: "Trang trắng (có lẽ mặt sau khi quét hai mặt): không có gì để đọc. "
    "Bỏ qua nếu đúng là trang trắng. / Blank page.",
    "no_marks": lambda i: (
        f"Đã đọc mã phiếu {_name(i)} nhưng không tìm thấy dấu định vị ở các góc trang nên không đọc được "
        "câu trả lời; quét lại trang này (thẳng, không cắt mép). / Identified, but no registration marks."
        if i is not None else
        "Không tìm thấy dấu định vị ở bốn góc trang và không đọc được mã phiếu; kiểm tra trang có bị gấp, "
        "cắt mép hay không phải phiếu khảo sát, rồi quét lại. / No registration marks, no code."),
    "unreadable": lambda _: "Tìm thấy dấu định vị nhưng không đọc được mã QR hay dãy số dưới mã; "
    "nhập mã phiếu bằng tay hoặc quét lại trang này. / Code unreadable.",
    "forged": lambda i: f"Mã QR {_name(i)} có dạng hợp lệ nhưng chữ ký không khớp (mã giả, bị sửa, hoặc in "
    "từ kho dữ liệu khác); kiểm tra nguồn gốc phiếu này. / Signature check failed.",
    "unknown_survey": lambda i: f"Mã QR thuộc cuộc khảo sát {_name(i)} chưa được đăng ký ở đây; đăng ký "
    "bản mẫu đó rồi quét lại. / Survey or edition not registered.",
}


# How a page was identified and aligned when not the usual way (code and four marks), in words a
# clerk understands: Vietnamese, then English.
_IDENTIFIED_BY = {
    "ocr": "Không đọc được mã QR (bị cắt ở mép giấy, rách hoặc bẩn); đã nhận diện phiếu từ dãy số in "
    "dưới mã. / QR code unreadable; identified from the printed number.",
}
_ALIGNED_BY = {
    "marks-3": "Thiếu một dấu định vị ở góc (góc bị cắt khi quét hoặc bị rách); đã căn trang theo ba dấu "
    "còn lại. / One corner mark missing; aligned on the other three.",
    "code+marks": "Thiếu dấu định vị ở góc (góc nằm ngoài vùng quét); đã căn trang theo mã QR và các dấu "
    "còn lại. / Corner marks missing; aligned on the QR code and the marks left.",
    "code+print": "Thiếu dấu định vị ở góc (tờ phiếu bị đưa lệch, góc nằm ngoài vùng quét); đã căn trang "
    "theo mã QR và nội dung in trên phiếu. / Corner marks cut off; aligned on the QR code and the printed "
    "form.",
    "marks+print": "Thiếu dấu định vị ở góc; đã căn trang theo các dấu còn lại và nội dung in trên phiếu. / "
    "Corner marks missing; aligned on the marks left and the printed form.",
    "print": "Không thấy dấu định vị ở góc; đã căn trang theo nội dung in trên phiếu. / No corner marks; "
    "aligned on the printed form.",
}


def _how(identity: SheetIdentity, decoder: str, alignment: Alignment) -> str:
    """What a clerk looking at this page should know: who it is, and how it was found if not the usual way."""
    words = [f"Đã nhận diện phiếu {_name(identity)}."]
    words += [_IDENTIFIED_BY[decoder]] if decoder in _IDENTIFIED_BY else []
    words += [_ALIGNED_BY[alignment.method]] if alignment.method in _ALIGNED_BY else []
    return " ".join(words)


def _name(identity: SheetIdentity | None) -> str:
    if identity is None:
        return ""
    return f"{identity.survey}-{identity.edition} số {identity.serial:07d} trang {identity.page}"


def _outcome(
    reason: str, clock: _Clock, decoded: qr.Decoded | None = None, identity: SheetIdentity | None = None
) -> Identification:
    return Identification(
        identity=None, qr_text=decoded.text if decoded else None, decoder=decoded.decoder if decoded else None,
        reason=reason, detail=_DETAILS[reason](identity), timings_ms=clock.timings,
    )


def _result(page: PageImage, ident: Identification, alignment: Alignment | None) -> ScannedPage:
    return ScannedPage(page.source, page.index, ident, alignment, quality=_quality(alignment))


def _quality(alignment: Alignment | None) -> dict[str, float | str]:
    if alignment is None:
        return {"marks_found": 0.0}
    return {"marks_found": float(alignment.marks_found), "residual_mm": round(alignment.residual_mm, 3),
            "perspective_mm": round(alignment.perspective_mm, 3), "aligned_by": alignment.method,
            "affine": float(alignment.marks_found < 4), "rotation": float(alignment.rotation)}


def _finish(
    page: PageImage,
    identity: SheetIdentity,
    text: str | None,
    decoder: str,
    alignment: Alignment | None,
    editions: Mapping[tuple[str, str], Layout],
    canonical_dpi: float,
    clock: _Clock,
) -> ScannedPage:
    """An identified page: warped upright when aligned, else routed to review as ``no_marks``."""
    page_layout: PageLayout = editions[(identity.survey, identity.edition)].page(identity.page)
    if alignment is None:
        ident = _outcome("no_marks", clock, None, identity)
        ident.identity, ident.qr_text, ident.decoder = identity, text, decoder
        return ScannedPage(page.source, page.index, ident, None, identity.page, quality=_quality(None))
    canonical = warp_to_layout(page.image, alignment, width_mm=page_layout.width,
                               height_mm=page_layout.height, dpi=canonical_dpi)
    visible = _visible(page.image, alignment, page_layout, canonical_dpi)
    clock.lap("warp")
    ident = Identification(identity=identity, qr_text=text, decoder=decoder, reason=None,
                           detail=_how(identity, decoder, alignment), timings_ms=clock.timings)
    return ScannedPage(page.source, page.index, ident, alignment, identity.page, canonical,
                       float(canonical_dpi), _quality(alignment), visible)


def _visible(image: np.ndarray, alignment: Alignment, page_layout: PageLayout, dpi: float) -> np.ndarray | None:
    """Where the scanned image shows the page, at ``dpi`` (None: all of it, as when four marks were found)."""
    corners = mm_to_px(alignment, np.array([[0, 0], [page_layout.width, 0], [page_layout.width, page_layout.height],
                                            [0, page_layout.height]], np.float64))
    rows, cols = image.shape[:2]
    if alignment.marks_found == 4 and corners.min() >= 0 and corners[:, 0].max() < cols and corners[:, 1].max() < rows:
        return None
    shown = np.full(image.shape[:2], 255, np.uint8)
    shown[:2, :], shown[-2:, :], shown[:, :2], shown[:, -2:] = 0, 0, 0, 0  # the image's own edge is no paper
    warped = warp_to_layout(shown, alignment, width_mm=page_layout.width, height_mm=page_layout.height, dpi=dpi,
                            border=0)
    return np.asarray(warped > 127)
