"""Plain words for every code the database keeps: states, outcomes, roles, audit events, upload jobs,
batch summaries, and dates in the Vietnamese form.

Codes stay codes in the database and in the JSON twin; people read these words (Vietnamese source
strings, English from the catalogue). An unknown code (a kind added later) is shown as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import has_request_context
from flask_babel import get_locale
from flask_babel import lazy_gettext as _  # marked strings: tests/test_review_translations.py finds them

WORDS: dict[str, dict[str, Any]] = {
    "answer_status": {"accepted": _("máy đọc chắc chắn"), "review": _("chờ duyệt"), "reviewed": _("đã duyệt"),
                      "final": _("đã chốt")},
    "machine_state": {"answered": _("một câu trả lời"), "blank": _("để trống"), "multiple": _("nhiều ô được đánh dấu"),
                      "uncertain": _("có ô không rõ"), "unreadable": _("không đọc được"), "ink": _("có chữ viết tay"),
                      "no_ink": _("không có chữ viết")},
    "box_state": {"marked": _("đánh dấu"), "uncertain": _("không rõ"), "cancelled": _("tô kín để huỷ"),
                  "empty": _("trống"), "lone_fill": _("tô kín một mình")},
    "sheet_status": {"printed": _("đã in, chưa nhận lại"), "scanned": _("đã quét một phần"), "review": _("chờ duyệt"),
                     "complete": _("hoàn tất"), "final": _("đã ký duyệt")},
    "page_status": {"identified": _("đã nhận dạng"), "duplicate": _("bản trùng"), "unidentified": _("chưa nhận dạng"),
                    "blank": _("trang trắng"), "not_survey": _("không thuộc khảo sát")},
    "role": {"admin": _("quản trị"), "supervisor": _("giám sát"), "reviewer": _("người duyệt"), "clerk": _("văn thư")},
    "decision": {"review": _("duyệt"), "second": _("duyệt lần hai"), "third": _("người thứ ba phân xử"),
                 "correction": _("giám sát sửa"), "reopen": _("mở lại")},
    "item_kind": {"answer": _("câu trả lời"), "writein": _("chữ viết tay"), "second": _("duyệt lần hai"),
                  "third": _("bất đồng, cần người thứ ba"), "page": _("trang")},
    "item_status": {"open": _("đang mở"), "done": _("đã xong"), "cancelled": _("đã huỷ")},
    "job_state": {"queued": _("đang chờ"), "running": _("đang quét"), "done": _("đã xong"), "failed": _("bị lỗi")},
    "source": {"cli": _("lệnh phieu scan"), "upload": _("tải lên"), "watch": _("thư mục theo dõi"), "demo": _("chạy thử")},
    "audit": {
        "decide": _("quyết định"), "correct": _("sửa"), "reopen": _("mở lại"), "assign_page": _("gán trang"),
        "not_survey": _("không thuộc khảo sát"), "rotate_page": _("xoay trang"), "login_failed": _("đăng nhập sai"),
        "logout": _("đăng xuất"), "user_add": _("thêm người dùng"), "user_passwd": _("đổi mật khẩu"),
        "user_enable": _("mở khoá tài khoản"), "user_disable": _("khoá tài khoản"), "user_role": _("đổi vai trò"),
        "second_review_share": _("đặt tỉ lệ duyệt lần hai"), "release_leases": _("trả lại hàng đợi"),
        "sign_off": _("ký duyệt phiếu"), "edition.register": _("đăng ký mẫu phiếu"), "sheets.print": _("in phiếu"),
        "scan.batch_started": _("bắt đầu lượt quét"), "scan.batch_finished": _("xong lượt quét"),
        "scan.file_received": _("nhận tệp"), "scan.file_done": _("xong tệp"), "scan.file_failed": _("tệp bị lỗi"),
        "scan.page_identified": _("trang đã nhận dạng"), "scan.page_duplicate": _("trang trùng"),
        "scan.page_unidentified": _("trang chưa nhận dạng"), "scan.page_blank": _("trang trắng"),
        "scan.page_rerecorded": _("đọc lại trang"), "sheet.status": _("đổi trạng thái phiếu"),
    },
    "detail": {  # keys of audit details
        "value": _("giá trị"), "machine_value": _("máy đọc"), "item": _("mục"), "kind": _("loại"), "reason": _("lý do"),
        "rotation": _("góc xoay"), "survey": _("khảo sát"), "serial": _("số phiếu"), "page": _("trang"),
        "role": _("vai trò"), "share": _("tỉ lệ"), "items": _("số mục"), "address": _("địa chỉ"), "from": _("từ"),
        "to": _("thành"), "status": _("trạng thái"), "where": _("ở"), "answers": _("câu trả lời"),
        "review": _("cần duyệt"), "pages": _("số trang"), "name": _("tên"), "error": _("lỗi"),
    },
}
CODE_KEYS = {"kind": ("decision", "item_kind"), "status": ("page_status", "sheet_status"), "role": ("role",),
             "from": ("sheet_status",), "to": ("sheet_status",)}


def in_language(text: str) -> str:
    """A stored or raised message written "Vietnamese / English", in the interface language only."""
    if " / " not in text:
        return text
    vietnamese, _sep, english = text.partition(" / ")
    try:
        language = get_locale().language if has_request_context() else "vi"
    except (AttributeError, RuntimeError):
        language = "vi"
    return (english if language == "en" else vietnamese).strip()


def word(category: str, code: Any) -> str:
    """The word for ``code`` in ``category`` (see WORDS), or the code itself when it has none."""
    if code is None:
        return ""
    found = WORDS.get(category, {}).get(str(code))
    return str(found) if found is not None else str(code)


def when(moment: datetime | str | None) -> str:
    """A stored moment in the Vietnamese form, local time: 30/11/2026 14:05 (never an ISO "T")."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        text = moment
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone().strftime("%d/%m/%Y %H:%M")


