"""Decode rate of scanner.qr on the ZXing black-box QR corpus (../shared/corpora/qr-zxing).

Success means the exact expected text (NAME.txt beside NAME.png), with line ends normalised: the
corpus files hold ``\n`` where several codes encode ``\r\n``. Prints each decoder alone, the
chain as ``scanner.qr.decode`` runs it, and the machine. The corpus is read in place, never copied.

    .venv/bin/python benchmarks/qr_corpus.py [CORPUS_DIR]
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from scanner import qr

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpora" / "qr-zxing"
SETS = [f"qrcode-{i}" for i in range(1, 7)]


def load(corpus: Path) -> list[tuple[Path, np.ndarray, str]]:
    cases = []
    for name in SETS:
        for png in sorted((corpus / name).glob("*.png")):
            image = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
            expected = png.with_suffix(".txt").read_text(encoding="utf-8")
            cases.append((png, image, expected))
    return cases


def run(cases: list[tuple[Path, np.ndarray, str]], **kwargs: object) -> tuple[float, float, list[Path]]:
    """Share read exactly, median ms per image, and the files missed."""
    hits, times, missed = 0, [], []
    for path, image, expected in cases:
        start = time.perf_counter()
        found = qr.decode(image, **kwargs)  # type: ignore[arg-type]
        times.append((time.perf_counter() - start) * 1000)
        if any(d.text.replace("\r\n", "\n") == expected for d in found):
            hits += 1
        else:
            missed.append(path)
    return hits / len(cases), float(np.median(times)), missed


def main() -> None:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_CORPUS
    if not corpus.is_dir():
        sys.exit(f"Không thấy kho ảnh QR {corpus} (corpus not found)")
    cases = load(corpus)
    print(f"{len(cases)} images from {corpus}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}, "
          f"OpenCV {cv2.__version__}")
    for name in qr.DECODERS:
        rate, ms, _ = run(cases, decoders=[name], rescue=False)
        print(f"  {name:<22} {rate:6.1%}  median {ms:6.2f} ms/image")
    rate, ms, _ = run(cases, rescue=False)
    print(f"  {'chain (no rescue)':<22} {rate:6.1%}  median {ms:6.2f} ms/image")
    start = time.perf_counter()
    rate, ms, missed = run(cases)
    total = time.perf_counter() - start
    print(f"  {'chain + rescue':<22} {rate:6.1%}  median {ms:6.2f} ms/image, "
          f"mean {total / len(cases) * 1000:.2f} ms/image")
    print("missed:", ", ".join(str(p.relative_to(corpus)) for p in missed))


if __name__ == "__main__":
    main()
