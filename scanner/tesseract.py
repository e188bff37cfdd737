"""Thin wrapper around tesseract OCR.

One module per external tool: it checks the tool is installed (and the language data we ask for),
says what to install when it is missing, and maps the tool's run-time failures to an empty result
plus a log line, so a bad crop never stops a batch of pages.

Recognition runs in-process through tesserocr (tesseract's C++ API; the model stays loaded, one
engine per thread and mode): a handwriting line then costs ~15 ms instead of the ~140-350 ms of
starting the ``tesseract`` program for each crop. Where tesserocr is not installed, pytesseract
runs the program. Either way the language data is the system's (Debian's tesseract-ocr-vie).

Images are numpy arrays indexed (row, col), uint8 greyscale with 0 = black.
"""

from __future__ import annotations

import functools
import logging
import os
import subprocess
import threading
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytesseract
from PIL import Image

from core.errors import MissingToolError

log = logging.getLogger(__name__)

INSTALL_HINT = "cài tesseract-ocr tesseract-ocr-vie (apt) / install tesseract-ocr tesseract-ocr-vie (apt)"
MIN_CONTRAST = 32  # grey levels between darkest and lightest pixel; below it there is nothing to read
BORDER_PX = 10  # tesseract reads text touching the image edge badly: pad with white
TIMEOUT_S = 20.0  # one region of handwriting never takes this long; a hung process must not stall a batch
PAGE_SEG_MODES = range(14)  # tesseract's --psm values

try:  # the in-process engine; optional so that a platform without its wheel still reads (slowly)
    import tesserocr
except ImportError:  # pragma: no cover - the wheel exists for every platform we ship on
    tesserocr = None

_ENGINES = threading.local()  # tesserocr engines are not thread-safe: one set per thread


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


class OcrResult(NamedTuple):
    text: str  # one line per printed line, spaces collapsed; "" when nothing was read
    confidence: float | None  # tesseract's own mean word confidence, 0-100; None when nothing was read


NOTHING = OcrResult("", None)


def ocr_text(image: np.ndarray, *, lang: str = "vie", psm: int = 7, whitelist: str | None = None) -> str:
    """Recognise the text in ``image`` (uint8 greyscale, (rows, cols), 0 = black); see :func:`ocr_reading`.

    >>> ocr_text(np.full((40, 200), 255, np.uint8), lang="eng")
    ''
    """
    return ocr_reading(image, lang=lang, psm=psm, whitelist=whitelist).text


def ocr_reading(image: np.ndarray, *, lang: str = "vie", psm: int = 7, whitelist: str | None = None) -> OcrResult:
    """The text in ``image`` and how sure tesseract is of it (mean word confidence, 0-100).

    ``psm`` is tesseract's page segmentation mode (7 = one line, 6 = a block of lines);
    ``whitelist`` limits the characters tesseract may answer (e.g. "0123456789-").
    Returns NOTHING when the image is empty or tesseract fails or times out (logged). Raises
    MissingToolError only when tesseract or the language is not installed.
    """
    require_tesseract(lang)
    if image.size == 0 or image.ndim != 2:
        log.warning("OCR skipped: image of shape %s is not a non-empty greyscale array", image.shape)
        return NOTHING
    if int(image.max()) - int(image.min()) < MIN_CONTRAST:
        return NOTHING  # a uniform crop: tesseract would only hallucinate punctuation
    if psm not in PAGE_SEG_MODES:
        log.warning("OCR failed (page segmentation mode %s does not exist); no draft", psm)
        return NOTHING
    padded = np.pad(image.astype(np.uint8, copy=False), BORDER_PX, constant_values=255)
    if tesserocr is not None:
        text, confidence = _recognise_in_process(padded, lang=lang, psm=psm, whitelist=whitelist)
        text = _tidy(text)
        return OcrResult(text, confidence if text else None)
    config = f"--psm {int(psm)}"
    if whitelist:
        config += f" -c tessedit_char_whitelist={whitelist}"
    try:
        data = pytesseract.image_to_data(padded, lang=lang, config=config, timeout=TIMEOUT_S, output_type=pytesseract.Output.DICT)
    except (pytesseract.TesseractError, OSError, subprocess.SubprocessError) as exc:
        log.warning("OCR failed (%s); no draft", exc)
        return NOTHING
    except RuntimeError as exc:  # pytesseract's timeout (TesseractError is caught above)
        log.warning("OCR timed out after %.0f s (%s); no draft", TIMEOUT_S, exc)
        return NOTHING
    return _from_data(data)


def _from_data(data: dict[str, list[Any]]) -> OcrResult:
    """Text and mean word confidence from ``image_to_data`` (words grouped into their lines)."""
    lines: dict[tuple[int, int, int], list[str]] = {}
    confidences = []
    for word, conf, block, par, line in zip(data["text"], data["conf"], data["block_num"], data["par_num"],
                                            data["line_num"], strict=True):
        if str(word).strip() and float(conf) >= 0:
            lines.setdefault((block, par, line), []).append(str(word))
            confidences.append(float(conf))
    text = _tidy("\n".join(" ".join(words) for words in lines.values()))
    return OcrResult(text, sum(confidences) / len(confidences)) if text else NOTHING


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


@functools.cache
def tessdata_dir() -> str:
    """Where the installed tesseract keeps its language data (TESSDATA_PREFIX wins, as for the program)."""
    if os.environ.get("TESSDATA_PREFIX"):
        return os.environ["TESSDATA_PREFIX"]
    tesseract_version()
    listing = subprocess.run(
        [pytesseract.pytesseract.tesseract_cmd, "--list-langs"], capture_output=True, text=True, timeout=30
    )
    first = (listing.stdout or listing.stderr).splitlines()[0] if (listing.stdout or listing.stderr) else ""
    if '"' in first:  # List of available languages in "/usr/share/tesseract-ocr/5/tessdata/" (3):
        return first.split('"')[1]
    found = sorted(Path("/usr/share/tesseract-ocr").glob("*/tessdata"))
    if not found:
        raise MissingToolError(f"Không tìm thấy thư mục dữ liệu của tesseract. {INSTALL_HINT}")
    return str(found[-1])


def _recognise_in_process(image: np.ndarray, *, lang: str, psm: int, whitelist: str | None) -> tuple[str, float | None]:
    engines: dict[tuple[str, int], Any] = _ENGINES.__dict__.setdefault("by_mode", {})
    engine = engines.get((lang, psm))
    if engine is None:
        assert tesserocr is not None
        try:
            engine = tesserocr.PyTessBaseAPI(path=tessdata_dir(), lang=lang, psm=psm)
        except RuntimeError as exc:
            log.warning("OCR failed (tesserocr could not load %s: %s); no draft", lang, exc)
            return "", None
        engines[(lang, psm)] = engine
    engine.SetVariable("tessedit_char_whitelist", whitelist or "")
    try:
        engine.SetImage(Image.fromarray(image))
        if not engine.Recognize(timeout=int(TIMEOUT_S * 1000)):
            log.warning("OCR timed out after %.0f s or failed; no draft", TIMEOUT_S)
            return "", None
        return str(engine.GetUTF8Text()), float(engine.MeanTextConf())
    except RuntimeError as exc:
        log.warning("OCR failed (%s); no draft", exc)
        return "", None
    finally:
        engine.Clear()
