"""The operations chart as a picture (PNG, drawn with Pillow and DejaVu Sans): one bar per unit, split
into what is final, scanned, collected, still out, failed (refused/absent waiting, lost) and in stock,
with a tick at the quota."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from fieldwork.operations import OpsRow
from formgen.fonts import BOLD, FONT_DIRS, REGULAR

SEGMENTS = (  # (label, colour, share of a row's sheets)
    ("Hoàn tất", (27, 94, 32)),
    ("Đã quét", (67, 160, 71)),
    ("Đã thu", (165, 214, 167)),
    ("Đang ở ngoài", (255, 167, 38)),
    ("Mất phiếu", (211, 47, 47)),
    ("Chưa phát", (200, 200, 200)),
)
ROW_PX, LABEL_PX, BAR_PX, PAD = 26, 330, 640, 16


def pick_rows(rows: Sequence[OpsRow], limit: int = 40) -> list[OpsRow]:
    """The deepest level of the frame that fits in ``limit`` bars (the counters, or the villages)."""
    levels = sorted({r.level for r in rows if r.unit_id is not None}, reverse=True)
    for level in levels:
        chosen = [r for r in rows if r.level == level and r.unit_id is not None]
        if len(chosen) <= limit:
            return chosen
    return [r for r in rows if r.level == (levels[-1] if levels else 0)][:limit]


def chart_png(rows: Sequence[OpsRow], title: str) -> bytes:
    rows = list(rows)
    height = PAD * 3 + 30 + ROW_PX * max(1, len(rows)) + 40
    width = LABEL_PX + BAR_PX + 90
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    regular, bold = _font(REGULAR, 14), _font(BOLD, 16)
    draw.text((PAD, PAD), title, font=bold, fill="black")
    top = PAD * 2 + 24
    scale = max([max(r.counts.printed, r.quota or 0) for r in rows] or [1]) or 1
    for i, row in enumerate(rows):
        y = top + i * ROW_PX
        label = f"{row.name} ({row.key})"
        while draw.textlength(label, font=regular) > LABEL_PX - PAD * 2 and len(label) > 4:
            label = label[:-2].rstrip() + "…"
        draw.text((PAD, y + 4), label, font=regular, fill="black")
        x: float = LABEL_PX
        for (_, colour), count in zip(SEGMENTS, _parts(row), strict=True):
            span = count / scale * BAR_PX
            if span > 0:
                draw.rectangle([x, y + 3, x + span, y + ROW_PX - 5], fill=colour)
            x += span
        if row.quota:
            qx = LABEL_PX + row.quota / scale * BAR_PX
            draw.line([qx, y, qx, y + ROW_PX - 2], fill="black", width=3)
        draw.text((LABEL_PX + BAR_PX + 8, y + 4), f"{row.counts.collected}/{row.quota or '-'}", font=regular,
                  fill="black")
    _legend(draw, regular, PAD, top + len(rows) * ROW_PX + PAD)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _parts(row: OpsRow) -> list[int]:
    c = row.counts
    waiting = c.outstanding
    return [c.final, c.scanned - c.final, c.collected - c.scanned, waiting, c.lost, c.in_stock]


def _legend(draw: ImageDraw.ImageDraw, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, x: float, y: float) -> None:
    for label, colour in SEGMENTS:
        draw.rectangle([x, y + 3, x + 14, y + 17], fill=colour)
        draw.text((x + 20, y + 1), label, font=font, fill="black")
        x += 40 + draw.textlength(label, font=font)
    draw.line([x, y + 2, x, y + 18], fill="black", width=3)
    draw.text((x + 8, y + 1), "chỉ tiêu", font=font, fill="black")


def _font(name: str, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for folder in FONT_DIRS:
        path = folder / f"{name}.ttf"
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default()
