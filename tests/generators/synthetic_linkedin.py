"""A synthetic LinkedIn export for tests and benchmarks: invented people, never real data.

Deterministic for a seed. The network has the shapes the posts describe, so
the suggestions on it are checkable (docs/networker.md):

- close: long, reciprocal, recent conversations (a few quiet for a month: nurture);
- pen pals: frequent correspondents over the last year, never met (meet in person);
- old friends: a rich exchange years ago, silent for over a year (reconnect);
- acquaintances: a couple of exchanges;
- waiting: the contact wrote recently and the owner did not answer (reply);
- welcomed: the owner sent a personalised welcome message, no answer (the >90%);
- silent: connected, nothing else (prune).

Dates use the styles seen in real exports, one per file, and names include
accents; `bad_rows=True` adds a few broken rows the importer must skip.
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from vinculo_apps.importers.linkedin_csv import normalise_name

DAY = 86_400.0
DEFAULT_END = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
SEGMENTS: tuple[tuple[str, float], ...] = (
    ("close", 0.03),
    ("penpal", 0.06),
    ("old_friend", 0.05),
    ("acquaintance", 0.15),
    ("waiting", 0.01),
    ("welcomed", 0.30),
    ("silent", 0.40),
)
# Share of the conversational message budget per segment.
_BUDGET = {"close": 0.35, "penpal": 0.35, "old_friend": 0.2, "acquaintance": 0.1}
_FIRST = [
    "Ana",
    "Beatriz",
    "Carlos",
    "Dolores",
    "Elena",
    "Fermín",
    "Gonzalo",
    "Helena",
    "Íñigo",
    "Julia",
    "Kenji",
    "Lucía",
    "Mateo",
    "Nuria",
    "Óscar",
    "Paula",
    "Quim",
    "Rocío",
    "Sergio",
    "Teresa",
    "Úrsula",
    "Víctor",
    "Wen",
    "Ximena",
    "Yago",
    "Zoe",
]
_LAST = [
    "Álvarez",
    "Bermejo",
    "Castaño",
    "Díaz",
    "Echeverría",
    "Fuentes",
    "García",
    "Herrera",
    "Iglesias",
    "Jiménez",
    "Kowalski",
    "López",
    "Muñoz",
    "Navarro",
    "Ortega",
    "Pérez",
    "Quintana",
    "Ruiz",
    "Sánchez",
    "Torres",
    "Urquijo",
    "Vidal",
    "Weiss",
    "Xu",
    "Yáñez",
    "Zubiri",
]
OWNER = ("Marta", "Synthetic", "https://www.linkedin.com/in/marta-synthetic")


@dataclass(frozen=True, slots=True)
class Contact:
    first: str
    last: str
    url: str
    segment: str
    connected: float


def _fmt_connections(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%d %b %Y")


def _fmt_messages(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt_invitations(t: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    return f"{d.month}/{d.day}/{d:%y}, {d:%I:%M %p}"


def _fmt_endorsements(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y/%m/%d %H:%M:%S UTC")


def _fmt_recommendations(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%m/%d/%y, %I:%M %p")


def make_contacts(n: int, rng: random.Random, end: float) -> list[Contact]:
    contacts = []
    edges = []
    total = 0.0
    for name, share in SEGMENTS:
        total += share
        edges.append((round(total * n), name))
    segment_index = 0
    # Two surnames, Spanish style, drawn without replacement: names are unique, so
    # files that only carry names (recommendations) match the right person.
    names = rng.sample(range(len(_FIRST) * len(_LAST) ** 2), n)
    for i, code in enumerate(names):
        while i >= edges[segment_index][0] and segment_index < len(edges) - 1:
            segment_index += 1
        segment = edges[segment_index][1]
        first = _FIRST[code % len(_FIRST)]
        rest = code // len(_FIRST)
        last = f"{_LAST[rest % len(_LAST)]} {_LAST[rest // len(_LAST)]}"
        slug = "-".join(normalise_name(f"{first} {last}").split()) + f"-{i:05d}"
        connected = end - rng.uniform(400, 3000) * DAY
        if segment in ("close", "penpal", "waiting"):
            connected = end - rng.uniform(400, 1200) * DAY
        contacts.append(
            Contact(first, last, f"https://www.linkedin.com/in/{slug}", segment, connected)
        )
    rng.shuffle(contacts)
    return contacts


def _span(contact: Contact, end: float, rng: random.Random) -> tuple[float, float]:
    """When the segment's conversation happens."""
    if contact.segment == "close":
        quiet = 35.0 if rng.random() < 0.3 else 1.0
        return end - 700 * DAY, end - rng.uniform(quiet, quiet + 8) * DAY
    if contact.segment == "penpal":
        return end - 360 * DAY, end - rng.uniform(1, 25) * DAY
    if contact.segment == "old_friend":
        return end - 1500 * DAY, end - rng.uniform(420, 600) * DAY
    start = max(contact.connected, end - 1000 * DAY)
    return start, start + rng.uniform(5, 60) * DAY


