"""Why a scan file or page could not be read: one reason code each, and the sentence a clerk reads.

Every decoder failure (pikepdf, Pillow, OpenCV, pdfium, a limit of ``ScanSettings``, memory) ends
here: :func:`classify` maps an exception to a reason code, :func:`explain` writes the message that
names the file and page, says what happened and what to do, Vietnamese first. The reason code is
kept all the way to the database (``ScanFile.error_code``, ``Page.reason``, the review item).
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path

import pikepdf
from PIL import Image

# code: (what happened, vi / en), (what to do, vi / en)
REASONS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "empty_file": (("tệp rỗng (0 byte)", "the file is empty (0 bytes)"),
                   ("chép lại tệp từ máy quét hoặc quét lại", "copy the file from the scanner again, or rescan")),
    "file_too_large": (("tệp quá lớn", "the file is too large"),
                       ("chia bó phiếu thành nhiều tệp nhỏ hơn rồi quét lại",
                        "split the bundle into smaller files and scan them")),
    "not_a_scan": (("nội dung tệp không phải PDF, TIFF, PNG hay JPEG", "the content is not a PDF, TIFF, PNG or JPEG"),
                   ("kiểm tra lại tệp; hãy lưu bản quét dưới dạng PDF, TIFF, PNG hoặc JPEG",
                    "check the file; save scans as PDF, TIFF, PNG or JPEG")),
    "password_protected": (("tệp PDF có mật khẩu", "the PDF is protected by a password"),
                           ("xuất lại bản quét không đặt mật khẩu rồi quét lại",
                            "export the scan again without a password and scan that")),
    "too_many_pages": (("tệp có quá nhiều trang", "the file has too many pages"),
                       ("chia bó phiếu thành nhiều tệp rồi quét lại", "split the bundle into several files")),
    "no_pages": (("tệp PDF không có trang nào", "the PDF has no pages"),
                 ("kiểm tra lại tệp hoặc quét lại bó phiếu", "check the file or scan the bundle again")),
    "corrupt_file": (("tệp bị hỏng, không mở được", "the file is damaged and cannot be opened"),
                     ("chép lại tệp hoặc quét lại", "copy the file again, or rescan")),
    "pixel_limit": (("ảnh trang quá lớn", "the page image is too large"),
                    ("quét lại trang ở 200-300 dpi", "rescan the page at 200-300 dpi")),
    "page_size_limit": (("khổ trang PDF quá lớn, không phải một tờ phiếu", "the PDF page is far larger than a sheet"),
                        ("quét lại tờ phiếu bằng máy quét", "scan the sheet again with the scanner")),
    "corrupt_page": (("dữ liệu ảnh của trang bị hỏng", "the page's image data is damaged"),
                     ("quét lại trang này", "rescan this page")),
    "out_of_memory": (("không đủ bộ nhớ để đọc trang", "not enough memory to read the page"),
                      ("quét lại trang ở 200-300 dpi", "rescan the page at 200-300 dpi")),
    "low_resolution": (("độ phân giải quá thấp", "the resolution is too low"),
                       ("quét lại trang ở 200-300 dpi", "rescan the page at 200-300 dpi")),
    "worker_crashed": (("tiến trình đọc trang bị dừng đột ngột", "the process reading the page stopped abruptly"),
                       ("quét lại trang này; nếu lặp lại, báo cho quản trị", "rescan this page; tell the admin if it recurs")),
    "processing_error": (("lỗi khi xử lý trang", "the page could not be processed"),
                         ("quét lại trang này; nếu lặp lại, báo cho quản trị",
                          "rescan this page; tell the admin if it recurs")),
    "repeated_interruption": (("lần quét đã bị dừng nhiều lần khi đọc tệp này", "the scan stopped several times reading this file"),
                              ("kiểm tra tệp; quét lại bó phiếu thành tệp mới", "check the file; rescan the bundle into a new file")),
    "interrupted": (("lần quét bị dừng giữa chừng khi đọc tệp này", "the run stopped while reading this file"),
                    ("chạy `phieu scan --resume` để đọc nốt", "run `phieu scan --resume` to finish it")),
    "missing_file": (("không tìm thấy tệp", "the file is gone"),
                     ("kiểm tra đường dẫn hoặc chép lại tệp", "check the path or copy the file again")),
}
PAGE_REASONS = frozenset({"pixel_limit", "page_size_limit", "corrupt_page", "out_of_memory", "low_resolution",
                          "worker_crashed", "processing_error"})


class ReadProblem(Exception):
    """A limit or a check refused a file or page before (or while) decoding it; ``reason`` is a code of REASONS."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(detail or reason)
        self.reason = reason
        self.detail = detail


def classify(exc: BaseException, *, page_level: bool) -> tuple[str, str]:
    """(reason code, technical detail) for any exception raised while opening a file or decoding a page."""
    if isinstance(exc, ReadProblem):
        return exc.reason, exc.detail
    detail = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    if isinstance(exc, pikepdf.PasswordError):
        return "password_protected", ""
    if isinstance(exc, Image.DecompressionBombError):
        found = re.search(r"\((\d+) pixels\)", str(exc))
        return "pixel_limit", (f"{int(found.group(1)) / 1e6:.0f} triệu điểm ảnh / megapixels" if found else str(exc))
    if isinstance(exc, MemoryError) or "insufficient memory" in detail.lower():  # Python's, or OpenCV's own
        return "out_of_memory", detail
    if isinstance(exc, FileNotFoundError):
        return "missing_file", str(exc)
    if isinstance(exc, (pikepdf.PdfError, OSError, ValueError, EOFError, SyntaxError, struct.error, zlib.error,
                        IndexError, KeyError, TypeError, AttributeError)):
        return ("corrupt_page" if page_level else "corrupt_file"), detail
    return ("corrupt_page" if page_level else "corrupt_file"), detail


def where(path: Path | str, index: int | None) -> tuple[str, str]:
    """("Tệp X, trang N", "file X, page N"); the page is 0-based, None for the whole file."""
    if index is None:
        return f"Tệp {path}", f"file {Path(path).name}"
    return f"Tệp {path}, trang {index + 1}", f"file {Path(path).name}, page {index + 1}"


def explain(path: Path | str, index: int | None, reason: str, detail: str = "") -> str:
    """The message a clerk reads: file and page, what happened, what to do (Vietnamese, then English)."""
    (what_vi, what_en), (todo_vi, todo_en) = REASONS.get(reason, REASONS["corrupt_file"])
    place_vi, place_en = where(path, index)
    extra = f" ({detail})" if detail else ""
    return f"{place_vi}: {what_vi}{extra}; {todo_vi}. / {place_en}: {what_en}; {todo_en}."

