"""Real pen marks: cut from real filled answer sheets, pasted onto ours.

A ``RealMark`` is the ink of one filled box of a real scan with the printed frame taken out: a
uint8 darkness window (0 = paper, 255 = black ink) round the box, and where the box lay in it
(centre and side, pixels). ``paste_mark`` scales it so that box becomes ours (5.5 mm), keeping the
mark's real shape, texture and overshoot, and darkens the page multiplicatively.

``cut_marks`` finds the printed answer boxes of a scanned page (square frames: the empty ones by
their square hole, the filled ones by their frame, snapped to the rows and columns of the empty
ones when a fill hides the frame), estimates each filled box's printed content from the empty
boxes of the same page (frame, and a letter or digit printed inside), treats those pixels as
unknown and fills them in from the ink around (so a stroke crossing the frame stays whole), and
keeps the ink connected to the box's inside. Marks that run off the window or merge with text
are left out.

The corpus itself (Auto Multiple Choice's test scans, GPL-2.0-or-later) is read at benchmark time
from ``../shared``; nothing cut from it is ever stored in this repository (``load_bank`` caches
under a folder the caller gives, e.g. ``/tmp`` or ``benchmarks/out``). Its sources are split in two
halves by test folder (``split_of``): marks tuned on never judge the final figures.
"""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image, ImageSequence

from formgen.layout import Rect

log = logging.getLogger(__name__)

MM_PER_INCH = 25.4
CUTTER_VERSION = 5  # part of the cache key: bump when the cutter changes
Split = Literal["tune", "final"]

# Sources filled by hand, looked at one by one (contact sheets and crops at full resolution), with the
# quarter turns (counter-clockwise) that make each page upright. Left out as filled digitally (perfect
# discs or squares, mouse-drawn strokes): globalenv, ignore-red, ignoreblank, keepas, latexmk+pythontex,
# mult-copies, multi-scan-mode, multicode, numeric (brush blobs, pasted white patches), numeric-zero, overlay,
# pdf-password, topics, topics_aggregate, topics_decimals, formes, association-export; and survey (its
# boxes sit on lines).
HAND_FILLED: dict[str, int] = {
    "0assoc": 0, "allowempty": 0, "answer-score-0": 0, "ballot": 0, "base2decimals": 0, "code+scoring": 0,
    "codegrid": 0, "csv-ab-completemulti": 0, "dontscan": 0, "expo": 0, "formS+rotate": 2, "images": 0,
    "modulo": 0, "multicol_dims": 0, "multiple": 0, "numeric-array": 0, "ordered": 0,
    "photocopy2pages": 0, "postcorrect": 0, "rotate": 0, "stats": 0, "topics_allowempty": 0, "tvhead": 0,
    "upgrade": 0, "verbatim": 0, "version-id": 0,
}
TURNED_FILES: dict[str, int] = {"rotate/scans/a-1.tif": 2, "multiple/scans/image_3.tif": 2}
SKIPPED_FILES: tuple[str, ...] = ()
IMAGE_SUFFIXES = (".tif", ".tiff", ".png", ".jpg", ".jpeg", ".pdf")


@dataclass(frozen=True)
class RealMark:
    alpha: np.ndarray  # uint8 darkness (0 paper .. 255 black) of the ink round one box, frame removed
    centre: tuple[float, float]  # (x, y) of the printed box's centre in ``alpha``, px
    side: float  # the printed box's outer side, px
    solid: bool  # the box filled (a fill, or a scribbled-out box) rather than ticked or crossed
    source: str  # "folder/file#page"


@dataclass
class MarkBank:
    """Real marks to paste; ``pick`` draws one (solid or not) with the filler's hand."""

    marks: list[RealMark] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.marks)

    def pick(self, rng: np.random.Generator, *, solid: bool) -> RealMark:
        pool = [m for m in self.marks if m.solid == solid] or self.marks
        if not pool:
            raise ValueError("the mark bank is empty")
        return pool[int(rng.integers(len(pool)))]

    def sources(self) -> set[str]:
        return {m.source.split("#")[0] for m in self.marks}


