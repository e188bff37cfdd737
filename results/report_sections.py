"""The later sections of the report (``results.report``): sheets returned, every question's distribution,
the expectations ranking, the comments per unit, the methods page."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, PageBreak, Spacer

from results import charts
from results.dataset import Column
from results.distribution import Distribution
from results.engine import kind_name

if TYPE_CHECKING:
    from results.report import Context

EXPECTATIONS_TAG = ("topic", "expectations")  # grids tagged so are ranked in section 6
WRITEIN_SHOWN = 10  # most frequent "other" answers listed under a question


def _unit_label(ctx: Context, unit_id: int | None) -> str:
    unit = ctx.data.units.get(unit_id) if unit_id is not None else None
    return f"{unit.name} ({unit.code})" if unit else "(không gắn đơn vị)"


def responses(ctx: Context, heading: str) -> list[Any]:
    data = ctx.data
    out: list[Any] = [PageBreak(), ctx.p(heading, "heading")]
    rate = data.printed and len(data.serials) * 100.0 / data.printed
    out.append(ctx.p(f"Đã in {data.printed} phiếu; thu về {len(data.serials)} phiếu "
                     f"({ctx.pct(rate)} %). Một phiếu được tính là thu về khi ít nhất một trang đã được quét."))
    returned = Counter(data.sheet_units)
    rows: list[list[Any]] = [["Đơn vị", "Đã in", "Thu về", "Tỉ lệ (%)"]]
    for unit_id in sorted(set(data.printed_units) | set(returned), key=lambda u: _unit_label(ctx, u)):
        printed, back = data.printed_units.get(unit_id, 0), returned.get(unit_id, 0)
        rows.append([_unit_label(ctx, unit_id), str(printed), str(back),
                     ctx.pct(back * 100.0 / printed) if printed else "—"])
    out.append(ctx.table(rows, [90 * mm, 25 * mm, 25 * mm, 25 * mm]))
    return out


def _caption(d: Distribution) -> str:
    return (f"Thu về {d.n_returned}; trả lời {d.n_answered}; bỏ trống {d.n_blank}; không hợp lệ {d.n_invalid}; "
            f"chưa xong {d.n_open} (chờ duyệt {d.n_review}, trang chưa nhận dạng {d.n_unidentified}, "
            f"trang chưa quét {d.n_missing}).")


def distributions_section(ctx: Context, heading: str) -> list[Any]:
    out: list[Any] = [PageBreak(), ctx.p(heading, "heading"),
                      ctx.p("Tỉ lệ tính trên số câu trả lời hợp lệ; câu nhiều lựa chọn có thể cộng quá 100 %.", "small")]
    found = {d.column.name: d for d in ctx.computed.distributions}
    done: set[str] = set()
    for column in ctx.data.columns:
        if column.question in done or column.kind == "writein":
            continue
        done.add(column.question)
        same = [c for c in ctx.data.columns if c.question == column.question]
        out += _question(ctx, column, [found[c.name] for c in same])
    return out


def _question(ctx: Context, first: Column, parts: list[Distribution]) -> list[Any]:
    dpi = ctx.settings.chart_dpi
    title = f"{first.question}. {first.question_text}"
    main = [d for d in parts if d.column.kind != "writein"]
    block: list[Any] = [ctx.p(title, "sub")]
    if first.kind == "grid":
        levels = [label for _, label in first.options]
        counts = [[d.options.get(code, 0) for code, _ in first.options] for d in main]
        block.append(ctx.picture(charts.stacked_shares([d.column.item_text for d in main], levels, counts, dpi=dpi)))
        rows: list[list[Any]] = [["Nội dung", "Thu về", "Hợp lệ", "Bỏ trống", "Không hợp lệ", "Chưa xong"]]
        rows += [[d.column.item_text, str(d.n_returned), str(d.n_answered), str(d.n_blank), str(d.n_invalid),
                  str(d.n_open)] for d in main]
        block.append(ctx.table(rows, [80 * mm, 17 * mm, 17 * mm, 17 * mm, 20 * mm, 18 * mm]))
    elif first.kind in ("single", "multiple"):
        d = main[0]
        block.append(ctx.picture(charts.choice_bars([label for _, label in first.options],
                                                    [d.options.get(code, 0) for code, _ in first.options],
                                                    base=d.n_answered, dpi=dpi), 0.85 * 170 * mm))
        block.append(ctx.p(_caption(d), "small"))
    elif first.kind == "number":
        d = main[0]
        block.append(ctx.picture(charts.histogram(d.numbers, dpi=dpi), 0.85 * 170 * mm))
        block.append(ctx.p(_caption(d), "small"))
    else:
        block.append(ctx.p(_caption(main[0]) + " Nội dung: xem mục 7.", "small"))
    for d in parts:
        if d.column.kind == "writein" and d.texts:
            common = Counter(text.strip() for _, text in d.texts).most_common(WRITEIN_SHOWN)
            listed = "; ".join(f"{text} ({n})" for text, n in common)
            block.append(ctx.p(f"Ghi rõ ({d.column.item_text}): {listed}", "small"))
    return [KeepTogether(block), Spacer(1, 2 * mm)]


def expectations(ctx: Context, heading: str) -> list[Any]:
    out: list[Any] = [PageBreak(), ctx.p(heading, "heading")]
    grids = [q for q in ctx.data.layout.questions if q.kind == "grid" and q.tags.get(EXPECTATIONS_TAG[0]) ==
             EXPECTATIONS_TAG[1]]
    if not grids:
        return [*out, ctx.p("Bảng hỏi không có câu hỏi về mong đợi (đánh dấu bằng tags: {topic: expectations}).")]
    found = {d.column.name: d for d in ctx.computed.distributions}
    for q in grids:
        top = [o.value for o in q.options][-2:]
        ranked = []
        for item in q.items:
            d = found[f"{q.id}.{item.id}"]
            valid = sum(d.options.values())
            ranked.append((sum(d.options.get(c, 0) for c in top) * 100.0 / valid if valid else None, item.text, valid))
        ranked.sort(key=lambda x: (x[0] is None, -(x[0] or 0.0)))
        labels = " + ".join(o.label for o in q.options[-2:])
        out.append(ctx.p(f"{q.id}. {q.text}", "sub"))
        out.append(ctx.p(f"Xếp theo tỉ lệ chọn {labels} trên số câu trả lời hợp lệ.", "small"))
        rows: list[list[Any]] = [["Hạng", "Nội dung", "Tỉ lệ (%)", "Hợp lệ"]]
        rows += [[str(i + 1), text, ctx.pct(share), str(valid)] for i, (share, text, valid) in enumerate(ranked)]
        out.append(ctx.table(rows, [14 * mm, 110 * mm, 22 * mm, 20 * mm]))
        png = charts.index_bars([t for _, t, _ in ranked], [s for s, _, _ in ranked], dpi=ctx.settings.chart_dpi,
                                decimals=ctx.settings.display_decimals)
        out += [Spacer(1, 2 * mm), ctx.picture(png, 0.9 * 170 * mm)]
    return out


def comments(ctx: Context, heading: str) -> list[Any]:
    """Every free-text answer exactly as a person transcribed it, per unit."""
    out: list[Any] = [PageBreak(), ctx.p(heading, "heading"),
                      ctx.p("Nguyên văn như người duyệt đã chép lại từ phiếu; ý kiến còn chờ chép không có ở đây.",
                            "small")]
    data = ctx.data
    for d in ctx.computed.distributions:
        if d.column.kind != "text":
            continue
        out.append(ctx.p(f"{d.column.question}. {d.column.question_text} ({len(d.texts)} ý kiến)", "sub"))
        by_unit: dict[str, list[tuple[int, str]]] = {}
        for row, text in d.texts:
            by_unit.setdefault(_unit_label(ctx, data.sheet_units[row]), []).append((data.serials[row], text))
        for unit in sorted(by_unit):
            out.append(ctx.p(unit, "cell_bold"))
            out += [ctx.p(f"Phiếu {serial}: {text}", "small") for serial, text in by_unit[unit]]
    return out


def methods(ctx: Context, heading: str) -> list[Any]:
    r, data = ctx.results, ctx.data
    index = r.index
    out: list[Any] = [PageBreak(), ctx.p(heading, "heading")]
    kinds = Counter(data.units[u].kind for u in {u for u in data.sheet_units if u is not None} if u in data.units)
    sample = ", ".join(f"{n} đơn vị cấp {kind_name(k)}" for k, n in kinds.items()) or "phiếu không gắn đơn vị"
    out.append(ctx.p(f"Mẫu: {data.printed} phiếu đã in, {len(data.serials)} phiếu thu về, thuộc {sample}."))
    when = (f"từ {data.scanned_from:%d/%m/%Y} đến {data.scanned_to:%d/%m/%Y}" if data.scanned_from and data.scanned_to
            else "chưa quét")
    out.append(ctx.p(f"Thời gian: phiếu được quét {when}; số liệu tính lúc {r.computed_at:%d/%m/%Y %H:%M} (UTC)."))
    t = r.whole.overall.tally
    out.append(ctx.p(f"Số câu trả lời cho các nội dung của chỉ số: {t.n_returned}, trong đó hợp lệ {t.n_valid}, "
                     f"bỏ trống {t.n_blank}, không hợp lệ {t.n_invalid}, chưa xong {t.n_open}."))
    if index.method == "points":
        formula = ("Mỗi nội dung: điểm trung bình của các câu trả lời hợp lệ (theo thang điểm khai báo, ví dụ "
                   "2/1/0 theo Thông tư 01/2018/TT-VPCP) chia cho điểm cao nhất, nhân 100.")
    else:
        formula = ("Mỗi nội dung: số câu trả lời ở mức hài lòng (" + _satisfied(ctx) + ") chia cho số câu trả lời "
                   "hợp lệ, nhân 100.")
    out.append(ctx.p("Công thức. " + formula + " Câu bỏ trống, không hợp lệ (ví dụ đánh nhiều ô) và câu chưa xong "
                     "(chờ duyệt, trang chưa nhận dạng hoặc chưa quét) không tính vào mẫu số mà được đếm riêng."))
    levels = " → ".join([*(f"{lv.title or lv.id} (trung bình của cấp dưới)" for lv in index.levels),
                         "chỉ số chung (trung bình của cấp trên cùng)"])
    out.append(ctx.p(f"Các cấp: nội dung → {levels}. Trung bình có trọng số; trọng số mặc định là 1."))
    weights = [f"{lv.labels.get(k, k)}: {w:g}" for lv in index.levels for k, w in lv.weights.items()]
    weights += [f"{k}: {w:g}" for k, w in index.item_weights.items()]
    if weights:
        out.append(ctx.p("Trọng số khác 1: " + "; ".join(weights) + "."))
    out.append(ctx.p("Đối chiếu: với mọi câu hỏi, số trả lời + bỏ trống + không hợp lệ + chưa xong bằng đúng số "
                     "phiếu thu về (đã kiểm tra trước khi lập báo cáo). Số liệu gốc được giữ nguyên; chỉ làm tròn khi "
                     f"hiển thị ({ctx.settings.display_decimals} chữ số thập phân)."))
    if r.previous_survey:
        out.append(ctx.p(f"So sánh với kỳ trước: {r.previous_survey}; thay đổi tính bằng điểm phần trăm."))
    return out


def _satisfied(ctx: Context) -> str:
    index = ctx.results.index
    parts = []
    for entry in index.entries():
        codes = index.satisfied_codes(entry)
        column = next((c for c in ctx.data.columns if c.question == entry.id), None)
        labels = dict(column.options) if column else {}
        parts.append(f"{entry.id}: " + ", ".join(f"{c} {labels.get(c, '')}".strip() for c in codes))
    return "; ".join(parts)

