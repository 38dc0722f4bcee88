"""The report as one self-contained HTML page: inline CSS and SVG, no script, no network.

Charts:
- strength distribution: a histogram of every relationship's score;
- the funnel: connections → engaged → relationships → met;
- top relationships over time: for the strongest ties, the span from the first
  to the last interaction on a shared time axis, coloured by tier, with the
  score at the report's instant and trend. This is real history (dates of events
  the service recorded); the whole report can be drawn as of a past instant
  (`--as-of`: the service refolds the events up to it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from vinculo.domain import TIER_NAMES, TREND_NAMES
from vinculo.v1 import scoring_pb2 as pb
from vinculo_apps.report.data import ACTION_NAMES, ReportData, role, who
from vinculo_apps.report.terminal import TIER_NOTE

TIER_COLOURS = {1: "#b0b7c3", 2: "#7aa6d8", 3: "#3b7dd8", 4: "#1b4f9c"}
FUNNEL_COLOURS = ("#b0b7c3", "#7aa6d8", "#3b7dd8", "#1b4f9c")
CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d2433}
h1{font-size:1.6em;margin-bottom:0} .sub{color:#5b6475;margin-top:4px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.card{border:1px solid #dde2ea;border-radius:8px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:1.5em}
section{margin:28px 0} table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{border-bottom:1px solid #e6e9ef;padding:4px 8px;text-align:left;vertical-align:top}
svg text{font-family:system-ui,sans-serif;font-size:12px;fill:#1d2433}
"""