def _value_text(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(_("có") if value else _("không"))
    for category in CODE_KEYS.get(key, ()):
        if str(value) in WORDS[category]:
            return word(category, value)
    if isinstance(value, list | tuple):
        return ", ".join(_value_text("", v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{word('detail', k)}: {_value_text(k, v)}" for k, v in value.items())
    return str(value)


def detail_text(detail: Mapping[str, Any] | None) -> str:
    """An audit event's detail as words: "giá trị: Nguyễn; máy đọc: —" (no JSON, no \\u escapes)."""
    return "; ".join(f"{word('detail', k)}: {_value_text(k, v)}" for k, v in (detail or {}).items())


def summary_lines(summary: Mapping[str, Any] | None) -> list[str]:
    """What a scan batch did, in sentences (an upload job's result, a batch on the progress page)."""
    if not summary:
        return []
    s = {k: summary.get(k) or 0 for k in ("files", "files_already_done", "pages", "identified", "duplicates",
                                            "unidentified", "blank", "answers_stored", "answers_to_review")}
    lines: list[str] = []
    if s["files_already_done"]:
        lines.append(_("%(n)s tệp đã được quét trước đây: bỏ qua, không có gì thay đổi.") % {"n": s["files_already_done"]})
    new_files = s["files"] - s["files_already_done"]
    if new_files > 0 or s["pages"]:
        lines.append(_("%(files)s tệp, %(pages)s trang được đọc.") % {"files": max(new_files, 0), "pages": s["pages"]})
    if s["identified"]:
        lines.append(_("%(n)s trang nhận dạng được.") % {"n": s["identified"]})
    if s["duplicates"]:
        lines.append(_("%(n)s trang trùng với trang đã có (bản photo, hoặc bó phiếu quét lại): không tính lần nữa.")
                     % {"n": s["duplicates"]})
    if s["unidentified"]:
        lines.append(_("%(n)s trang chưa nhận dạng được: cần người xử lý ở mục Trang chưa nhận dạng.")
                     % {"n": s["unidentified"]})
    if s["blank"]:
        lines.append(_("%(n)s trang trắng (mặt sau).") % {"n": s["blank"]})
    if s["answers_stored"] or s["answers_to_review"]:
        lines.append(_("%(stored)s câu trả lời được ghi; %(review)s câu cần người duyệt.")
                     % {"stored": s["answers_stored"], "review": s["answers_to_review"]})
    for error in summary.get("errors") or []:
        lines.append(_("Lỗi ở tệp %(file)s: %(message)s") % {"file": error.get("path", "?"), "message": error.get("message", "")})
    if not lines:
        lines.append(_("Không có trang nào."))
    return lines


def install(app: Any) -> None:
    """Make the words available to every template: ``word(...)``, ``detail_text``, ``summary_lines``, ``|when``."""
    app.jinja_env.globals.update(word=word, detail_text=detail_text, summary_lines=summary_lines, in_language=in_language)
    app.jinja_env.filters["when"] = when