def paste_mark(image: np.ndarray, box: Rect, mark: RealMark, *, dpi: float, rng: np.random.Generator) -> None:
    """Darken ``image`` (uint8 grey, 0 = black) in place with ``mark`` scaled onto ``box`` (mm).

    The real box's side becomes ``box.w`` (within ±7 %, as hands vary), turned by a few degrees.
    """
    s = dpi / MM_PER_INCH
    k = box.w * s / mark.side * float(rng.uniform(0.93, 1.07))
    angle = float(rng.uniform(-5, 5))
    cx, cy = (box.x + box.w / 2) * s + rng.normal(0, 0.15 * s), (box.y + box.h / 2) * s + rng.normal(0, 0.15 * s)
    m = np.asarray(cv2.getRotationMatrix2D(mark.centre, angle, k), np.float64)
    m[:, 2] += (cx - mark.centre[0], cy - mark.centre[1])
    h, w = mark.alpha.shape
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], float) @ m.T
    x0, y0 = np.floor(corners.min(axis=0)).astype(int)
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
    x0, y0 = max(0, int(x0)), max(0, int(y0))
    x1, y1 = min(image.shape[1], int(x1)), min(image.shape[0], int(y1))
    if x1 <= x0 or y1 <= y0:
        return
    m[:, 2] -= (x0, y0)
    alpha = cv2.warpAffine(mark.alpha, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=0)
    patch = image[y0:y1, x0:x1].astype(np.float32)
    image[y0:y1, x0:x1] = np.clip(patch * (1.0 - alpha.astype(np.float32) / 255.0), 0, 255).astype(np.uint8)


# --- sources --------------------------------------------------------------------------------------


SPLIT_SALT = "3"  # chosen (before any reading was measured) so both halves hold strokes and fills alike


def split_of(source: str) -> Split:
    """The half a source belongs to, by its test folder (so one person's sheets stay together)."""
    folder = source.split("/", 1)[0]
    return "tune" if hashlib.sha256((SPLIT_SALT + folder).encode()).digest()[0] % 2 == 0 else "final"


