"""Charts of results as PNG pictures (matplotlib, Agg canvas, DejaVu Sans for Vietnamese).

Each function takes plain figures and returns PNG bytes; nothing here reads the database. The
object API (Figure + FigureCanvasAgg) keeps no global state, so the web app may draw from threads.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FONT = "DejaVu Sans"
BAR = "#2166ac"
PREVIOUS = "#999999"
WRAP = 48  # characters per line of a bar label


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure, dpi: int) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=dpi, bbox_inches="tight")
    return out.getvalue()


def _label(text: str) -> str:
    return "\n".join(textwrap.wrap(text, WRAP)[:3]) or " "


def _style(axes: object) -> None:
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)  # type: ignore[attr-defined]


def index_bars(labels: Sequence[str], values: Sequence[float | None], *, previous: Sequence[float | None] | None = None,
               title: str = "", dpi: int = 150, decimals: int = 2) -> bytes:
    """Horizontal bars of index values (0-100), top to bottom in the order given; the earlier round as ticks."""
    rows = len(labels)
    figure = _figure(7.5, 0.9 + 0.42 * max(rows, 1))
    axes = figure.add_subplot()
    positions = list(range(rows))[::-1]
    shown = [v if v is not None else 0.0 for v in values]
    bars = axes.barh(positions, shown, color=BAR, height=0.6)
    for bar, value in zip(bars, values, strict=True):
        text = "—" if value is None else f"{value:.{decimals}f}".replace(".", ",")
        axes.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, text, va="center", fontsize=9, family=FONT)
    if previous is not None:
        points = [(p, v) for p, v in zip(positions, previous, strict=True) if v is not None]
        if points:
            axes.scatter([v for _, v in points], [p for p, _ in points], marker="|", s=260, color=PREVIOUS,
                         label="Kỳ trước", zorder=3)
            axes.legend(loc="lower right", fontsize=8, prop={"family": FONT, "size": 8}, frameon=False)
    axes.set_yticks(positions, [_label(t) for t in labels], fontsize=9, family=FONT)
    axes.set_xlim(0, 110)
    axes.set_xlabel("%", family=FONT)
    if title:
        axes.set_title(title, fontsize=11, family=FONT, loc="left")
    _style(axes)
    return _png(figure, dpi)


def stacked_shares(rows: Sequence[str], levels: Sequence[str], counts: Sequence[Sequence[int]], *, title: str = "",
                   dpi: int = 150) -> bytes:
    """One 100 % bar per grid row, a segment per scale level (share of its valid answers)."""
    n = len(rows)
    figure = _figure(8.0, 1.3 + 0.36 * max(n, 1))
    axes = figure.add_subplot()
    positions = list(range(n))[::-1]
    left = [0.0] * n
    for k, level in enumerate(levels):
        shares = [row[k] * 100.0 / sum(row) if sum(row) else 0.0 for row in counts]
        colour = _scale_colour(k, len(levels))
        axes.barh(positions, shares, left=left, color=colour, height=0.7, label=level)
        for p, share, start in zip(positions, shares, left, strict=True):
            if share >= 7:
                axes.text(start + share / 2, p, f"{share:.0f}", ha="center", va="center", fontsize=7, family=FONT,
                          color="white" if k in (0, len(levels) - 1) else "black")
        left = [a + b for a, b in zip(left, shares, strict=True)]
    axes.set_yticks(positions, [_label(t) for t in rows], fontsize=8, family=FONT)
    axes.set_xlim(0, 100)
    axes.set_xlabel("% câu trả lời hợp lệ", family=FONT, fontsize=8)
    axes.legend(ncol=min(len(levels), 5), loc="upper center", bbox_to_anchor=(0.5, -0.08 - 0.4 / max(n, 1)),
                prop={"family": FONT, "size": 7}, frameon=False)
    if title:
        axes.set_title(title, fontsize=10, family=FONT, loc="left")
    _style(axes)
    return _png(figure, dpi)


def _scale_colour(k: int, levels: int) -> str:
    """Diverging colours from the lowest level (red) to the highest (blue)."""
    if levels <= 1:
        return BAR
    palette = ["#b2182b", "#ef8a62", "#fddbc7", "#d9d9d9", "#d1e5f0", "#67a9cf", "#2166ac"]
    return palette[round(k * (len(palette) - 1) / (levels - 1))]


def choice_bars(labels: Sequence[str], counts: Sequence[int], *, base: int, title: str = "", dpi: int = 150) -> bytes:
    """Bars of how many chose each option, as a share of ``base`` answers (shares may add past 100 %
    for a multiple-choice question)."""
    n = len(labels)
    figure = _figure(7.5, 0.9 + 0.36 * max(n, 1))
    axes = figure.add_subplot()
    positions = list(range(n))[::-1]
    shares = [c * 100.0 / base if base else 0.0 for c in counts]
    bars = axes.barh(positions, shares, color=BAR, height=0.6)
    for bar, count, share in zip(bars, counts, shares, strict=True):
        axes.text(bar.get_width() + 1, bar.get_y() + bar.get_height() / 2, f"{count} ({share:.1f}%)".replace(".", ","),
                  va="center", fontsize=8, family=FONT)
    axes.set_yticks(positions, [_label(t) for t in labels], fontsize=8, family=FONT)
    axes.set_xlim(0, max(shares + [0.0]) * 1.25 + 5)
    axes.set_xlabel("%", family=FONT, fontsize=8)
    if title:
        axes.set_title(title, fontsize=10, family=FONT, loc="left")
    _style(axes)
    return _png(figure, dpi)


def histogram(values: Sequence[int], *, title: str = "", dpi: int = 150) -> bytes:
    """Distribution of a number question (e.g. age) in bins of equal width."""
    figure = _figure(7.5, 2.6)
    axes = figure.add_subplot()
    if values:
        low, high = min(values), max(values)
        width = max(1, (high - low + 10) // 10)
        axes.hist(values, bins=range(low, high + width + 1, width), color=BAR, edgecolor="white")
    axes.set_ylabel("Số phiếu", family=FONT, fontsize=8)
    if title:
        axes.set_title(title, fontsize=10, family=FONT, loc="left")
    _style(axes)
    return _png(figure, dpi)


def message(text: str, *, dpi: int = 150) -> bytes:
    """A small picture holding only ``text`` (where there is nothing to draw)."""
    figure = _figure(5.0, 0.8)
    figure.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, family=FONT, color="#556677")
    return _png(figure, dpi)
