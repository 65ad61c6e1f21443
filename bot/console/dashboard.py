"""The dashboard page: the figures of bot/console/analytics.py as one self-contained HTML page
(inline CSS and SVG charts; nothing loaded from elsewhere: it is served offline). Every
text that came from a customer or a document is escaped."""

from __future__ import annotations

from html import escape

from bot.console.analytics import Figures, Gap

COLOURS = {
    "flow": "#1f6feb",
    "knowledge": "#2e7d32",
    "clarify": "#b7791f",
    "out_of_scope": "#8250df",
    "handoff": "#cf222e",
    "up": "#2e7d32",
    "down": "#cf222e",
}
DEFAULT_COLOUR = "#57606a"
WIDTH, BAR, GAP_PX, LABEL = 520, 22, 8, 150


def bars(values: dict[str, float], unit: str = "", colours: dict[str, str] | None = None) -> str:
    """A horizontal bar chart: one labelled bar per key."""
    if not values:
        return '<p class="muted">Nothing yet.</p>'
    top = max(values.values()) or 1
    height = len(values) * (BAR + GAP_PX)
    rows = []
    for index, (name, value) in enumerate(values.items()):
        y = index * (BAR + GAP_PX)
        length = max(2.0, (WIDTH - LABEL - 70) * value / top)
        colour = (colours or COLOURS).get(name, DEFAULT_COLOUR)
        shown = f"{value:g}{unit}"
        rows.append(
            f'<text x="{LABEL - 8}" y="{y + BAR * 0.7:.0f}" text-anchor="end">{escape(name.replace("_", " "))}</text>'
            f'<rect x="{LABEL}" y="{y}" width="{length:.0f}" height="{BAR}" rx="3" fill="{colour}">'
            f"<title>{escape(name)}: {escape(shown)}</title></rect>"
            f'<text x="{LABEL + length + 6:.0f}" y="{y + BAR * 0.7:.0f}">{escape(shown)}</text>'
        )
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img">'
        + "".join(rows)
        + "</svg>"
    )


def stacked(values: dict[str, dict[str, int]]) -> str:
    """Thumbs up and down per route, side by side in one bar."""
    if not values:
        return '<p class="muted">No ratings yet.</p>'
    top = max(v.get("up", 0) + v.get("down", 0) for v in values.values()) or 1
    height = len(values) * (BAR + GAP_PX)
    rows = []
    for index, (route, counts) in enumerate(values.items()):
        y, x = index * (BAR + GAP_PX), float(LABEL)
        rows.append(
            f'<text x="{LABEL - 8}" y="{y + BAR * 0.7:.0f}" text-anchor="end">{escape(route.replace("_", " "))}</text>'
        )
        for value in ("up", "down"):
            count = counts.get(value, 0)
            length = (WIDTH - LABEL - 90) * count / top
            if count:
                rows.append(
                    f'<rect x="{x:.0f}" y="{y}" width="{max(length, 2):.0f}" height="{BAR}" fill="{COLOURS[value]}">'
                    f"<title>{value}: {count}</title></rect>"
                )
            x += length
        rows.append(
            f'<text x="{x + 6:.0f}" y="{y + BAR * 0.7:.0f}">up {counts.get("up", 0)} · down {counts.get("down", 0)}</text>'
        )
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img">'
        + "".join(rows)
        + "</svg>"
    )


def containment_meter(share: float | None) -> str:
    """One bar split into the conversations that ended without a person and those handed over."""
    if share is None:
        return '<p class="muted">No conversations yet.</p>'
    kept = round((WIDTH - 2) * share)
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} 46" width="{WIDTH}" height="46" role="img">'
        f'<rect x="1" y="0" width="{WIDTH - 2}" height="{BAR}" rx="3" fill="{COLOURS["handoff"]}">'
        f"<title>handed to a person: {1 - share:.0%}</title></rect>"
        f'<rect x="1" y="0" width="{kept}" height="{BAR}" rx="3" fill="{COLOURS["knowledge"]}">'
        f"<title>ended without a person: {share:.0%}</title></rect>"
        f'<text x="1" y="40">{share:.0%} without a person</text>'
        f'<text x="{WIDTH - 1}" y="40" text-anchor="end">{1 - share:.0%} handed to a person</text>'
        "</svg>"
    )


