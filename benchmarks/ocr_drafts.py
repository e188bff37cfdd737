"""Where to set the bar for showing an OCR draft of handwriting to a reviewer (review.ocr_draft_min_confidence).

A draft helps only when it is nearly right (typing over a few letters beats typing the line); a wrong
draft costs the reviewer time and invites a wrong answer. tesseract reports its own confidence (the mean
of its word confidences, 0-100): this script measures how that confidence separates useful drafts from
garbage on real write-in crops, cut and read by the production path (recognition.page.read_page with
OCR, on pages the scanner aligned):

- real Vietnamese text (what people write on "other, please specify" lines: ethnic groups, jobs,
  channels) drawn into the SIPAS write-in lines with the DejaVu fonts (upright, oblique, condensed,
  serif, light and bold), a few degrees of slant, pen-like grey, 2.5-4 mm letters;
- the proving ground's handwriting: cursive-like scribbles (phieu.provingground.filler), which no
  draft can read (every draft of one is garbage);

each page filled, then degraded as an office scanner, a fax or a phone photo would (the proving
ground), found and warped upright by the scanner, and read. A draft is "useful" when its character
error rate against the text written is at most USEFUL_CER. For every bar the table shows which drafts
would be shown: how many are useful, how many are garbage, and how many useful ones are lost.

    .venv/bin/python benchmarks/ocr_drafts.py [--pages 80] [--profiles office,fax,phone] [--seed 1]

Prints the machine and the figures, writes benchmarks/out/ocr_drafts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from core.settings import RecognitionSettings, ScanSettings
from formgen.definition import load_definition
from formgen.layout import HandwritingRegion
from formgen.render import build_form
from phieu.provingground.bundle import stamp
from phieu.provingground.degrade import degrade
from phieu.provingground.filler import fill_page
from phieu.provingground.truth import MarkSpec, SheetTruth, TruthAnswer
from recognition.marks import prepare_blank
from recognition.page import read_page
from scanner.align import find_alignment, warp_to_layout
from scanner.render import render_pdf_page

OUT = Path(__file__).resolve().parent / "out"
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sipas-2024.yaml"
FONTS = Path("/usr/share/fonts/truetype/dejavu")
FACES = ["DejaVuSans.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSansCondensed.ttf", "DejaVuSansCondensed-Oblique.ttf",
         "DejaVuSerif.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSans-ExtraLight.ttf", "DejaVuSans-Bold.ttf"]
WRITTEN = [  # what people write on the "other" lines of SIPAS: ethnic group, job, channel
    "Tày", "Thái", "Mường", "Khmer", "Hoa", "Nùng", "H'Mông", "Dao", "Gia Rai", "Ê Đê", "Ba Na", "Xơ Đăng",
    "Sán Chay", "Cơ Ho", "Chăm", "Sán Dìu", "Hrê", "Mnông", "Ra Glai", "Xtiêng", "Bru Vân Kiều", "Thổ",
    "buôn bán nhỏ", "thợ may", "chạy xe ôm", "giáo viên về hưu", "làm thuê theo mùa", "nội trợ", "thợ xây",
    "bán hàng online", "nuôi trồng thủy sản", "hưu trí", "bộ đội xuất ngũ", "lái xe tải",
    "Zalo của xã", "loa phát thanh thôn", "họp tổ dân phố", "nhóm Facebook của xã", "người quen kể lại",
    "trưởng thôn báo", "cán bộ mặt trận", "Cổng dịch vụ công", "tờ rơi ở bưu điện", "hội phụ nữ xã",
]
USEFUL_CER = 0.25  # at most one letter wrong in four: correcting beats retyping
FILL_DPI = 300.0
SCRIBBLE_SHARE = 0.3


@dataclass
class Sample:
    profile: str
    written: str | None  # None: a proving-ground scribble
    draft: str
    confidence: float | None

    @property
    def cer(self) -> float:
        if self.written is None:
            return 1.0
        return edit_distance(self.draft, self.written) / max(1, len(self.written))

    @property
    def useful(self) -> bool:
        return self.written is not None and self.cer <= USEFUL_CER


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings (characters: a wrong diacritic is a wrong letter)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def write_text(page: np.ndarray, region: HandwritingRegion, text: str, rng: np.random.Generator) -> None:
    """Draw ``text`` into ``region`` of ``page`` (uint8 grey, FILL_DPI) as a pen would: a font, a slant, grey ink."""
    px = FILL_DPI / 25.4
    height_mm = float(rng.uniform(2.5, 4.0))
    font = ImageFont.truetype(str(FONTS / FACES[int(rng.integers(len(FACES)))]), round(height_mm * px / 0.72))
    left, top, right, bottom = font.getbbox(text)
    ink = Image.new("L", (right - left + 20, bottom - top + 20), 0)
    ImageDraw.Draw(ink).text((10 - left, 10 - top), text, fill=255, font=font)
    ink = ink.rotate(float(rng.uniform(-2.5, 2.5)), expand=True, resample=Image.BICUBIC)
    mask = np.asarray(ink, np.float32) / 255
    x = round((region.x + rng.uniform(1.5, 6)) * px)
    y = round((region.y + region.h / 2) * px - mask.shape[0] / 2 + rng.uniform(-0.8, 0.8) * px)
    rows = min(mask.shape[0], page.shape[0] - y)
    cols = min(mask.shape[1], round((region.x + region.w - 1) * px) - x)
    shade = float(rng.uniform(20, 90))
    part = page[y : y + rows, x : x + cols].astype(np.float32)
    m = mask[:rows, :cols]
    page[y : y + rows, x : x + cols] = (part * (1 - m) + shade * m).astype(np.uint8)


def run(pages: int, profiles: list[str], seed: int) -> dict[str, Any]:
    settings = RecognitionSettings()
    dpi = settings.canonical_dpi
    built = build_form(load_definition(EXAMPLE))
    layout = built.layout
    printed = render_pdf_page(stamp(built, [7], bytes(range(32))), 0, dpi=FILL_DPI)
    page = layout.page(1)
    blank = render_pdf_page(built.blank_pdf, 0, dpi=dpi)
    master = prepare_blank(blank[: round(page.height * dpi / 25.4), : round(page.width * dpi / 25.4)], dpi=dpi,
                           settings=settings)
    regions = [r for r in page.regions if r.kind == "writein" and r.option_value]
    rng = np.random.default_rng(seed)
    samples: list[Sample] = []
    for n in range(pages):
        profile = profiles[n % len(profiles)]
        plan = {r.id: (None if rng.random() < SCRIBBLE_SHARE else WRITTEN[int(rng.integers(len(WRITTEN)))]) for r in regions}
        answers = {(r.question, r.id): TruthAnswer(plan[r.id], "review", [MarkSpec(r.id, "write")] if plan[r.id] is None else [])
                   for r in regions}
        filled = fill_page(printed, page, SheetTruth(serial=7, answers=answers), dpi=FILL_DPI, rng=rng)
        for region in regions:
            if plan[region.id] is not None:
                write_text(filled, region, plan[region.id], rng)  # type: ignore[arg-type]
        scanned = degrade(filled, profile, rng, dpi=FILL_DPI)
        alignment = find_alignment(scanned.image, marks=page.marks, dpi=scanned.dpi, settings=ScanSettings())
        if alignment is None:
            continue
        aligned = warp_to_layout(scanned.image, alignment, width_mm=page.width, height_mm=page.height, dpi=dpi)
        reading = read_page(aligned, master, page, layout, dpi=dpi, settings=settings, ocr=True)
        for answer in reading.answers:
            if answer.item in plan and answer.state == "ink":
                samples.append(Sample(profile, plan[answer.item], answer.ocr_draft or "", answer.ocr_confidence))
    return summarise(samples)


def summarise(samples: list[Sample]) -> dict[str, Any]:
    texts = [s for s in samples if s.written is not None]
    scribbles = [s for s in samples if s.written is None]
    useful = [s for s in texts if s.useful]
    table = []
    for bar in range(0, 100, 5):
        shown = [s for s in samples if s.draft and s.confidence is not None and s.confidence >= bar]
        table.append({
            "bar": bar,
            "shown": len(shown),
            "useful_shown": sum(s.useful for s in shown),
            "garbage_shown": sum(not s.useful for s in shown),
            "scribbles_shown": sum(s.written is None for s in shown),
            "useful_lost": len(useful) - sum(s.useful for s in shown),
        })
    # the lowest bar at which at most 1 in 20 drafts shown is garbage (and no scribble's draft is shown)
    chosen = next((row["bar"] for row in table if row["shown"] and row["garbage_shown"] <= 0.05 * row["shown"]
                   and row["scribbles_shown"] == 0), None)
    by_profile = {}
    for profile in sorted({s.profile for s in samples}):
        mine = [s for s in texts if s.profile == profile]
        by_profile[profile] = {"texts": len(mine), "useful": sum(s.useful for s in mine),
                               "median_cer": float(np.median([s.cer for s in mine])) if mine else None}
    return {
        "samples": len(samples), "texts": len(texts), "scribbles": len(scribbles), "useful": len(useful),
        "confidence_useful": _quantiles([s.confidence for s in useful]),
        "confidence_garbage_text": _quantiles([s.confidence for s in texts if not s.useful]),
        "confidence_scribbles": _quantiles([s.confidence for s in scribbles]),
        "by_profile": by_profile, "table": table, "chosen_bar": chosen, "useful_cer": USEFUL_CER,
        "examples": [{"written": s.written, "draft": s.draft, "confidence": s.confidence, "profile": s.profile}
                     for s in samples[:12]],
    }


def _quantiles(values: list[float | None]) -> dict[str, float | int | None]:
    known = [v for v in values if v is not None]
    if not known:
        return {"n": len(values), "unread": len(values)}
    q = np.percentile(known, [5, 25, 50, 75, 95])
    return {"n": len(values), "unread": len(values) - len(known), **{f"p{p}": round(float(v), 1) for p, v in zip((5, 25, 50, 75, 95), q, strict=True)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=80, help="filled pages (two write-in lines each)")
    parser.add_argument("--profiles", default="office,fax,phone")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.perf_counter()
    result = run(args.pages, args.profiles.split(","), args.seed)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["machine"] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                         "python": platform.python_version(), "platform": platform.platform()}
    print("machine:", result["machine"])
    print(f"{result['samples']} write-ins read ({result['texts']} texts, {result['scribbles']} scribbles), "
          f"{result['useful']} useful drafts (CER <= {USEFUL_CER}) in {result['seconds']} s")
    for key in ("confidence_useful", "confidence_garbage_text", "confidence_scribbles"):
        print(f"  {key}: {result[key]}")
    print("  by profile:", result["by_profile"])
    print(" bar  shown  useful  garbage  scribbles  useful lost")
    for row in result["table"]:
        print(f" {row['bar']:>3}  {row['shown']:>5}  {row['useful_shown']:>6}  {row['garbage_shown']:>7}  "
              f"{row['scribbles_shown']:>9}  {row['useful_lost']:>11}")
    print("chosen bar (lowest with <= 5% garbage among drafts shown, no scribble shown):", result["chosen_bar"])
    for example in result["examples"]:
        print("  ", example)
    OUT.mkdir(exist_ok=True)
    (OUT / "ocr_drafts.json").write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print("written", OUT / "ocr_drafts.json")


if __name__ == "__main__":
    main()
