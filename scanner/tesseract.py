"""Thin wrapper around the tesseract OCR program (via pytesseract).

One module per external tool: it checks the tool is installed (and the language data we ask for),
says what to install when it is missing, and maps the tool's run-time failures to an empty result
plus a log line, so a bad crop never stops a batch of pages.

Images are numpy arrays indexed (row, col), uint8 greyscale with 0 = black.
"""

from __future__ import annotations

import functools
import logging
import subprocess

import numpy as np
import pytesseract

from phieu.errors import MissingToolError

log = logging.getLogger(__name__)

INSTALL_HINT = "cài tesseract-ocr tesseract-ocr-vie (apt) / install tesseract-ocr tesseract-ocr-vie (apt)"
MIN_CONTRAST = 32  # grey levels between darkest and lightest pixel; below it there is nothing to read
BORDER_PX = 10  # tesseract reads text touching the image edge badly: pad with white
TIMEOUT_S = 20.0  # one region of handwriting never takes this long; a hung process must not stall a batch


@functools.cache
def tesseract_version() -> str:
    """The installed tesseract version, e.g. "5.3.0"; raises MissingToolError when absent."""
    try:
        return str(pytesseract.get_tesseract_version())
    except (pytesseract.TesseractNotFoundError, OSError, subprocess.SubprocessError) as exc:
        raise MissingToolError(f"Không tìm thấy chương trình tesseract. {INSTALL_HINT}") from exc


@functools.cache
def available_languages() -> frozenset[str]:
    """Language packs tesseract can load (e.g. {"eng", "osd", "vie"})."""
    tesseract_version()
    try:
        return frozenset(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractError, OSError, subprocess.SubprocessError) as exc:
        raise MissingToolError(f"tesseract không liệt kê được ngôn ngữ ({exc}). {INSTALL_HINT}") from exc


def require_tesseract(lang: str = "vie") -> None:
    """Raise MissingToolError unless tesseract and every language in ``lang`` ("vie", "vie+eng") exist."""
    missing = [code for code in lang.split("+") if code not in available_languages()]
    if missing:
        raise MissingToolError(f"tesseract thiếu dữ liệu ngôn ngữ {', '.join(missing)}. {INSTALL_HINT}")


def ocr_text(image: np.ndarray, *, lang: str = "vie", psm: int = 7, whitelist: str | None = None) -> str:
    """Recognise the text in ``image`` (uint8 greyscale, (rows, cols), 0 = black).

    ``psm`` is tesseract's page segmentation mode (7 = one line, 6 = a block of lines);
    ``whitelist`` limits the characters tesseract may answer (e.g. "0123456789-").
    Returns the text, one line per printed line with spaces collapsed; "" when the image is empty or
    tesseract fails or times out (logged). Raises MissingToolError only when tesseract or the language is not installed.

    >>> ocr_text(np.full((40, 200), 255, np.uint8), lang="eng")
    ''
    """
    require_tesseract(lang)
    if image.size == 0 or image.ndim != 2:
        log.warning("OCR skipped: image of shape %s is not a non-empty greyscale array", image.shape)
        return ""
    if int(image.max()) - int(image.min()) < MIN_CONTRAST:
        return ""  # a uniform crop: tesseract would only hallucinate punctuation
    padded = np.pad(image.astype(np.uint8, copy=False), BORDER_PX, constant_values=255)
    config = f"--psm {int(psm)}"
    if whitelist:
        config += f" -c tessedit_char_whitelist={whitelist}"
    try:
        text = pytesseract.image_to_string(padded, lang=lang, config=config, timeout=TIMEOUT_S)
    except (pytesseract.TesseractError, OSError, subprocess.SubprocessError) as exc:
        log.warning("OCR failed (%s); no draft", exc)
        return ""
    except RuntimeError as exc:  # pytesseract's timeout (TesseractError is caught above)
        log.warning("OCR timed out after %.0f s (%s); no draft", TIMEOUT_S, exc)
        return ""
    lines = (" ".join(line.split()) for line in str(text).splitlines())
    return "\n".join(line for line in lines if line)
