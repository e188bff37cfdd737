"""QR decoding: one thin wrapper per decoder, chained fastest and best first.

Measured on the 179 ZXing black-box images (see benchmarks/qr_corpus.py): zxing-cpp reads the most
in well under a millisecond, OpenCV's WeChat detector reads a few that zxing-cpp misses, pyzbar
rarely adds anything but costs little when the others have already failed. ``decode`` stops at the
first decoder whose result is accepted, then (only for images every decoder failed on) retries
the chain on cheap preprocessing variants: upscaled when small, Otsu-binarised, sharpened.

Coordinates: images are numpy (row, col) arrays; corners are (x, y) with x = column.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import cv2
import numpy as np

from core.errors import MissingToolError

log = logging.getLogger(__name__)

DECODERS: tuple[str, ...] = ("zxing", "wechat", "zbar")
# Images whose short side is below this are also tried upscaled (small modules defeat the finders).
_SMALL_SIDE_PX = 600

_INSTALL_HINT = {
    "zxing": "pip install zxing-cpp",
    "wechat": "pip install opencv-contrib-python-headless (bản có cv2.wechat_qrcode)",
    "zbar": "pip install pyzbar, và apt-get install libzbar0",
}


@dataclass(frozen=True)
class Decoded:
    """One decoded code: its text, the decoder that read it and its corners when known.

    ``corners`` is a (4, 2) float array of (x, y) image pixels (OpenCV convention, pixel centres at
    integers) of the symbol's outer corners in the code's own order top-left, top-right,
    bottom-right, bottom-left, so it also tells the code's orientation.
    """

    text: str
    decoder: str
    corners: np.ndarray | None = None
    modules: int | None = None  # symbol side in modules (21 + 4 per version above 1), when known


def _zxing(image: np.ndarray) -> list[Decoded]:
    import zxingcpp

    found = []
    for b in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)):
        p = b.position
        pts = [p.top_left, p.top_right, p.bottom_right, p.bottom_left]
        # zxing-cpp reports the symbol's outer edges on the pixel grid: shift to pixel centres.
        corners = np.array([[q.x, q.y] for q in pts], dtype=np.float64) - 0.5
        version = str(b.extra.get("Version", "")) if isinstance(b.extra, dict) else ""
        modules = 17 + 4 * int(version) if version.isdigit() else None
        found.append(Decoded(b.text, "zxing", corners, modules))
    return found


@cache
def _wechat_detector() -> Any:
    # Without model files the detector uses OpenCV's classic finder plus WeChat's decoder.
    return cv2.wechat_qrcode_WeChatQRCode()  # type: ignore[attr-defined]


def _wechat(image: np.ndarray) -> list[Decoded]:
    try:
        texts, points = _wechat_detector().detectAndDecode(image)
    except UnicodeDecodeError:  # a code in a legacy charset (Shift-JIS): not ours, and unreadable here
        return []
    found = []
    for text, pts in zip(texts, points, strict=False):
        found.append(Decoded(text, "wechat", np.asarray(pts, dtype=np.float64).reshape(4, 2)))
    return found


def _zbar(image: np.ndarray) -> list[Decoded]:
    from pyzbar import pyzbar

    found = []
    for sym in pyzbar.decode(image, symbols=[pyzbar.ZBarSymbol.QRCODE]):
        try:
            text = sym.data.decode("utf-8")
        except UnicodeDecodeError:
            text = sym.data.decode("latin-1")
        found.append(Decoded(text, "zbar", None))  # zbar's polygon order carries no orientation
    return found


_READERS: dict[str, Callable[[np.ndarray], list[Decoded]]] = {"zxing": _zxing, "wechat": _wechat, "zbar": _zbar}


@cache
def available(name: str) -> bool:
    """True when decoder ``name`` can be loaded here (logs once what to install when it cannot)."""
    try:
        if name == "zxing":
            import zxingcpp  # noqa: F401
        elif name == "wechat":
            _wechat_detector()
        elif name == "zbar":
            from pyzbar import pyzbar  # noqa: F401
        else:
            return False
    except (ImportError, AttributeError, OSError, cv2.error) as exc:
        log.warning("Bộ đọc mã QR %s không dùng được (%s); cài: %s", name, exc, _INSTALL_HINT[name])
        return False
    return True


def _variants(image: np.ndarray) -> Iterator[np.ndarray]:
    """Cheap rescue images for codes every decoder missed: larger, binarised, sharpened."""
    if min(image.shape[:2]) < _SMALL_SIDE_PX:
        yield cv2.resize(image, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC)
    _, otsu = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    yield otsu
    blurred = cv2.GaussianBlur(image, (0, 0), 2.0)
    yield cv2.addWeighted(image, 2.0, blurred, -1.0, 0)


def decode(
    image: np.ndarray,
    *,
    accept: Callable[[str], bool] | None = None,
    decoders: Sequence[str] = DECODERS,
    rescue: bool = True,
) -> list[Decoded]:
    """Decode the QR codes in a uint8 greyscale (rows, cols) image.

    Decoders run in the given order; the first one that returns an accepted text ends the chain
    (``accept`` defaults to any non-empty text). Returns that decoder's accepted results, or an
    empty list when nothing was read. Raises MissingToolError when no decoder is installed at all.
    """
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    image = np.ascontiguousarray(image, dtype=np.uint8)
    ok = accept or bool
    usable = [d for d in decoders if available(d)]
    if not usable:
        hints = "; ".join(_INSTALL_HINT[d] for d in decoders if d in _INSTALL_HINT)
        raise MissingToolError(f"Không có bộ đọc mã QR nào (no QR decoder installed). Cài: {hints}")
    for name in usable:
        found = [d for d in _READERS[name](image) if ok(d.text)]
        if found:
            return found
    if rescue:
        for variant in _variants(image):
            for name in usable:
                found = [d for d in _READERS[name](variant) if ok(d.text)]
                if found:
                    return [_rescale(d, image.shape[1] / variant.shape[1]) for d in found]
    return []


def _rescale(found: Decoded, scale: float) -> Decoded:
    # Pixel centres: x_original + 0.5 = (x_variant + 0.5) * scale.
    corners = None if found.corners is None else (found.corners + 0.5) * scale - 0.5
    return Decoded(found.text, found.decoder, corners, found.modules)
