"""Rendering the report from constructed data: terminal tables and the HTML page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from rich.console import Console

from vinculo.v1 import scoring_pb2 as pb
from vinculo_apps.report import html, terminal
from vinculo_apps.report.data import ReportData

AS_OF = 1_767_225_600.0  # 2026-01-01
DAY = 86_400


def relationship(i: int, score: float, tier: int, trend: int = 2) -> pb.Relationship:
    r = pb.Relationship(
        owner_id="marta",
        contact_id=f"linkedin:contact-{i:04d}",
        score=score,
        tier=tier,  # type: ignore[arg-type]
        trend=trend,  # type: ignore[arg-type]
        explanation=[f"{i} messages exchanged"],
    )
    r.signals.first_interaction.FromSeconds(int(AS_OF - (400 + i) * DAY))
    r.signals.last_interaction.FromSeconds(int(AS_OF - i * DAY))
    return r


def sample_report(n: int = 60, suggestions: bool = True) -> ReportData:
    relationships = [relationship(i, round(1 - i / n, 3), 4 - min(i // 15, 3)) for i in range(n)]
    summary = pb.GetNetworkSummaryResponse(
        owner_id="marta",
        total_contacts=n,
        relationship_share=0.25,
        met_in_person_share=0.05,
        outreach_sent=40,
        outreach_answered=4,
        model_version="test-model-1",
        one_sided_contacts=22,
        funnel=pb.Funnel(connections=n, engaged=30, relationships=15, met=3),
    )
    items = [
        pb.Suggestion(
            kind=pb.ACTION_KIND_MEET_IN_PERSON,
            contact_id="linkedin:contact-0003",
            reason="A real online relationship you have never met.",
            evidence=["40 messages sent, 38 received"],
        ),
        pb.Suggestion(
            kind=pb.ACTION_KIND_PRUNE,
            contact_id="linkedin:contact-0059",
            reason="Connected for a long time, never a real exchange <b>.",
            evidence=["connected since 2019-01-01"],
        ),
    ]
    return ReportData("marta", AS_OF, relationships, summary, items if suggestions else [])


def test_terminal_report_shows_every_part() -> None:
    console = Console(record=True, width=200)
    terminal.render(sample_report(), console, top=5)
    text = console.export_text()
    for expected in (
        "Network of marta",
        "Strongest 5",
        "Weakest 5",
        "linkedin:contact-0059",
        "From contact to relationship",
        "engaged",
        "10% (4 of 40)",
        "One-sided contacts (only one side ever wrote): 22",
        "Meet in person (1)",
        "Prune (1)",
    ):
        assert expected in text, expected


def test_terminal_report_says_when_suggestions_are_unavailable() -> None:
    data = sample_report(suggestions=False)
    data.suggestions_note = "this scoring service does not offer suggestions yet"
    console = Console(record=True, width=200)
    terminal.render(data, console)
    assert "does not offer suggestions" in console.export_text()


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_self_contained_with_three_charts() -> None:
    page = html.render(sample_report(), top=10)
    parser = _Collector()
    parser.feed(page)
    ids = {attrs.get("id") for tag, attrs in parser.tags if tag == "svg"}
    assert ids == {"strength-histogram", "funnel", "top-timeline"}
    assert not [t for t, _ in parser.tags if t in ("script", "link", "img", "iframe")]
    assert not re.search(r"(src|href)=\"https?:", page)
    assert page.count('class="bar"') == 10
    assert page.count('class="step"') == 4
    assert page.count('class="span"') == 10
    assert "&lt;b&gt;" in page and "<b>." not in page  # text is escaped


def test_histogram_counts_every_score_once() -> None:
    svg = html.histogram_svg([0.0, 0.05, 0.5, 0.99, 1.0])
    counts = [int(c) for c in re.findall(r"<title>[\d.]+-[\d.]+: (\d+)</title>", svg)]
    assert counts == [2, 0, 0, 0, 0, 1, 0, 0, 0, 2]


def test_empty_network_still_renders() -> None:
    data = sample_report(n=0, suggestions=False)
    page = html.render(data)
    assert 'id="funnel"' in page and "Nothing needs your attention" in page


def test_one_word_one_meaning_and_scores_that_explain_their_tiers() -> None:
    data = sample_report(n=4)
    data.relationships[1].score = 0.2341
    data.relationships[2].score = 0.2349
    console = Console(record=True, width=200)
    terminal.render(data, console, top=5)
    text = console.export_text()
    assert "0.234" in text and "0.235" in text  # not two "0.23" in two tiers
    assert "Tier follows the score, except" in text
    # "met in person" is in person only; the funnel step that counts video says so
    assert "met in person (not counting video)" in text
    assert re.search(r"met or video call[\s│]+3[\s│]", text), text
    page = html.render(data)
    assert "0.234" in page and "Tier follows the score, except" in page
    assert "met or video call: 3" in page


def test_timeline_labels_fit_inside_the_chart() -> None:
    data = sample_report(n=3)
    data.relationships[0].trend = pb.TREND_STRENGTHENING
    svg = html.timeline_svg(data.relationships, AS_OF)
    width = float(re.search(r'width="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    for x, label in re.findall(r'<text x="([\d.]+)"[^>]*>([^<]*strengthening)</text>', svg):
        assert float(x) + 7.5 * len(label) <= width, (x, label)  # ~7.5 px a character


def test_people_are_shown_by_name_with_their_role() -> None:
    data = sample_report(n=3)
    named = data.relationships[0]
    named.contact_id = "linkedin:%c3%ad%c3%b1igo-fern%c3%a1ndez-mart%c3%adnez-716"
    named.contact_name, named.contact_company = "Íñigo Fernández Martínez", "Acme"
    named.contact_position = "CTO"
    data.suggestions[0].contact_id = named.contact_id
    data.suggestions[0].contact_name = named.contact_name
    console = Console(record=True, width=80)
    terminal.render(data, console, top=3)
    text = console.export_text()
    assert "Íñigo" in text and "%c3" not in text
    page = html.render(data)
    assert "Íñigo Fernández Martínez" in page and "CTO, Acme" in page and "%c3" not in page
    assert "linkedin:contact-0001" in page  # no name known: the id


def namesakes_report() -> ReportData:
    """Two different people called John Smith (Globex, Initech), and a third unnamed contact."""
    people = [relationship(i, 0.5 - i / 10, 1) for i in range(3)]
    for person, company in zip(people[:2], ("Globex", "Initech"), strict=True):
        person.contact_name, person.contact_company = "John Smith", company
    prune = pb.Suggestion(
        kind=pb.ACTION_KIND_PRUNE, contact_id=people[1].contact_id, contact_name="John Smith"
    )
    summary = pb.GetNetworkSummaryResponse(owner_id="marta", total_contacts=3)
    return ReportData("marta", AS_OF, people, summary, [prune])


def test_namesakes_are_told_apart_by_company_in_every_table() -> None:
    data = namesakes_report()
    console = Console(record=True, width=200)
    terminal.render(data, console)
    text = console.export_text()
    assert "John Smith (Globex)" in text
    assert text.count("John Smith (Initech)") == 2  # ranking and the prune suggestion
    page = html.render(data)
    assert "John Smith (Globex)" in page and "John Smith (Initech)" in page


def test_namesakes_without_a_role_are_told_apart_by_id() -> None:
    data = namesakes_report()
    data.relationships[1].contact_company = ""
    labels = ReportData("marta", AS_OF, data.relationships, data.summary).labels
    assert labels[data.relationships[0].contact_id] == "John Smith (linkedin:contact-0000)"
    assert labels[data.relationships[1].contact_id] == "John Smith (linkedin:contact-0001)"
    assert labels[data.relationships[2].contact_id] == "linkedin:contact-0002"
