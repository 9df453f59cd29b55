"""report.html: one self-contained page (inline CSS and SVG, no scripts, no external files).

Charts: score distribution per model, latency distribution per model (shared bins, p50 and
p95 marked, with a visible legend), cost per one million routed queries, confusion of the
dominant modality, interval bars (each model's mean score and dominant accuracy with its 95 %
interval; each paired difference with its interval against 0 and the tolerance); the
side-by-side table of the write-up, the interval, comparison and per-modality tables; a few invalid raw answers per model
(escaped). Everything is rendered from report.json plus the per-call latencies (which
report.json summarises but does not list).

Layout: readable from phone to desktop widths without sideways page scrolling; the
browser check in tests/unit/test_report_browser.py measures it in headless Chromium at
1400 and 800 px. Numbers never wrap inside a value ("1,590 ms" stays on one line), headers
wrap only between words, long model ids wrap anywhere, and a table too wide for a very
small screen scrolls inside its own box.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from .local_report import local_model_html
from .markdown import (
    COMPARISON_COLUMNS,
    INTERVAL_METRICS,
    INTERVALS_NOTE,
    OFFLINE_BANNER,
    REFERENCE_COLUMNS,
    REFERENCE_ROWS,
    TABLE_COLUMNS,
    breakdown_rows,
    candidate_label,
    comparison_rows,
    headline_sentences,
    interval_rows,
    label,
    leak_sentence,
    references_sentence,
    resolution_sentence,
)

COLOURS = {"distilled": "#2563eb", "student": "#9ca3af", "baseline": "#d97706", "teacher": "#7c3aed"}
FALLBACK_COLOUR = "#6b7280"
LATENCY_BINS = 20

_CSS = """
*,*::before,*::after{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#111827;padding:0 1rem;overflow-wrap:break-word}
h1{font-size:1.6rem;overflow-wrap:anywhere}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #e5e7eb;padding-bottom:.3rem}
.table-wrap{max-width:100%;overflow-x:auto}
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{padding:.4rem .6rem;border-bottom:1px solid #e5e7eb;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f9fafb;vertical-align:bottom;hyphens:none;overflow-wrap:normal;word-break:normal}
td.num{white-space:nowrap;font-variant-numeric:tabular-nums}.nb{white-space:nowrap}
td.model{min-width:12rem}td.model code{word-break:break-all;overflow-wrap:anywhere}
@media (max-width:960px){table{font-size:.8rem}th,td{padding:.3rem .3rem}td.model{min-width:6.5rem}}
svg{max-width:100%;height:auto}
.samples pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f9fafb;border:1px solid #e5e7eb;border-radius:4px;padding:.5rem;margin:.3rem 0 .8rem;font-size:.8rem}
.samples h3{font-size:1rem;margin-bottom:.3rem}.samples li{margin-bottom:.4rem}
.chart-legend{font-size:.85rem;color:#374151;margin:.3rem 0 0}.chart-legend span{display:inline-block;margin-right:1rem;white-space:nowrap}
.chart-legend svg{vertical-align:middle;margin-right:.3rem}
.banner{background:#b91c1c;color:#fff;padding:1rem;font-weight:700;font-size:1.1rem;border-radius:6px}
.pass{color:#047857;font-weight:700}.fail{color:#b91c1c;font-weight:700}.skip{color:#6b7280;font-weight:700}
.verdict{font-size:1.2rem;padding:.8rem;border-radius:6px;background:#f3f4f6}
.charts{display:flex;flex-wrap:wrap;gap:1.5rem}.chart{flex:1 1 420px;min-width:0}
code{background:#f3f4f6;padding:0 .2rem;border-radius:3px}small{color:#6b7280}
.legend span{display:inline-block;margin-right:1rem}
td.ci small{color:#6b7280}.better,.notworse{color:#047857}.worse{color:#b91c1c}.undecided{color:#b45309}.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}
"""


def colour(candidate: str) -> str:
    return COLOURS.get(candidate, FALLBACK_COLOUR)


def _svg(width: int, height: int, body: list[str], title: str, chart_id: str) -> str:
    return (
        f'<svg id="{chart_id}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _text(
    x: float, y: float, text: str, *, anchor: str = "middle", size: int = 11, fill: str = "#374151"
) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}">{escape(text)}</text>'


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str) -> str:
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" fill="{fill}"><title>{escape(tip)}</title></rect>'


def legend(models: Sequence[Mapping[str, Any]]) -> str:
    items = "".join(
        f'<span><i class="swatch" style="background:{colour(m["candidate"])}"></i>{escape(label(m))}</span>'
        for m in models
    )
    return f'<div class="legend">{items}</div>'


def score_chart(models: Sequence[Mapping[str, Any]]) -> str:
    """Grouped bars: share of answers per score (1..5), one bar per model."""
    width, height, left, bottom, top = 520, 260, 40, 30, 10
    plot_w, plot_h = width - left - 10, height - bottom - top
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 10}" y2="{top + plot_h}" stroke="#9ca3af"/>']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = top + plot_h * (1 - tick)
        body.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#f3f4f6"/>')
        body.append(_text(left - 4, y + 4, f"{tick:.0%}", anchor="end", size=10))
    group_w = plot_w / 5
    bar_w = (group_w * 0.8) / max(len(models), 1)
    for score in range(1, 6):
        x0 = left + group_w * (score - 1) + group_w * 0.1
        for position, model in enumerate(models):
            count = model["score_distribution"][str(score)]
            share = count / model["answers"] if model["answers"] else 0.0
            h = plot_h * share
            tip = f"{label(model)}: score {score}: {count} answers ({share:.1%})"
            body.append(
                _rect(x0 + bar_w * position, top + plot_h - h, bar_w - 1, h, colour(model["candidate"]), tip)
            )
        body.append(_text(left + group_w * (score - 0.5), height - 10, f"score {score}"))
    return _svg(width, height, body, "Score distribution per model", "chart-scores")


def latency_chart(models: Sequence[Mapping[str, Any]], latencies: Mapping[str, Sequence[float]]) -> str:
    """One histogram per model over shared bins, with p50 (solid) and p95 (dashed) marked."""
    values = [value for model in models for value in latencies.get(model["candidate"], ())]
    row_h, left, width, axis_h = 70, 110, 520, 28
    height = row_h * max(len(models), 1) + axis_h
    plot_w = width - left - 10
    top_value = max(values, default=0.0) or 1.0
    bin_w = top_value / LATENCY_BINS
    body: list[str] = []
    for row, model in enumerate(models):
        series = latencies.get(model["candidate"], ())
        counts = latency_bins(series, top_value)
        peak = max(counts) or 1
        y0 = row * row_h
        body.append(_text(left - 6, y0 + row_h / 2, label(model), anchor="end"))
        for position, count in enumerate(counts):
            h = (row_h - 14) * count / peak
            tip = f"{label(model)}: {count} calls between {position * bin_w:,.0f} and {(position + 1) * bin_w:,.0f} ms"
            body.append(_rect(left + plot_w * position / LATENCY_BINS, y0 + row_h - 6 - h, plot_w / LATENCY_BINS - 1, h,
                              colour(model["candidate"]), tip))  # fmt: skip
        for key, dash in (("p50", ""), ("p95", ' stroke-dasharray="4 3"')):
            mark = model["latency_ms"][key]
            if mark is not None:
                x = left + plot_w * min(mark / top_value, 1.0)
                body.append(f'<line x1="{x:.1f}" y1="{y0 + 4}" x2="{x:.1f}" y2="{y0 + row_h - 6}" stroke="#111827"{dash}>'
                            f"<title>{escape(label(model))} {key} {mark:,.0f} ms</title></line>")  # fmt: skip
        if not series:
            body.append(_text(left + plot_w / 2, y0 + row_h / 2, "no successful call", size=10))
    base = row_h * len(models)
    body.append(f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#9ca3af"/>')
    for fraction in (0, 0.25, 0.5, 0.75, 1.0):
        anchor = "end" if fraction == 1.0 else "middle"
        body.append(
            _text(
                left + plot_w * fraction, base + 16, f"{top_value * fraction:,.0f} ms", anchor=anchor, size=10
            )
        )
    return (
        _svg(width, height, body, "Latency distribution per model (p50 solid, p95 dashed)", "chart-latency")
        + latency_legend()
    )


def latency_legend() -> str:
    """What the latency chart's marks mean, on the page (not only in a tooltip)."""
    dashed = ' stroke-dasharray="4 3"'

    def sample(dash: str) -> str:
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" width="28" height="10" aria-hidden="true"><line x1="0" y1="5" x2="28" y2="5" '
            f'stroke="#111827" stroke-width="2"{dash}/></svg>'
        )

    return (
        '<p class="chart-legend" id="latency-legend">'
        f"<span>{sample('')}p50 (median)</span>"
        f"<span>{sample(dashed)}p95</span>"
        "<span>bars: calls per latency bin, one row per model</span></p>"
    )


def cost_chart(models: Sequence[Mapping[str, Any]]) -> str:
    """Horizontal bars: USD per one million routed queries."""
    row_h, left, width = 34, 130, 520
    height = row_h * max(len(models), 1) + 10
    plot_w = width - left - 110
    costs = [model["cost_per_1m_queries_usd"] for model in models]
    top_cost = max([cost for cost in costs if cost is not None] or [1.0]) or 1.0
    body: list[str] = []
    for row, model in enumerate(models):
        cost = model["cost_per_1m_queries_usd"]
        y = row * row_h + 6
        body.append(_text(left - 6, y + 16, label(model), anchor="end"))
        if cost is None:
            body.append(_text(left + 4, y + 16, "no price configured", anchor="start", size=10))
            continue
        w = plot_w * cost / top_cost
        body.append(
            _rect(
                left,
                y,
                w,
                row_h - 12,
                colour(model["candidate"]),
                f"{label(model)}: ${cost:,.4f} per 1M queries",
            )
        )
        body.append(_text(left + w + 6, y + 16, f"${cost:,.2f}", anchor="start"))
    return _svg(width, height, body, "Cost per 1M routed queries (USD)", "chart-cost")


def confusion_chart(model: Mapping[str, Any]) -> str:
    """Heat map: reference dominant modality (rows) x the model's (columns, plus invalid)."""
    confusion = model["dominant_confusion"]
    rows, columns, matrix = confusion["labels"], confusion["columns"], confusion["matrix"]
    cell, left, top = 44, 100, 84
    width, height = left + cell * len(columns) + 60, top + cell * len(rows) + 10
    body = [
        _text(8, 16, label(model), anchor="start", size=12, fill="#111827"),
        _text(8, 32, "rows: reference, columns: answer", anchor="start", size=10),
    ]
    for c, name in enumerate(columns):
        x = left + cell * c + cell / 2
        body.append(f'<text x="{x:.1f}" y="{top - 6}" font-size="10" fill="#374151" text-anchor="start" '
                    f'transform="rotate(-40 {x:.1f} {top - 6})">{escape(name)}</text>')  # fmt: skip
    for r, name in enumerate(rows):
        body.append(_text(left - 6, top + cell * r + cell / 2 + 4, name, anchor="end", size=10))
        row_total = sum(matrix[r]) or 1
        for c, value in enumerate(matrix[r]):
            fill, ink = cell_colours(value, row_total, correct=r == c)
            tip = f"reference {name}, answer {columns[c]}: {value} of {sum(matrix[r])}"
            body.append(_rect(left + cell * c, top + cell * r, cell - 2, cell - 2, fill, tip))
            body.append(_text(left + cell * c + cell / 2 - 1, top + cell * r + cell / 2 + 4, str(value), size=11,
                              fill=ink))  # fmt: skip
    return _svg(
        width,
        height,
        body,
        f"Dominant modality confusion: {label(model)}",
        f"chart-confusion-{model['candidate']}",
    )


VERDICT_COLOURS = {"better": "#047857", "not worse": "#047857", "worse": "#b91c1c", "undecided": "#b45309"}


def _whisker(x0: float, x1: float, xm: float, y: float, ink: str, tip: str) -> str:
    """An interval bar: a line from low to high with end caps and a dot at the estimate."""
    return (
        f'<g><title>{escape(tip)}</title><line x1="{x0:.1f}" y1="{y:.1f}" x2="{x1:.1f}" y2="{y:.1f}" stroke="{ink}" '
        f'stroke-width="3"/><line x1="{x0:.1f}" y1="{y - 6:.1f}" x2="{x0:.1f}" y2="{y + 6:.1f}" stroke="{ink}" '
        f'stroke-width="2"/><line x1="{x1:.1f}" y1="{y - 6:.1f}" x2="{x1:.1f}" y2="{y + 6:.1f}" stroke="{ink}" '
        f'stroke-width="2"/><circle cx="{xm:.1f}" cy="{y:.1f}" r="4.5" fill="{ink}"/></g>'
    )


def interval_chart(report: Mapping[str, Any], key: str, low: float, high: float, pattern: str) -> str:
    """One interval bar per candidate for one metric over the axis [low, high]."""
    rows = [(name, entry["intervals"][key]) for name, entry in (report.get("candidates") or {}).items()]
    row_h, left, width = 34, 130, 520
    plot_w = width - left - 20
    height = row_h * max(len(rows), 1) + 28

    def x(value: float) -> float:
        return left + plot_w * (min(max(value, low), high) - low) / ((high - low) or 1)

    body: list[str] = []
    for row, (name, entry) in enumerate(rows):
        y = row * row_h + row_h / 2 + 4
        body.append(_text(left - 6, y + 4, candidate_label(name), anchor="end"))
        if entry["estimate"] is None or not entry["ci95"]:
            body.append(_text(left + 4, y + 4, "no data", anchor="start", size=10))
            continue
        lo, hi = entry["ci95"]
        tip = f"{candidate_label(name)}: {pattern.format(entry['estimate'])} (95 % CI {pattern.format(lo)} to {pattern.format(hi)}, n {entry['n']})"
        body.append(_whisker(x(lo), x(hi), x(entry["estimate"]), y, colour(name), tip))
    base = row_h * len(rows) + 4
    body.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#9ca3af"/>')
    for fraction in (0, 0.25, 0.5, 0.75, 1.0):
        value = low + (high - low) * fraction
        body.append(_text(x(value), base + 16, pattern.format(value), size=10))
    title = next(t for t, k, *_ in INTERVAL_METRICS if k == key)
    return _svg(width, height, body, f"{title} per model with its 95 % interval", f"chart-interval-{key}")


def difference_chart(report: Mapping[str, Any]) -> str:
    """Each comparison's paired mean-score difference with its interval, against 0 (solid) and -tolerance (dashed)."""
    rows = [(name, metrics["mean_score"]) for name, metrics in (report.get("comparisons") or {}).items()]
    rows = [(name, entry) for name, entry in rows if entry["ci95"]]
    row_h, left, width = 40, 170, 520
    plot_w = width - left - 20
    height = row_h * max(len(rows), 1) + 30
    reach = max([abs(v) for _, entry in rows for v in (*entry["ci95"], entry["tolerance"])] + [0.5]) * 1.1

    def x(value: float) -> float:
        return left + plot_w * (value + reach) / (2 * reach)

    body: list[str] = []
    tolerances = {entry["tolerance"] for _, entry in rows}
    base = row_h * len(rows) + 4
    body.append(f'<line x1="{x(0):.1f}" y1="0" x2="{x(0):.1f}" y2="{base}" stroke="#111827"/>')
    for tolerance in sorted(tolerances):
        body.append(f'<line x1="{x(-tolerance):.1f}" y1="0" x2="{x(-tolerance):.1f}" y2="{base}" stroke="#b91c1c" '
                    f'stroke-dasharray="4 3"><title>-tolerance {tolerance:g}</title></line>')  # fmt: skip
    for row, (name, entry) in enumerate(rows):
        a, _, b = name.partition("_vs_")
        y = row * row_h + row_h / 2 + 2
        body.append(_text(left - 6, y - 2, f"{candidate_label(a)} -", anchor="end", size=10))
        body.append(_text(left - 6, y + 10, candidate_label(b), anchor="end", size=10))
        lo, hi = entry["ci95"]
        tip = f"{candidate_label(a)} - {candidate_label(b)}: {entry['estimate']:+.2f} (95 % CI {lo:+.2f} to {hi:+.2f}): {entry['verdict']}"
        body.append(_whisker(x(lo), x(hi), x(entry["estimate"]), y, VERDICT_COLOURS[entry["verdict"]], tip))
    body.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#9ca3af"/>')
    for value in (-reach, -reach / 2, 0.0, reach / 2, reach):
        body.append(_text(x(value), base + 16, f"{value:+.2f}", size=10))
    return _svg(
        width, height, body, "Paired mean-score difference with its 95 % interval", "chart-differences"
    ) + (
        '<p class="chart-legend"><span>solid: no difference</span><span>dashed red: minus the tolerance '
        "(the gate passes when the whole bar is right of it)</span></p>"
    )


def _ci_cell(text: str) -> str:
    """ "4.12 [3.98, 4.25]" as the estimate over its interval (a number never splits)."""
    estimate, _, rest = text.partition(" ")
    return (
        f'<td class="num ci">{escape(estimate)}'
        + (f"<br><small>{escape(rest)}</small>" if rest else "")
        + "</td>"
    )


def evidence_section(report: Mapping[str, Any]) -> str:
    """The interval table, the paired comparisons, the resolution and the per-modality breakdown."""
    candidates = report.get("candidates") or {}
    if not candidates:
        return ""
    head = "".join(f"<th>{_header(title)}</th>" for title, *_ in INTERVAL_METRICS)
    body = "".join(
        f"<tr><td>{escape(candidate_label(name))}</td>{''.join(_ci_cell(cell) for cell in cells)}</tr>"
        for name, cells in interval_rows(report)
    )
    parts = [f"<h2>How sure: 95 % intervals</h2><p><small>{escape(INTERVALS_NOTE)}</small></p>",
             f'<div class="table-wrap"><table id="intervals"><thead><tr><th>Model</th>{head}</tr></thead>'
             f"<tbody>{body}</tbody></table></div>",
             '<div class="charts">',
             f'<div class="chart"><h3>Mean score</h3>{interval_chart(report, "mean_score", 1.0, 5.0, "{:.2f}")}</div>',
             '<div class="chart"><h3>Dominant accuracy</h3>'
             f'{interval_chart(report, "dominant_accuracy", 0.0, 1.0, "{:.0%}")}</div></div>']  # fmt: skip
    rows = comparison_rows(report)
    if rows:
        head = "".join(f"<th>{_header(title)}</th>" for title in COMPARISON_COLUMNS)
        cells = "".join(
            f"<tr><td>{escape(row[0])}</td><td>{escape(row[1])}</td>"
            + "".join(f'<td class="num">{escape(value)}</td>' for value in row[2:5])
            + f'<td class="{row[5].replace(" ", "")}">{escape(row[5])}</td></tr>'
            for row in rows
        )
        parts.append(
            "<h2>Paired comparisons</h2><p><small>Per held-out query, the first model's value minus the second's "
            "(same queries, same references). Better: lower bound &gt; 0; not worse: lower bound &ge; -tolerance; "
            "worse: upper bound &lt; -tolerance; otherwise undecided at this size. The mean score's tolerance is "
            "the gate's <code>max_score_drop</code>; the other metrics have none (0).</small></p>"
            f'<div class="chart">{difference_chart(report)}</div>'
            f'<div class="table-wrap"><table id="comparisons"><thead><tr>{head}</tr></thead><tbody>{cells}'
            "</tbody></table></div>"
        )
    sentence = resolution_sentence(report)
    if sentence:
        parts.append(f'<p id="resolution">{escape(sentence)}</p>')
    for title, key, pattern, _ in INTERVAL_METRICS[::2]:
        names, breakdown = breakdown_rows(report, key, pattern)
        if not breakdown:
            continue
        head = "".join(f"<th>{_header(candidate_label(name))}</th>" for name in names)
        body = "".join(
            f"<tr><td>{escape(row[0])}</td>{''.join(_ci_cell(cell) for cell in row[1:])}</tr>"
            for row in breakdown
        )
        parts.append(
            f"<h3>{escape(title)} by reference dominant modality (queries)</h3>"
            f'<div class="table-wrap"><table id="breakdown-{key}"><thead><tr><th>Modality</th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>"
        )
    return "".join(parts)


def cell_colours(value: int, row_total: int, *, correct: bool) -> tuple[str, str]:
    """(fill, text colour) of a confusion cell: shaded by its share of the row (the reference modality).

    Any non-zero count is clearly tinted (at least 30 % opacity), so one answer out of many
    never looks like an empty cell; zero cells stay white with grey text.
    """
    if not value:
        return "#ffffff", "#9ca3af"
    share = value / (row_total or 1)
    rgb = "37,99,235" if correct else "220,38,38"
    opacity = 0.3 + 0.65 * share
    return f"rgba({rgb},{opacity:.2f})", ("#ffffff" if opacity >= 0.65 else "#111827")


def _header(title: str) -> str:
    """A column title that wraps between words only ("(1-5)" and "1M" never split)."""
    return " ".join(f'<span class="nb">{escape(word)}</span>' for word in title.split())


def side_by_side_table(models: Sequence[Mapping[str, Any]]) -> str:
    head = "".join(f"<th>{_header(title)}</th>" for title, _ in TABLE_COLUMNS)
    rows = []
    for model in models:
        cells = "".join(f'<td class="num">{escape(render(model))}</td>' for _, render in TABLE_COLUMNS)
        rows.append(
            f'<tr><td class="model"><i class="swatch" style="background:{colour(model["candidate"])}"></i>'
            f"{escape(label(model))}<br><small><code>{escape(model['model_id'])}</code></small></td>{cells}</tr>"
        )
    return (
        f'<div class="table-wrap"><table id="side-by-side"><thead><tr><th>Model</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def invalid_answers_section(models: Sequence[Mapping[str, Any]]) -> str:
    """A few answers per model that did not parse: the raw text (escaped) and the parser's reason."""
    blocks = []
    for model in models:
        samples = model.get("invalid_samples") or []
        invalid = model["answers"] - round(model["json_validity"] * model["answers"])
        title = f"{escape(label(model))}: {invalid} of {model['answers']} answers invalid"
        if not samples:
            blocks.append(f"<h3>{title}</h3><p><small>Every answer parsed.</small></p>")
            continue
        items = []
        for sample in samples:
            answer = sample["answer"]
            raw = (
                f"<pre>{escape(answer)}{' [...]' if sample['truncated'] else ''}</pre>"
                if answer is not None
                else "<p><small>(no answer: the call failed)</small></p>"
            )
            items.append(
                f"<li>query #{sample['index']} <q>{escape(sample['query'])}</q>: "
                f"<small>{escape(sample['reason'])}</small>{raw}</li>"
            )
        shown = f" (first {len(samples)})" if invalid > len(samples) else ""
        blocks.append(f"<h3>{title}{shown}</h3><ul>{''.join(items)}</ul>")
    return f'<div class="samples" id="invalid-answers">{"".join(blocks)}</div>'


def gate_section(gate: Mapping[str, Any]) -> str:
    items = []
    for check in gate.get("checks", []):
        css, mark = {True: ("pass", "PASS"), False: ("fail", "FAIL"), None: ("skip", "SKIP")}[check["passed"]]
        items.append(
            f'<li><span class="{css}">{mark}</span> <code>{escape(check["name"])}</code>: {escape(check["message"])}</li>'
        )
    t = gate["thresholds"]
    return (
        f"<p>Thresholds: mean score &ge; {t['min_mean_score']}, the paired score difference's 95 % lower bound at "
        f"least -{t['max_score_drop']} (non-inferiority to the baseline), "
        f"JSON validity &ge; {t['min_json_validity']:.0%}, p95 latency &le; {t['max_p95_latency_ratio']:g} &times; the "
        f"baseline's.</p><ul>{''.join(items)}</ul>"
    )


def references_paragraph(report: Mapping[str, Any]) -> str:
    """Which references the numbers use, and what was kept out of training."""
    leaks = leak_sentence(report)
    html = f'<p id="references"><small>{escape(references_sentence(report))}'
    return html + (f" {escape(leaks)}</small></p>" if leaks else "</small></p>")


def gold_section_html(report: Mapping[str, Any]) -> str:
    """With a gold set: teacher fidelity and gold accuracy side by side (95 % intervals in brackets)."""
    gold = report.get("gold")
    if not gold:
        return ""
    head = "".join(f"<th>{_header(title)}</th>" for title, _ in REFERENCE_COLUMNS)
    rows = []
    for row in gold["side_by_side"]:
        for key, title in REFERENCE_ROWS:
            numbers = row[key]
            cells = "".join(
                f'<td class="num">{escape(render(numbers) if numbers else "n/a")}</td>'
                for _, render in REFERENCE_COLUMNS
            )
            rows.append(
                f'<tr><td class="model"><i class="swatch" style="background:{colour(row["candidate"])}"></i>'
                f"{escape(label(row))}</td><td>{escape(title)}</td>{cells}</tr>"
            )
    return (
        "<h2>Teacher fidelity and gold accuracy</h2>"
        f'<div class="table-wrap"><table id="gold"><thead><tr><th>Model</th><th>Reference</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def render_html(report: Mapping[str, Any], latencies: Mapping[str, Sequence[float]]) -> str:
    models = report["models"]
    gate = report["gate"]
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>Router distillation run {escape(report['run_id'])}</title><style>{_CSS}</style></head><body>"]  # fmt: skip
    if report.get("offline_stand_in"):
        parts.append(f'<div class="banner" id="offline-banner">{escape(OFFLINE_BANNER)}</div>')
    parts.append(f"<h1>Router distillation run <code>{escape(report['run_id'])}</code></h1>")
    verdict = (
        '<span class="pass">Gate PASSED</span>: the distilled model is promoted to the router.'
        if gate["passed"]
        else '<span class="fail">Gate FAILED</span>: the active model is unchanged.'
    )
    parts.append(f'<p class="verdict" id="verdict">{verdict}</p>')
    parts.append("<ul>" + "".join(f"<li>{escape(s)}</li>" for s in headline_sentences(report)) + "</ul>")
    parts.append(
        f"<p><small>{report['dataset']['holdout_count']} held-out queries, {report['dataset']['train_count']} training "
        f"examples. Generated {escape(report['generated_at'])}. Scores: the deterministic OverallQuality rubric "
        "(5 = every weight within 0.05 of the reference ... 1 = unusable).</small></p>"
    )
    parts.append("<h2>Side by side</h2>" + side_by_side_table(models))
    parts.append(references_paragraph(report))
    parts.append(evidence_section(report))
    parts.append(gold_section_html(report))
    parts.append(local_model_html(report))
    parts.append("<h2>Charts</h2>" + legend(models) + '<div class="charts">')
    parts.append(f'<div class="chart"><h3>Score distribution</h3>{score_chart(models)}</div>')
    parts.append(f'<div class="chart"><h3>Latency distribution</h3>{latency_chart(models, latencies)}</div>')
    parts.append(f'<div class="chart"><h3>Cost per 1M routed queries</h3>{cost_chart(models)}</div>')
    parts.append("</div><h2>Dominant modality confusion</h2><p><small>Rows: the reference's dominant modality; "
                 "columns: the model's. Blue: correct; red: wrong or invalid.</small></p>"
                 '<div class="charts">' + "".join(f'<div class="chart">{confusion_chart(m)}</div>' for m in models) + "</div>")  # fmt: skip
    parts.append(
        "<h2>Invalid answers</h2><p><small>Answers the parser could not turn into a routing decision "
        "(they score 1), as the model wrote them.</small></p>" + invalid_answers_section(models)
    )
    parts.append("<h2>Quality gate</h2>" + gate_section(gate))
    judge = report["judge"]
    judge_text = f"Status: {judge['status']}"
    if judge.get("job_arn"):
        judge_text += f"; job <code>{escape(judge['job_arn'])}</code>"
    if judge.get("failure"):
        judge_text += f"; {escape(judge['failure'])}"
    parts.append(
        f"<h2>LLM judge</h2><p>{escape(judge['status']) if judge['status'] == 'Skipped' else judge_text}</p>"
    )
    if report.get("warnings"):
        parts.append(
            "<h2>Warnings</h2><ul>" + "".join(f"<li>{escape(w)}</li>" for w in report["warnings"]) + "</ul>"
        )
    parts.append("</body></html>\n")
    return "".join(parts)


def latency_bins(values: Sequence[float], top: float, bins: int = LATENCY_BINS) -> list[int]:
    """Histogram counts over [0, top] in `bins` equal bins; values at or above `top` go to the last."""
    width = (top or 1.0) / bins
    counts = [0] * bins
    for value in values:
        counts[min(max(math.floor(value / width), 0), bins - 1)] += 1
    return counts