def _conversation(
    contact: Contact, count: int, end: float, rng: random.Random
) -> Iterator[tuple[bool, float]]:
    """(owner sends?, time) of a conversation, alternating with some follow-ups."""
    start, stop = _span(contact, end, rng)
    times = sorted(rng.uniform(start, stop) for _ in range(count))
    owner_turn = rng.random() < 0.5
    for t in times:
        yield owner_turn, t
        if rng.random() < 0.8:
            owner_turn = not owner_turn


def message_plan(
    contacts: list[Contact], n_messages: int, end: float, rng: random.Random
) -> Iterator[tuple[Contact, bool, float]]:
    """(contact, owner sends?, time) for every message of the export."""
    by_segment: dict[str, list[Contact]] = {}
    for c in contacts:
        by_segment.setdefault(c.segment, []).append(c)
    fixed = len(by_segment.get("welcomed", [])) + 4 * len(by_segment.get("waiting", []))
    budget = max(n_messages - fixed, 0)
    for segment, share in _BUDGET.items():
        people = by_segment.get(segment, [])
        per_person = max(2, round(budget * share / max(len(people), 1)))
        for c in people:
            count = max(2, round(per_person * rng.uniform(0.6, 1.4)))
            for owner_sends, t in _conversation(c, count, end, rng):
                yield c, owner_sends, t
    for c in by_segment.get("welcomed", []):
        yield c, True, c.connected + rng.uniform(0.01, 2) * DAY
    for c in by_segment.get("waiting", []):
        t0 = end - rng.uniform(80, 200) * DAY
        yield c, True, t0
        yield c, False, t0 + 1 * DAY
        yield c, True, t0 + 2 * DAY
        yield c, False, end - rng.uniform(3, 20) * DAY


class _Zip:
    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive

    def write(
        self, name: str, header: list[str], rows: Iterator[list[str]], notes: str = ""
    ) -> None:
        with self.archive.open(name, "w") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            text.write(notes)
            writer = csv.writer(text)
            writer.writerow(header)
            writer.writerows(rows)
            text.flush()
            text.detach()


def build_export(
    path: Path,
    n_connections: int = 2000,
    n_messages: int = 20000,
    seed: int = 7,
    end: float = DEFAULT_END,
    bad_rows: bool = False,
) -> list[Contact]:
    """Write a synthetic export ZIP at `path`; returns its contacts (for tests)."""
    rng = random.Random(seed)
    contacts = make_contacts(n_connections, rng, end)
    me = f"{OWNER[0]} {OWNER[1]}"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        out = _Zip(archive)
        out.write(
            "Profile.csv",
            ["First Name", "Last Name", "Headline"],
            iter([[OWNER[0], OWNER[1], "Synthetic"]]),
        )
        notes = (
            'Notes:\n"When exporting your connection data, you may notice that some of the '
            'email addresses are missing."\n\n'
        )
        rows = (
            [
                c.first,
                c.last,
                c.url,
                "",
                "Synthetic S.L.",
                "Engineer",
                _fmt_connections(c.connected),
            ]
            for c in contacts
        )
        extra = (
            [
                ["", "", "", "", "", "", "12 Mar 2023"],
                ["Broken", "Date", "", "", "", "", "yesterday"],
            ]
            if bad_rows
            else []
        )
        header = [
            "First Name",
            "Last Name",
            "URL",
            "Email Address",
            "Company",
            "Position",
            "Connected On",
        ]
        out.write("Connections.csv", header, iter([*rows, *extra]), notes)
        out.write(
            "Invitations.csv",
            [
                "From",
                "To",
                "Sent At",
                "Message",
                "Direction",
                "inviterProfileUrl",
                "inviteeProfileUrl",
            ],
            _invitations(rng, end, me),
        )
        plan = sorted(message_plan(contacts, n_messages, end, rng), key=lambda m: (m[0].url, -m[2]))
        out.write("messages.csv", _MESSAGE_HEADER, _message_rows(plan, me, bad_rows))
        _services(out, contacts, rng)
    return contacts