def source_files(root: Path) -> list[Path]:
    """The hand-filled scans under ``root`` (the amc-scans corpus), in a fixed order."""
    files = []
    for folder in sorted(HAND_FILLED):
        for path in sorted((root / folder).rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.suffix.lower() in IMAGE_SUFFIXES and not rel.startswith(SKIPPED_FILES):
                files.append(path)
    return files


def read_pages(path: Path, *, pdf_dpi: float = 300.0) -> Iterator[tuple[np.ndarray, float]]:
    """(upright grey page, dpi) for every page of a scan file; transparency becomes white paper."""
    if path.suffix.lower() == ".pdf":
        import pypdfium2 as pdfium

        try:
            doc = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            log.info("%s: skipped (%s)", path, exc)
            return
        for page in doc:
            yield np.asarray(page.render(scale=pdf_dpi / 72).to_pil().convert("L")), pdf_dpi
        return
    with Image.open(path) as im:
        dpi = float((im.info.get("dpi") or (0, 0))[0] or 0) or _guess_dpi(im.size)
        for frame in ImageSequence.Iterator(im):
            rgba = frame.convert("RGBA")
            paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            paper.alpha_composite(rgba)
            yield np.asarray(paper.convert("L")), dpi


def _guess_dpi(size: tuple[int, int]) -> float:
    return max(size) / (297 / MM_PER_INCH)


def load_bank(root: Path, split: Split, *, cache_dir: Path | None = None) -> MarkBank:
    """Every real mark of one half of the corpus at ``root``, cut once and cached in ``cache_dir``."""
    files = source_files(root)
    if not files:
        raise FileNotFoundError(f"{root}: no hand-filled scans found (expected the amc-scans corpus)")
    key = hashlib.sha256(repr((CUTTER_VERSION, [(f.relative_to(root).as_posix(), f.stat().st_size)
                                                   for f in files])).encode()).hexdigest()[:16]
    cache = (cache_dir / f"amc-marks-{key}.pickle") if cache_dir else None
    if cache is not None and cache.exists():
        marks: list[RealMark] = pickle.loads(cache.read_bytes())
    else:
        marks = []
        for path in files:
            rel = path.relative_to(root).as_posix()
            turns = TURNED_FILES.get(rel, HAND_FILLED[rel.split("/", 1)[0]])
            for number, (page, dpi) in enumerate(read_pages(path)):
                marks += cut_marks(np.rot90(page, turns).copy(), dpi=dpi, source=f"{rel}#{number}")
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            cache.write_bytes(pickle.dumps(marks))
    return MarkBank([m for m in marks if split_of(m.source) == split])


# --- cutting -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Boxes:
    centres: np.ndarray  # (n, 2) x, y of the empty boxes
    hole: float  # inner side, px
    side: float  # outer side, px
    frame: float  # frame thickness, px


def cut_marks(page: np.ndarray, *, dpi: float, source: str) -> list[RealMark]:
    """The real marks of one upright grey page (uint8, 0 = black); [] when it has too few boxes."""
    dark = _dark(page)
    boxes = _empty_boxes(dark, dpi)
    if boxes is None:
        return []
    angle = _skew(dark, boxes, dpi)
    if abs(angle) > 0.3:
        h, w = page.shape
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        page = cv2.warpAffine(page, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=255)
        dark = _dark(page)
        boxes = _empty_boxes(dark, dpi)
        if boxes is None:
            return []
    paper = float(np.percentile(page, 95))
    marks = []
    for centre in _filled_boxes(dark, boxes):
        mark = _cut(page, dark, boxes, centre, paper, source)
        if mark is not None:
            marks.append(mark)
    return marks


def _dark(page: np.ndarray) -> np.ndarray:
    level, _ = cv2.threshold(page, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return (page < float(np.clip(level + 1, 80, 170))).astype(np.uint8)


def _empty_boxes(dark: np.ndarray, dpi: float) -> _Boxes | None:
    """Empty printed boxes: square holes 1.6-6.5 mm wide with nothing inside, of the page's usual size."""
    s = dpi / MM_PER_INCH
    contours, hierarchy = cv2.findContours(dark, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return None
    found = []
    for contour, (_n, _p, child, parent) in zip(contours, hierarchy[0], strict=True):
        if parent < 0 or child >= 0:  # a hole with something inside it is not an empty box
            continue
        x, y, w, h = cv2.boundingRect(contour)
        if not (1.6 * s <= w <= 6.5 * s and 0.8 < w / max(h, 1) < 1.25):
            continue
        if cv2.contourArea(contour) < 0.8 * w * h:
            continue
        found.append((x + w / 2, y + h / 2, (w + h) / 2))
    if len(found) < 4:
        return None
    sizes = np.array([f[2] for f in found])
    usual = float(np.median(sizes))
    keep = np.array([f for f in found if abs(f[2] - usual) < 0.2 * usual])
    if len(keep) < 4:
        return None
    frame = _frame_width(dark, keep)
    return _Boxes(keep[:, :2], usual, usual + 2 * frame, frame)


def _frame_width(dark: np.ndarray, holes: np.ndarray) -> float:
    """Median run of dark pixels just left of each hole, along its middle row."""
    runs = []
    for x, y, side in holes[:40]:
        row, col = int(round(y)), int(round(x - side / 2)) - 1
        run = 0
        while col - run >= 0 and dark[row, col - run] and run < side:
            run += 1
        if run:
            runs.append(run)
    return float(np.median(runs)) if runs else 2.0


def _skew(dark: np.ndarray, boxes: _Boxes, dpi: float) -> float:
    """Page skew (degrees, counter-clockwise as displayed) from the empty boxes' outlines."""
    angles = []
    for x, y in boxes.centres[:60]:
        r = int(boxes.side)
        patch = dark[max(0, int(y) - r) : int(y) + r, max(0, int(x) - r) : int(x) + r]
        contours, _ = cv2.findContours(patch, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if contours:
            (_c, (w, h), a) = cv2.minAreaRect(max(contours, key=cv2.contourArea))
            if min(w, h) > 0.7 * boxes.side:
                angles.append((a + 45) % 90 - 45)
    return -float(np.median(angles)) if angles else 0.0


def _ring_kernel(boxes: _Boxes) -> np.ndarray:
    n = int(round(boxes.side)) | 1
    k = np.zeros((n, n), np.float32)
    t = max(1, int(round(boxes.frame)))
    k[:t, :] = k[-t:, :] = k[:, :t] = k[:, -t:] = 1.0
    return k / k.sum()


def _filled_boxes(dark: np.ndarray, boxes: _Boxes) -> list[tuple[float, float]]:
    """Centres of boxes whose frame is there but whose inside is inked (or whose frame a fill hides,
    when a row or column of empty boxes says where it must be)."""
    near = cv2.dilate(dark, np.ones((3, 3), np.uint8))  # a frame a pixel off the kernel's line still counts
    score = cv2.filter2D(near.astype(np.float32), -1, _ring_kernel(boxes), borderType=cv2.BORDER_CONSTANT)
    size = int(boxes.side * 0.6) | 1
    peaks = (score >= 0.85) & (score >= cv2.dilate(score, np.ones((size, size), np.uint8)))
    ys, xs = np.nonzero(peaks)
    found: list[tuple[float, float]] = []
    side, empties = boxes.side, boxes.centres
    for x, y in sorted(zip(xs.tolist(), ys.tolist(), strict=True), key=lambda p: -score[p[1], p[0]]):
        if np.hypot(*(empties - (x, y)).T).min() < 0.3 * side:
            continue
        if found and min(np.hypot(fx - x, fy - y) for fx, fy in found) < 0.6 * side:
            continue
        snapped = _snap(score, empties, float(x), float(y), side)
        if snapped is None:
            continue
        fx, fy = snapped
        neighbours = np.r_[np.hypot(*(empties - (fx, fy)).T), [np.hypot(ox - fx, oy - fy) for ox, oy in found] or [9e9]]
        if neighbours.min() < 1.15 * side:  # cells that touch: a printed code strip, not answer boxes
            continue
        inner = _inside(dark, boxes, fx, fy)
        if inner.size and inner.mean() > 0.06:
            found.append((fx, fy))
    others = found + [(float(x), float(y)) for x, y in boxes.centres]
    return [c for c in found if not _printed_twin(dark, boxes, c, others)]


def _inside(dark: np.ndarray, boxes: _Boxes, x: float, y: float) -> np.ndarray:
    r = boxes.hole / 2
    return dark[int(y - r) + 1 : int(y + r), int(x - r) + 1 : int(x + r)]


def _printed_twin(dark: np.ndarray, boxes: _Boxes, centre: tuple[float, float], others: list[tuple[float, float]]) -> bool:
    """Whether another box holds the very same ink (a digit or letter printed in both): print, not a mark.
    Hands never draw the same stroke twice; solid fills are left to the other checks."""
    mine = _inside(dark, boxes, *centre).astype(bool)
    if not mine.size or mine.mean() >= 0.5:
        return False
    for other in others:
        if other == centre:
            continue
        theirs = _inside(dark, boxes, *other).astype(bool)
        if theirs.shape != mine.shape:
            continue
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                shifted = np.roll(theirs, (dy, dx), axis=(0, 1))
                union = int((shifted | mine).sum())
                if union and (shifted & mine).sum() / union > 0.88:  # print repeats itself; two hand crosses do not
                    return True
    return False


def _snap(score: np.ndarray, empties: np.ndarray, x: float, y: float, side: float) -> tuple[float, float] | None:
    """The box position: the peak when it is sharp; else the column and row of empty boxes beside it."""
    r = int(side * 0.6)
    y0, x0 = max(0, int(y) - r), max(0, int(x) - r)
    window = score[y0 : int(y) + r + 1, x0 : int(x) + r + 1]
    plateau_y, plateau_x = np.nonzero(window >= score[int(y), int(x)] - 0.03)
    sharp_x, sharp_y = np.ptp(plateau_x) <= 4, np.ptp(plateau_y) <= 4
    if not sharp_x:
        column = empties[np.abs(empties[:, 0] - x) < 0.6 * side]
        if not len(column):
            return None
        x = float(np.median(column[:, 0]))
    if not sharp_y:
        row = empties[np.abs(empties[:, 1] - y) < 0.6 * side]
        if not len(row):
            return None
        y = float(np.median(row[:, 1]))
    return (x, y) if score[int(round(y)), int(round(x))] >= 0.8 else None


def _cut(page: np.ndarray, dark: np.ndarray, boxes: _Boxes, centre: tuple[float, float], paper: float,
         source: str) -> RealMark | None:
    half = int(round(boxes.side * 1.4))
    cx, cy = int(round(centre[0])), int(round(centre[1]))
    h, w = page.shape
    if cx - half < 0 or cy - half < 0 or cx + half >= w or cy + half >= h:
        return None
    crop = page[cy - half : cy + half + 1, cx - half : cx + half + 1].astype(np.float32)
    printed, matched = _printed(page, dark, boxes, crop, half)
    alpha = np.clip((paper - crop) / max(paper, 1.0), 0.0, 1.0)
    a8 = cv2.inpaint((alpha * 255).astype(np.uint8), printed, 2, cv2.INPAINT_TELEA)
    ink = (a8 > 64).astype(np.uint8)
    count, labels = cv2.connectedComponents(ink, connectivity=8)
    inset = int(boxes.hole * 0.3)
    core = labels[half - inset : half + inset + 1, half - inset : half + inset + 1]
    keep = np.isin(labels, [v for v in np.unique(core) if v]) if count > 1 else np.zeros_like(ink, bool)
    if not keep.any() or keep[0].any() or keep[-1].any() or keep[:, 0].any() or keep[:, -1].any():
        return None  # nothing inside, or ink running off the window (into text, lines, another mark)
    a8 = np.where(cv2.dilate(keep.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0, a8, 0).astype(np.uint8)
    r = int(boxes.hole * 0.45)
    inner = a8[half - r : half + r + 1, half - r : half + r + 1] > 90
    cover = float(inner.mean())
    ys, xs = np.nonzero(a8 > 64)
    off_centre = max(abs(xs.mean() - half), abs(ys.mean() - half)) > boxes.side / 2
    solid = cover >= 0.5
    span_x, span_y = float(np.ptp(xs)), float(np.ptp(ys))
    wide = max(span_x, span_y) > 2.2 * boxes.side or span_x > 1.6 * max(span_y, 1.0)
    if cover < 0.08 or off_centre or (solid and wide):  # a printed bar or arrow, not a filled box
        return None
    if max(span_x, span_y) > 2.0 * boxes.side:  # a word written across the box, not a mark in it
        return None
    q = boxes.side / 2
    label = a8[int(half - 0.5 * q) : int(half + 0.5 * q), int(half + 1.3 * q) : int(half + 2.8 * q)] > 64
    if not solid and label.size and label.mean() > 0.04:  # ink through the printed label: the label came along
        return None
    if not solid and matched < 0.85:  # print round the box unlike any empty box's: left in the mark
        return None
    return RealMark(a8, (float(half), float(half)), boxes.side, solid, source)


def _printed(
    page: np.ndarray, dark: np.ndarray, boxes: _Boxes, crop: np.ndarray, half: int
) -> tuple[np.ndarray, float]:
    """Pixels of the window that hold print: those of the empty box of this page whose window matches
    the crop best (all its print under the crop's ink: the same frame, the same letter inside, the
    same labels and neighbours round it, as along a row of a grid), shifted onto the crop; and the
    share of that box's print found under the crop's ink."""
    crop_dark = (crop < 128).astype(np.uint8)
    near = cv2.dilate(crop_dark, np.ones((3, 3), np.uint8)).astype(bool)
    zone = np.zeros_like(near)  # the box and the labels right round it (not the neighbouring boxes)
    r = int(boxes.side * 0.85)
    zone[half - r : half + r + 1, half - r : half + r + 1] = True
    best, best_cover, best_at = None, -1.0, (0, 0)
    for x, y in boxes.centres[:150]:
        ex, ey = int(round(x)), int(round(y))
        if ex - half < 0 or ey - half < 0 or ex + half >= page.shape[1] or ey + half >= page.shape[0]:
            continue
        template = page[ey - half : ey + half + 1, ex - half : ex + half + 1] < 128
        total = int((template & zone).sum())
        cover = float((template & near & zone).sum()) / total if total else 0.0
        if cover > best_cover:
            best, best_cover, best_at = template, cover, (ex, ey)
    if best is None:
        return np.zeros_like(crop_dark), 0.0
    shifts = [(dx, dy) for dy in range(-2, 3) for dx in range(-2, 3)]
    dx, dy = max(shifts, key=lambda d: int((np.roll(best, d, axis=(1, 0)) & crop_dark.astype(bool)).sum()))
    # the print's grey rim too (scanner blur), or a faint ghost of the frame would come along
    halo = page[best_at[1] - half : best_at[1] + half + 1, best_at[0] - half : best_at[0] + half + 1] < 215
    printed = np.roll(halo, (dx, dy), axis=(1, 0)).astype(np.uint8)
    return cv2.dilate(printed, np.ones((3, 3), np.uint8)), best_cover
