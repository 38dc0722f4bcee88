"""A realistic, deterministic professional network for the demo (shared/DOMAIN.md).

Forty tracked people (the focal owner "ana" and 39 colleagues) and their
networks: most contacts are LinkedIn connections and nothing more; the owner
answers inbound invitations with a personalised welcome that ~90% never
answer; a small core writes back and forth, calls, endorses, introduces and
has often met in person; some ties were strong and went quiet; some contacts
only send sales pitches, and some of the owner's own outreach goes unanswered.

Each pair's history is generated once, from one side. Contacts who are not
tracked are marked owner_only; between two tracked people the ingest service
records the mirrored copy in the other's network.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from vinculo.timestamps import set_seconds
from vinculo.v1 import events_pb2 as pb

DAY = 86_400.0
FOCAL_OWNER = "ana"

# Share of a network per archetype, as the posts describe it: connections
# that never evolve dominate; a few percent become real relationships.
ARCHETYPE_SHARES: dict[str, float] = {
    "dormant": 0.72,  # connected, maybe welcomed, never engaged
    "welcomed_replied": 0.03,  # answered the personalised welcome, a short exchange
    "acquaintance": 0.08,  # group comments, reactions, a few private messages
    "met_at_event": 0.03,  # met once in person at a conference, a few messages
    "core": 0.04,  # frequent reciprocal correspondents, calls, services, meetings
    "cooling": 0.03,  # was close, quiet for the last months
    "spammer": 0.04,  # one-sided inbound sales pitches, never answered
    "cold_outreach": 0.03,  # the owner's own messages, never answered
}

_FIRST_NAMES = [
    "ana",
    "bruno",
    "carla",
    "diego",
    "elena",
    "fabio",
    "gloria",
    "hugo",
    "irene",
    "javier",
    "karen",
    "luis",
    "marta",
    "nacho",
    "olga",
    "pablo",
    "quim",
    "rosa",
    "sergio",
    "teresa",
    "ulises",
    "vera",
    "walter",
    "ximena",
    "yago",
    "zoe",
    "alba",
    "bea",
    "cesar",
    "dora",
    "enzo",
    "fina",
    "gael",
    "hilda",
    "ivan",
    "julia",
    "kike",
    "lola",
    "mario",
    "nuria",
]


@dataclass
class DemoNetwork:
    events: list[pb.InteractionEvent]
    focal: str
    tracked: list[str]
    # (owner, contact) -> archetype, for pairs generated from the owner's side
    archetypes: dict[tuple[str, str], str] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # person id -> display name

    def records(self) -> int:
        """Records the ingest service publishes: one per event, two if mirrored."""
        return sum(1 if e.owner_only else 2 for e in self.events)


_GIVEN = ("Ana", "Luis", "Marta", "Javier", "Lucía", "Pablo", "Carmen", "Diego", "Elena",
          "Sergio", "Nuria", "Álvaro", "Irene", "Jorge", "Paula", "Raúl", "Sofía", "Íñigo",
          "Laura", "Andrés", "Beatriz", "Óscar", "Clara", "Mateo", "Rocío", "Hugo")  # fmt: skip
_SURNAMES = ("García", "Martínez", "López", "Sánchez", "Pérez", "Gómez", "Fernández", "Ruiz",
             "Díaz", "Moreno", "Muñoz", "Álvarez", "Romero", "Navarro", "Torres", "Domínguez",
             "Vázquez", "Ramos", "Gil", "Serrano", "Blanco", "Molina", "Castro",
             "Ortega")  # fmt: skip


def display_names(person_ids: Iterable[str]) -> dict[str, str]:
    """A made-up, distinct display name per generated person (given name and two
    surnames, as in Spain), so the report shows people, not ids."""
    names: dict[str, str] = {}
    for i, person in enumerate(sorted(set(person_ids))):
        given = _GIVEN[i % len(_GIVEN)]
        first = _SURNAMES[(i // len(_GIVEN)) % len(_SURNAMES)]
        second = _SURNAMES[(i // (len(_GIVEN) * len(_SURNAMES))) % len(_SURNAMES)]
        names[person] = f"{given} {first} {second}"
    return names


class _PairWriter:
    """Builds the events of one (owner, contact) pair with ids unique per owner."""

    def __init__(self, owner: str, contact: str, tracked: bool, counter: list[int], now: float):
        self.owner, self.contact, self.tracked = owner, contact, tracked
        self._counter, self.now = counter, now
        self.events: list[pb.InteractionEvent] = []

    def add(self, kind: int, direction: int, at: float, **attrs: object) -> str:
        self._counter[0] += 1
        event_id = f"{self.owner}-{self._counter[0]:06d}"
        at = min(at, self.now - 60.0)
        event = pb.InteractionEvent(
            event_id=event_id,
            owner_id=self.owner,
            contact_id=self.contact,
            type=kind,  # type: ignore[arg-type]
            direction=direction,  # type: ignore[arg-type]
            channel=str(attrs.pop("channel", "linkedin")),
            owner_only=not self.tracked,
            **attrs,  # type: ignore[arg-type]
        )
        set_seconds(event.occurred_at, at)
        self.events.append(event)
        return event_id


OUT, IN, MUTUAL = pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND, pb.DIRECTION_MUTUAL
T = pb  # short alias for the INTERACTION_TYPE_* constants below


def _outreach(w: _PairWriter, at: float) -> str:
    """A personalised private message from the owner: a welcome, or cold outreach."""
    return w.add(T.INTERACTION_TYPE_MESSAGE, OUT, at, personalized=True, audience_size=1)


def _connect(w: _PairWriter, rng: random.Random, at: float, welcome_rate: float) -> str | None:
    """Connection request and acceptance; returns the welcome message id if one was sent."""
    inbound = rng.random() < 0.7
    direction = IN if inbound else OUT
    personalized = rng.random() < (0.2 if inbound else 0.6)
    w.add(T.INTERACTION_TYPE_CONNECTION_REQUEST, direction, at, personalized=personalized)
    accepted_at = at + rng.uniform(0.1, 3) * DAY
    w.add(T.INTERACTION_TYPE_CONNECTION_ACCEPTED, OUT if inbound else IN, accepted_at)
    if inbound and rng.random() < welcome_rate:
        welcome_at = accepted_at + rng.uniform(0.01, 0.5) * DAY
        return w.add(
            T.INTERACTION_TYPE_MESSAGE, OUT, welcome_at, personalized=True, audience_size=1
        )
    return None


def _conversation(w: _PairWriter, rng: random.Random, start: float, end: float, n: int) -> None:
    """n private exchanges in [start, end]: one side writes, the other usually answers."""
    for _ in range(n):
        at = rng.uniform(start, end)
        first = OUT if rng.random() < 0.5 else IN
        channel = rng.choice(("linkedin", "email", "email", "whatsapp"))
        msg = w.add(T.INTERACTION_TYPE_MESSAGE, first, at, channel=channel, audience_size=1)
        if rng.random() < 0.85:
            answer = OUT if first == IN else IN
            delay = rng.expovariate(1 / (0.3 * DAY))
            w.add(
                T.INTERACTION_TYPE_REPLY, answer, at + delay, channel=channel, in_reply_to=msg,
                audience_size=1,
            )  # fmt: skip


def _group_activity(w: _PairWriter, rng: random.Random, start: float, end: float, n: int) -> None:
    """Comments in group debates and reactions, in both directions."""
    for _ in range(n):
        kind = rng.choice((T.INTERACTION_TYPE_COMMENT, T.INTERACTION_TYPE_REACTION))
        size = rng.randint(20, 800)
        w.add(kind, rng.choice((OUT, IN)), rng.uniform(start, end), audience_size=size)


def _calls_and_services(w: _PairWriter, rng: random.Random, start: float, end: float) -> None:
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice((T.INTERACTION_TYPE_CALL, T.INTERACTION_TYPE_VIDEO_CALL))
        duration = rng.randint(600, 3600)
        w.add(kind, rng.choice((OUT, IN)), rng.uniform(start, end), duration_seconds=duration)
    services = (
        T.INTERACTION_TYPE_ENDORSEMENT,
        T.INTERACTION_TYPE_RECOMMENDATION,
        T.INTERACTION_TYPE_INTRODUCTION,
        T.INTERACTION_TYPE_COLLABORATION,
    )
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(services)
        direction = MUTUAL if kind == T.INTERACTION_TYPE_COLLABORATION else rng.choice((OUT, IN))
        w.add(kind, direction, rng.uniform(start, end))


def _meet(w: _PairWriter, rng: random.Random, start: float, end: float, n: int) -> None:
    for _ in range(n):
        w.add(
            T.INTERACTION_TYPE_MEETING_IN_PERSON, MUTUAL, rng.uniform(start, end),
            channel="in_person", duration_seconds=rng.randint(1800, 7200),
        )  # fmt: skip


_ENGAGED = ("acquaintance", "met_at_event", "core", "cooling")


def _history(w: _PairWriter, rng: random.Random, archetype: str, start: float) -> None:
    """All events of one pair, from the connection at `start` until now."""
    now = w.now
    welcome = _connect(w, rng, start, welcome_rate=0.8)
    t0 = start + 3 * DAY
    if archetype == "welcomed_replied":
        if welcome is None:
            welcome = _outreach(w, t0)
        reply_at = t0 + rng.uniform(0.1, 3) * DAY
        w.add(T.INTERACTION_TYPE_REPLY, IN, reply_at, in_reply_to=welcome, audience_size=1)
        _conversation(w, rng, reply_at, now, rng.randint(0, 3))
    elif welcome is not None and archetype in _ENGAGED and rng.random() < 0.08:
        # Engaged later, some of them answered the welcome too.
        w.add(T.INTERACTION_TYPE_REPLY, IN, t0, in_reply_to=welcome, audience_size=1)
    if archetype in ("acquaintance", "met_at_event"):
        _group_activity(w, rng, t0, now, rng.randint(2, 8))
        _conversation(w, rng, t0, now, rng.randint(0, 3))
        if archetype == "met_at_event":
            _meet(w, rng, t0, now, 1)
    elif archetype in ("core", "cooling"):
        # Cooling ties went quiet 4 to 10 months ago: the recent ones call for
        # nurture, the older ones for reconnecting.
        quiet_for = rng.uniform(120, 300) * DAY
        end = now if archetype == "core" else max(t0 + 10 * DAY, now - quiet_for)
        _conversation(w, rng, t0, end, rng.randint(10, 30))
        _group_activity(w, rng, t0, end, rng.randint(2, 8))
        _calls_and_services(w, rng, t0, end)
        if rng.random() < 0.7:
            _meet(w, rng, t0, end, rng.randint(1, 3))
    elif archetype == "spammer":
        for i in range(rng.randint(3, 8)):
            w.add(
                T.INTERACTION_TYPE_MESSAGE, IN, t0 + i * rng.uniform(3, 15) * DAY, audience_size=1
            )
    elif archetype == "cold_outreach":
        for i in range(rng.randint(2, 5)):
            _outreach(w, t0 + i * rng.uniform(7, 20) * DAY)


def _archetype_plan(rng: random.Random, size: int) -> list[str]:
    """Exactly the shares of ARCHETYPE_SHARES (rounded, the rest dormant), shuffled.

    A plan rather than independent draws: a 300-contact network then has the
    same make-up for every seed, only who is who changes.
    """
    plan = [name for name, share in ARCHETYPE_SHARES.items() for _ in range(round(share * size))]
    plan = plan[:size] + ["dormant"] * (size - len(plan))
    rng.shuffle(plan)
    return plan


def _connection_time(rng: random.Random, archetype: str, now: float, months: float) -> float:
    span = months * 30 * DAY
    # Strong ties are older; the welcome/spam stream keeps arriving.
    if archetype in ("core", "cooling"):
        return now - span + rng.uniform(0, 0.2) * span
    return now - span + rng.uniform(0, 0.95) * span


def generate(
    seed: int = 7,
    now: float | None = None,
    people: int = 40,
    focal_contacts: int = 300,
    other_contacts: tuple[int, int] = (30, 80),
    months: float = 18.0,
) -> DemoNetwork:
    """The whole network; the same arguments give the same events."""
    rng = random.Random(seed)
    now = float(int(time.time() if now is None else now))
    tracked = [
        _FIRST_NAMES[i % len(_FIRST_NAMES)] + ("" if i < 40 else str(i)) for i in range(people)
    ]
    network = DemoNetwork(events=[], focal=tracked[0], tracked=tracked)
    counters: dict[str, list[int]] = {name: [0] for name in tracked}
    done: set[frozenset[str]] = set()
    for owner in tracked:
        size = focal_contacts if owner == network.focal else rng.randint(*other_contacts)
        # A third of a tracked person's contacts are other tracked people (colleagues).
        colleagues = rng.sample(
            [p for p in tracked if p != owner], k=min(len(tracked) - 1, size // 3)
        )
        contacts = colleagues + [f"{owner}-c{i:04d}" for i in range(size - len(colleagues))]
        for contact, archetype in zip(contacts, _archetype_plan(rng, size), strict=True):
            pair = frozenset((owner, contact))
            if pair in done:
                continue  # generated from the other side already
            done.add(pair)
            writer = _PairWriter(owner, contact, contact in counters, counters[owner], now)
            _history(writer, rng, archetype, _connection_time(rng, archetype, now, months))
            network.events.extend(writer.events)
            network.archetypes[(owner, contact)] = archetype
    network.events.sort(key=lambda e: (e.occurred_at.seconds, e.occurred_at.nanos))
    network.names = display_names(e.contact_id for e in network.events)
    for event in network.events:
        event.contact_name = network.names[event.contact_id]
    return network


def contacts_of(network: DemoNetwork, owner: str) -> set[str]:
    """Everyone `owner` has an event with, from either side."""
    seen: set[str] = set()
    for e in network.events:
        if e.owner_id == owner:
            seen.add(e.contact_id)
        elif e.contact_id == owner and not e.owner_only:
            seen.add(e.owner_id)
    return seen