_MESSAGE_HEADER = [
    "CONVERSATION ID",
    "CONVERSATION TITLE",
    "FROM",
    "SENDER PROFILE URL",
    "TO",
    "RECIPIENT PROFILE URLS",
    "DATE",
    "SUBJECT",
    "CONTENT",
    "FOLDER",
]


def _message_rows(
    plan: list[tuple[Contact, bool, float]], me: str, bad_rows: bool
) -> Iterator[list[str]]:
    for n, (c, owner_sends, t) in enumerate(plan):
        conversation = "2-" + c.url.rsplit("/", 1)[1]
        them = f"{c.first} {c.last}"
        sender, sender_url, to, to_url = (
            (me, OWNER[2], them, c.url) if owner_sends else (them, c.url, me, OWNER[2])
        )
        yield [
            conversation,
            "",
            sender,
            sender_url,
            to,
            to_url,
            _fmt_messages(t),
            "",
            f"(synthetic message {n})",
            "INBOX",
        ]
    if bad_rows:
        yield ["2-bad", "", me, OWNER[2], "Nobody", "", "not a date", "", "x", "INBOX"]


def _invitations(rng: random.Random, end: float, me: str) -> Iterator[list[str]]:
    for i in range(60):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        url = f"https://www.linkedin.com/in/pending-{i:03d}"
        t = end - rng.uniform(1, 90) * DAY
        message = "Hola, me gustó tu charla. (synthetic)" if i % 3 == 0 else ""
        if i % 2:
            yield [me, f"{first} {last}", _fmt_invitations(t), message, "OUTGOING", OWNER[2], url]
        else:
            yield [f"{first} {last}", me, _fmt_invitations(t), message, "INCOMING", url, OWNER[2]]


def _services(out: _Zip, contacts: list[Contact], rng: random.Random) -> None:
    strong = [c for c in contacts if c.segment in ("close", "penpal", "old_friend")]
    for file, role in (
        ("Endorsement_Given_Info.csv", "Endorsee"),
        ("Endorsement_Received_Info.csv", "Endorser"),
    ):
        header = [
            "Endorsement Date",
            "Skill Name",
            f"{role} First Name",
            f"{role} Last Name",
            f"{role} Public Url",
            "Endorsement Status",
        ]
        chosen = rng.sample(strong, min(len(strong), 80))
        out.write(
            file,
            header,
            (
                [
                    _fmt_endorsements(c.connected + 30 * DAY),
                    "Python",
                    c.first,
                    c.last,
                    c.url.removeprefix("https://"),
                    "ACCEPTED",
                ]
                for c in chosen
            ),
        )
    for file in ("Recommendations_Given.csv", "Recommendations_Received.csv"):
        header = [
            "First Name",
            "Last Name",
            "Company",
            "Job Title",
            "Text",
            "Creation Date",
            "Status",
        ]
        chosen = rng.sample(strong, min(len(strong), 10))
        out.write(
            file,
            header,
            (
                [
                    c.first,
                    c.last,
                    "Synthetic S.L.",
                    "Engineer",
                    "Worked together. (synthetic)",
                    _fmt_recommendations(c.connected + 60 * DAY),
                    "VISIBLE",
                ]
                for c in chosen
            ),
        )