def _date(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")


def histogram_svg(scores: list[float], bins: int = 10, width: int = 640, height: int = 260) -> str:
    counts = [0] * bins
    for score in scores:
        counts[min(int(max(score, 0.0) * bins), bins - 1)] += 1
    top = max(max(counts), 1)
    left, bottom, plot_h = 40, height - 30, height - 50
    bar_w = (width - left - 10) / bins
    parts = [
        f'<svg id="strength-histogram" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>Strength distribution of {len(scores)} relationships</title>",
        f'<line x1="{left}" y1="{bottom}" x2="{width - 10}" y2="{bottom}" stroke="#888"/>',
    ]
    for i, count in enumerate(counts):
        h = plot_h * count / top
        x = left + i * bar_w
        parts.append(
            f'<rect class="bar" x="{x + 2:.1f}" y="{bottom - h:.1f}" width="{bar_w - 4:.1f}" '
            f'height="{h:.1f}" fill="#3b7dd8"><title>{i / bins:.1f}-{(i + 1) / bins:.1f}: '
            f"{count}</title></rect>"
        )
        parts.append(
            f'<text x="{x + bar_w / 2:.1f}" y="{bottom - h - 4:.1f}" '
            f'text-anchor="middle">{count}</text>'
        )
        parts.append(f'<text x="{x:.1f}" y="{bottom + 16}">{i / bins:.1f}</text>')
    parts.append(f'<text x="{width - 30}" y="{bottom + 16}">1.0</text>')
    parts.append(
        f'<text x="4" y="14">contacts</text><text x="{width / 2:.0f}" y="{height - 2}" '
        'text-anchor="middle">strength score</text></svg>'
    )
    return "".join(parts)


def funnel_svg(funnel: pb.Funnel, width: int = 640, height: int = 230) -> str:
    steps = (
        ("connections", funnel.connections),
        ("engaged", funnel.engaged),
        ("relationships", funnel.relationships),
        ("met or video call", funnel.met),
    )
    base = max(funnel.connections, 1)
    row_h = (height - 10) / len(steps)
    parts = [
        f'<svg id="funnel" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        "<title>From contact to relationship</title>"
    ]
    label_w, plot_w = 140, width - 140 - 110
    for i, ((name, count), colour) in enumerate(zip(steps, FUNNEL_COLOURS, strict=True)):
        w = max(plot_w * count / base, 2.0)
        x = label_w + (plot_w - w) / 2
        y = 5 + i * row_h
        parts.append(
            f'<rect class="step" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{row_h - 8:.1f}" '
            f'rx="4" fill="{colour}"><title>{name}: {count}</title></rect>'
        )
        parts.append(f'<text x="4" y="{y + row_h / 2:.1f}">{name}</text>')
        parts.append(
            f'<text x="{label_w + plot_w + 8}" y="{y + row_h / 2:.1f}">{count} '
            f"({100 * count / base:.1f}%)</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def timeline_svg(
    relationships: list[pb.Relationship],
    as_of: float,
    labels: dict[str, str] | None = None,
    width: int = 1000,
) -> str:
    """Span of each top relationship from first to last interaction, on one time axis."""
    rows = [r for r in relationships if r.signals.first_interaction.seconds]
    row_h, label_w, right_w = 24, 260, 180  # room for "0.973 strengthening"
    height = 40 + row_h * max(len(rows), 1)
    starts = [r.signals.first_interaction.seconds for r in rows] or [as_of - 365 * 86400]
    t0 = float(min(starts))
    t1 = max(as_of, t0 + 86400)
    plot_w = width - label_w - right_w

    def x(t: float) -> float:
        return label_w + plot_w * (t - t0) / max(t1 - t0, 1.0)

    parts = [
        f'<svg id="top-timeline" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
        "<title>Top relationships over time: first to last interaction</title>",
        f'<text x="{label_w}" y="{height - 6}">{_date(t0)}</text>',
        f'<text x="{label_w + plot_w}" y="{height - 6}" text-anchor="end">{_date(t1)}</text>',
    ]
    for i, r in enumerate(rows):
        y = 14 + i * row_h
        first, last = r.signals.first_interaction.seconds, r.signals.last_interaction.seconds
        colour = TIER_COLOURS.get(r.tier, "#888")
        label = (labels or {}).get(r.contact_id) or who(r)
        parts.append(f'<text x="4" y="{y + 4}">{escape(_clip(label, 34))}</text>')
        parts.append(
            f'<line class="span" x1="{x(first):.1f}" y1="{y}" x2="{x(max(last, first)):.1f}" '
            f'y2="{y}" stroke="{colour}" stroke-width="8" stroke-linecap="round">'
            f"<title>{escape(label)}: {_date(first)} - {_date(last)}</title></line>"
        )
        trend = TREND_NAMES.get(r.trend, "")
        parts.append(f'<text x="{label_w + plot_w + 8}" y="{y + 4}">{r.score:.3f} {trend}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _cards(data: ReportData) -> str:
    s = data.summary
    rate = data.reply_rate()
    cards = (
        ("contacts", str(s.total_contacts)),
        ("real relationships", f"{100 * s.relationship_share:.1f}%"),
        ("met in person (not counting video)", f"{100 * s.met_in_person_share:.1f}%"),
        (
            "reply rate to your personalised messages",
            f"{100 * rate:.0f}% of {s.outreach_sent}" if rate is not None else "—",
        ),
        ("one-sided contacts", str(s.one_sided_contacts)),
    )
    return "".join(f'<div class="card"><b>{escape(v)}</b>{escape(k)}</div>' for k, v in cards)


def _suggestions(data: ReportData) -> str:
    if data.suggestions_note:
        return f"<p>{escape(data.suggestions_note)}.</p>"
    rows = []
    for kind, name in ACTION_NAMES.items():
        for s in (s for s in data.suggestions if s.kind == kind):
            evidence = escape("; ".join(s.evidence))
            rows.append(
                f"<tr><td>{escape(name)}</td><td>{escape(data.who(s))}</td>"
                f"<td>{escape(s.reason)}</td><td>{evidence}</td></tr>"
            )
    if not rows:
        return "<p>Nothing needs your attention.</p>"
    return (
        '<table id="suggestions"><tr><th>action</th><th>contact</th><th>why</th>'
        f"<th>evidence</th></tr>{''.join(rows)}</table>"
    )


def _ranking(relationships: list[pb.Relationship]) -> str:
    rows = "".join(
        f"<tr><td>{i}</td><td>{escape(who(r))}<br><small>{escape(role(r))}</small></td>"
        f"<td>{r.score:.3f}</td>"
        f"<td>{TIER_NAMES.get(r.tier, '?')}</td><td>{TREND_NAMES.get(r.trend, '')}</td>"
        f"<td>{escape(r.explanation[0] if r.explanation else '')}</td></tr>"
        for i, r in enumerate(relationships, start=1)
    )
    return (
        '<table id="ranking"><tr><th>#</th><th>contact</th><th>score</th><th>tier</th>'
        f"<th>trend</th><th>why</th></tr>{rows}</table>"
    )


def render(data: ReportData, top: int = 20) -> str:
    when = datetime.fromtimestamp(data.as_of, UTC).strftime("%Y-%m-%d %H:%M UTC")
    scores = [r.score for r in data.relationships]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Vinculo — network of {escape(data.owner_id)}</title><style>{CSS}</style></head>
<body><h1>Network of {escape(data.owner_id)}</h1>
<p class="sub">as of {when} · model {escape(data.model_version)}</p>
<div class="cards">{_cards(data)}</div>
<section><h2>Strength distribution</h2>{histogram_svg(scores)}</section>
<section><h2>From contact to relationship</h2>{funnel_svg(data.summary.funnel)}</section>
<section><h2>Top relationships over time</h2>
<p class="sub">Each bar runs from the first to the last recorded interaction.</p>
{timeline_svg(data.relationships[:top], data.as_of, data.labels)}</section>
<section><h2>What to do</h2>{_suggestions(data)}</section>
<section><h2>Strongest {min(top, len(data.relationships))}</h2>
{_ranking(data.relationships[:top])}<p class="sub">{escape(TIER_NOTE)}</p></section>
</body></html>
"""
