"""The report in a terminal, with rich: ranking, funnel, reply rate, suggestions."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from vinculo.domain import TIER_NAMES, TREND_NAMES
from vinculo.v1 import scoring_pb2 as pb
from vinculo_apps.report.data import ACTION_NAMES, ReportData, who

TREND_MARKS = {1: "↓", 2: "→", 3: "↑"}
# Why two equal scores can sit in different tiers (scoring_service/tiers.py).
TIER_NOTE = (
    "Tier follows the score, except: a contact who never wrote back, called or met is at "
    "most acquaintance; no exchange at all is contact; your own label always wins."
)


def _date(stamp: object) -> str:
    seconds = getattr(stamp, "seconds", 0)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d") if seconds else "—"


def ranking_table(
    relationships: list[pb.Relationship], title: str, labels: dict[str, str], start: int = 1
) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("#", "contact", "score", "tier", "trend", "last interaction", "why"):
        table.add_column(column, justify="right" if column in ("#", "score") else "left")
    for rank, r in enumerate(relationships, start=start):
        table.add_row(
            str(rank),
            labels.get(r.contact_id) or who(r),
            f"{r.score:.3f}",
            TIER_NAMES.get(r.tier, "?"),
            f"{TREND_MARKS.get(r.trend, '')} {TREND_NAMES.get(r.trend, '')}",
            _date(r.signals.last_interaction),
            r.explanation[0] if r.explanation else "",
        )
    return table


def funnel_table(data: ReportData) -> Table:
    funnel = data.summary.funnel
    steps = (
        ("connections", funnel.connections, "connected on a network"),
        ("engaged", funnel.engaged, "any reciprocal exchange"),
        ("relationships", funnel.relationships, "tier relationship or close"),
        ("met or video call", funnel.met, "met in person or by video call at least once"),
    )
    table = Table(title="From contact to relationship", title_justify="left")
    for column in ("step", "contacts", "of connections", "meaning"):
        table.add_column(
            column, justify="right" if column != "step" and column != "meaning" else "left"
        )
    base = max(funnel.connections, 1)
    for name, count, meaning in steps:
        table.add_row(name, str(count), f"{100 * count / base:.1f}%", meaning)
    return table


def headline(data: ReportData) -> Text:
    s = data.summary
    rate = data.reply_rate()
    rate_text = (
        f"{100 * rate:.0f}% ({s.outreach_answered} of {s.outreach_sent})"
        if rate is not None
        else "no personalised outreach recorded"
    )
    text = Text()
    text.append(f"{s.total_contacts} contacts", style="bold")
    text.append(f" · {100 * s.relationship_share:.1f}% real relationships")
    text.append(f" · {100 * s.met_in_person_share:.1f}% met in person (not counting video)\n")
    tiers = sorted(s.tier_counts, key=lambda tc: -tc.tier)  # close first
    if tiers:
        counts = " · ".join(f"{TIER_NAMES.get(tc.tier, '?')} {tc.count}" for tc in tiers)
        text.append(f"By tier: {counts}\n")
    text.append(f"Reply rate to your personalised messages: {rate_text}\n")
    text.append(f"One-sided contacts (only one side ever wrote): {s.one_sided_contacts}")
    return text


def suggestions_tables(data: ReportData) -> list[Table | Text]:
    if data.suggestions_note:
        return [Text(f"Suggestions: {data.suggestions_note}.", style="yellow")]
    if not data.suggestions:
        return [Text("No suggestions: nothing needs your attention.")]
    out: list[Table | Text] = []
    for kind, name in ACTION_NAMES.items():
        rows = [s for s in data.suggestions if s.kind == kind]
        if not rows:
            continue
        table = Table(title=f"{name} ({len(rows)})", title_justify="left", show_lines=False)
        for column in ("contact", "reason", "evidence"):
            table.add_column(column)
        for s in rows:
            table.add_row(data.who(s), s.reason, "; ".join(s.evidence))
        out.append(table)
    return out


def render(data: ReportData, console: Console, top: int = 15) -> None:
    when = datetime.fromtimestamp(data.as_of, UTC).strftime("%Y-%m-%d %H:%M UTC")
    console.print(
        Panel(
            headline(data),
            title=f"Network of {data.owner_id} — {when}",
            subtitle=data.model_version,
        )
    )
    ranked = data.relationships
    console.print(ranking_table(ranked[:top], f"Strongest {min(top, len(ranked))}", data.labels))
    if len(ranked) > top:
        bottom = ranked[-min(top, len(ranked) - top) :]
        console.print(
            ranking_table(
                bottom, f"Weakest {len(bottom)}", data.labels, len(ranked) - len(bottom) + 1
            )
        )
    console.print(Text(TIER_NOTE, style="dim"))
    console.print(funnel_table(data))
    console.print(Group(*suggestions_tables(data)))