def _gaps_table(found: list[Gap], limit: int = 15) -> str:
    if not found:
        return '<p class="muted">No declined, clarified or thumbs-down questions.</p>'
    rows = []
    for rank, gap in enumerate(found[:limit], 1):
        examples = "".join(f"<li>{escape(text)}</li>" for text in gap.examples)
        routes = ", ".join(
            f"{escape(route.replace('_', ' '))} {count}" for route, count in gap.routes.items()
        )
        closest = (
            f"{escape(gap.closest_document)} <span class=muted>({gap.closest_score:g})</span>"
            if gap.closest_document
            else '<span class="muted">none</span>'
        )
        rows.append(
            f"<tr><td>{rank}</td><td>{gap.size}</td><td><ul>{examples}</ul></td><td>{routes}</td><td>{closest}</td></tr>"
        )
    return (
        '<table class="gaps"><thead><tr><th>#</th><th>questions</th><th>examples</th><th>routes</th>'
        "<th>closest document</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


STYLE = """
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2933; background: #f5f7fa; }
.bar { display: flex; gap: 1.2rem; align-items: center; padding: .6rem 1.2rem; background: #fff; border-bottom: 1px solid #d9e2ec; }
.bar h1 { font-size: 1.15rem; margin: 0; }
.bar a { color: #1f6feb; text-decoration: none; margin-right: .8rem; }
.bar a[aria-current] { color: #1f2933; font-weight: 600; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 1rem; padding: 1rem; }
section { background: #fff; border: 1px solid #d9e2ec; border-radius: 8px; padding: 1rem; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 1rem; margin: 0 0 .6rem; }
.kpis { display: flex; gap: 2rem; }
.kpi strong { display: block; font-size: 1.8rem; }
.muted { color: #616e7c; }
.chart text { font-size: 12px; fill: #1f2933; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; border-bottom: 1px solid #d9e2ec; padding: .4rem; vertical-align: top; }
td ul { margin: 0; padding-left: 1rem; }
#never-cited { columns: 2; column-gap: 2rem; margin: 0; font-size: .9rem; }
"""


def render_dashboard(
    numbers: Figures, found: list[Gap], title: str, period: str = "", csv_query: str = ""
) -> str:
    """The whole page; `period` is shown beside the title (e.g. "since 7d"). The CSV link is
    relative (``gaps.csv``, with `csv_query`, e.g. "since=7d": the same period), so it works
    wherever the page is served or saved."""
    containment = "—" if numbers.containment is None else f"{numbers.containment:.0%}"
    p95 = {route: values["p95"] for route, values in numbers.latency_ms.items()}
    never = "".join(f"<li>{escape(name)}</li>" for name in numbers.never_cited) or "<li>none</li>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">
<title>Dashboard · {escape(title)}</title><style>{STYLE}</style></head>
<body>
<header class="bar"><h1>{escape(title)}: dashboard</h1>
<nav><a href="/agent/">Inbox</a><a href="/agent/dashboard" aria-current="page">Dashboard</a></nav>
<span class="muted">{escape(period)}</span></header>
<main>
<section class="wide"><div class="kpis">
<div class="kpi" id="kpi-conversations"><strong>{numbers.conversations}</strong>conversations</div>
<div class="kpi" id="kpi-containment"><strong>{containment}</strong>ended without a person</div>
<div class="kpi" id="kpi-handoffs"><strong>{sum(numbers.handoff_reasons.values())}</strong>handed to a person</div>
<div class="kpi" id="kpi-ratings"><strong>{sum(v["up"] + v["down"] for v in numbers.feedback.values())}</strong>answers rated</div>
</div></section>
<section><h2>Containment</h2>{containment_meter(numbers.containment)}</section>
<section><h2>Conversations per day</h2>{bars(numbers.per_day)}</section>
<section><h2>Route of each bot turn</h2>{bars(numbers.routes)}</section>
<section><h2>Why conversations went to a person</h2>{bars(numbers.handoff_reasons)}</section>
<section><h2>Feedback per route</h2>{stacked(numbers.feedback)}</section>
<section><h2>p95 latency per route</h2>{bars(p95, " ms")}</section>
<section><h2>Documents never cited</h2><ul id="never-cited">{never}</ul></section>
<section class="wide"><h2>Knowledge gaps: what customers asked that the assistant could not answer well</h2>
<p class="muted">Declined, clarified and thumbs-down questions, grouped by meaning, largest first.
<a href="gaps.csv{escape("?" + csv_query) if csv_query else ""}">Download as CSV</a></p>{_gaps_table(found)}</section>
</main></body></html>
"""
