"""Scale: per-event cost and store size as the store grows towards 1M relationships.

A broker and a scoring service of their own, starting empty. The store is
filled with synthetic relationships (owners of 1,000 contacts, one owner-only
event each, written straight to the topic) up to each checkpoint; there, a
probe of events updating random existing relationships is written while the
scoring process is suspended (SIGSTOP), then it is resumed and timed until it
has consumed them all: the drain rate is the consumer's own speed, not the
producer's. CPU seconds per probe event (psutil) is the second, steadier view.

Two probes per checkpoint. The uniform one updates relationships drawn evenly
from the whole store: the worst case, every update on a page no other update
shares. The replay one is real traffic: the newest e-mails of
email-Eu-core-temporal (each with its mirrored copy), replayed at every
checkpoint with fresh ids and later times onto the same real ties, loaded once
before the first checkpoint. It asks whether a store grown with cold
relationships slows down the traffic a deployment actually sees.

A reference beside it: a second broker and scoring service whose store stays
at the first checkpoint's size, given the same two probes right after the
growing one at every checkpoint. The checkpoints lie minutes apart and these
machines drift by +-25% in that time, so "cost at 1M over cost at 10k" is read
as the growing store's cost over the reference's, measured in the same minute.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.datasets import SNAP_DIR, SOURCES, make_event, read_snap, source_events
from bench.raw_kafka import create_topic, publish_direct
from bench.stack import Service, Stack, service
from bench.stats import wait_until
from vinculo.topics import INTERACTIONS_TOPIC
from vinculo.v1 import events_pb2 as pb

COMMITTED = "vinculo_scoring_events_committed_total"  # durable: the probe's commits included
# Each probe is taken this many times per checkpoint, interleaved with the reference's, and
# the takes pooled: a probe's CPU includes whatever WAL checkpoint falls in it (measured:
# the same 4,000-event probe on the same store cost 25 to 72 us per event).
REPEATS = 3
# Below this share of a core the scoring process counts as idle (it polls the broker
# at ~1.5% of a core with nothing to do).
IDLE_SHARE = 0.05
RELATIONSHIPS = "vinculo_scoring_relationships"
CONTACTS_PER_OWNER = 1000
_TYPES = (pb.INTERACTION_TYPE_MESSAGE, pb.INTERACTION_TYPE_COMMENT, pb.INTERACTION_TYPE_CALL)
REPLAY_SOURCE = SOURCES[1]  # email-Eu: 986 people whose ties recur, as a real network's do


def relationship(j: int) -> tuple[str, str]:
    owner = f"scale:o{j // CONTACTS_PER_OWNER}"
    return owner, f"{owner}/c{j % CONTACTS_PER_OWNER}"


def events_for(indices: Iterator[int], tag: str, seed: int) -> Iterator[pb.InteractionEvent]:
    rng = random.Random(seed)
    end = time.time() - 60.0
    for n, j in enumerate(indices):
        owner, contact = relationship(j)
        yield make_event(
            f"scale{tag}-{n}",
            owner,
            contact,
            end - rng.random() * 300 * 86_400.0,
            type=rng.choice(_TYPES),
            direction=rng.choice((pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND)),
            owner_only=True,
        )


def replay_events(
    rows: Sequence[tuple[int, int, int]], copy: int, copies: int
) -> list[pb.InteractionEvent]:
    """Copy `copy` of the real window, with its own ids, ending one window span after
    copy - 1 so that every copy is newer than the state the earlier ones left."""
    span = rows[-1][2] - rows[0][2] + 1
    shift = time.time() - 60.0 - (copies - 1 - copy) * span - rows[-1][2]
    return source_events(REPLAY_SOURCE, rows, shift, f"replay{copy}")


def disk_bytes(directory: Path) -> tuple[int, int]:
    """(all files under directory, the SQLite main files alone: no -wal/-shm, no logs)."""
    total = main = 0
    for path in directory.rglob("*"):
        if path.is_file():
            size = path.stat().st_size
            total += size
            if path.suffix in (".sqlite3", ".sqlite", ".db"):
                main += size
    return total, main


@dataclass(frozen=True)
class Probe:
    """A backlog drained by a suspended-then-resumed scoring service."""

    records: int
    rps: float  # records/s
    cpu_us_per_record: float


@dataclass(frozen=True)
class ScaleRow:
    relationships: int
    fill_eps: float  # records/s while filling (producer and consumer concurrently)
    probe_events: int
    probe_eps: float  # drain rate of the uniform probe's backlog
    cpu_us_per_event: float  # scoring CPU per uniform probe event (one record each)
    replay_records: int
    replay_rps: float  # drain rate of the replay backlog, records/s
    replay_cpu_us_per_record: float
    # The same probes on the reference store (first checkpoint's size), the same minute.
    reference_relationships: int
    reference_probe_eps: float
    reference_cpu_us_per_event: float
    reference_replay_rps: float
    reference_replay_cpu_us_per_record: float
    disk_bytes: int
    db_bytes: int
    scoring_rss_mb: float

    @property
    def bytes_per_relationship(self) -> float:
        return self.disk_bytes / max(self.relationships, 1)

    def as_dict(self) -> dict[str, Any]:
        row = asdict(self)
        row["bytes_per_relationship"] = self.bytes_per_relationship
        return row


def _drain(scoring: Service, target: float, timeout_s: float) -> None:
    wait_until(lambda: scoring.metric(COMMITTED) >= target, timeout_s, 0.05, "scoring to drain")


def _backlog(
    scoring: Service, bootstrap: str, events: list[pb.InteractionEvent], timeout_s: float
) -> Probe:
    """Write events while scoring is suspended, then time its drain."""
    base = scoring.metric(COMMITTED)
    ps = scoring.ps
    _settle(ps)  # what came before (a fill, another probe) is not this probe's cost
    ps.suspend()
    try:
        records, _ = publish_direct(bootstrap, events)
        cpu_before = sum(ps.cpu_times()[:2])
    finally:
        ps.resume()
    start = time.perf_counter()
    _drain(scoring, base + records, timeout_s)
    elapsed = time.perf_counter() - start
    _settle(ps)
    cpu = sum(ps.cpu_times()[:2]) - cpu_before
    return Probe(records, records / elapsed, cpu / records * 1e6)


def _settle(ps: psutil.Process, window_s: float = 0.05, timeout_s: float = 10.0) -> None:
    """Wait until the process is idle again: the WAL checkpoint that follows a probe's
    last commit runs in the background, and belongs to that probe's CPU, not the next's."""
    deadline = time.monotonic() + timeout_s
    before = sum(ps.cpu_times()[:2])
    while time.monotonic() < deadline:
        time.sleep(window_s)
        now = sum(ps.cpu_times()[:2])
        if now - before < IDLE_SHARE * window_s:
            return
        before = now


def _fill(
    scoring: Service, bootstrap: str, events: Iterable[pb.InteractionEvent], timeout_s: float
) -> float:
    """Publish and consume concurrently; records/s."""
    base = scoring.metric(COMMITTED)
    start = time.perf_counter()
    records, _ = publish_direct(bootstrap, events)
    _drain(scoring, base + records, timeout_s)
    return records / (time.perf_counter() - start) if records else float("nan")


@dataclass
class _Store:
    """A broker and a scoring service with `filled` synthetic relationships."""

    stack: Stack
    scoring: Service
    filled: int = 0

    @property
    def bootstrap(self) -> str:
        return self.stack.broker.bootstrap

    def fill_to(self, target: int, tag: str, timeout_s: float) -> float:
        events = events_for(iter(range(self.filled, target)), tag, target)
        eps = _fill(self.scoring, self.bootstrap, events, timeout_s)
        self.filled = target
        return eps

    def uniform(self, probe: int, tag: str, seed: int, timeout_s: float) -> Probe:
        rng = random.Random(seed)
        picks = iter([rng.randrange(self.filled) for _ in range(probe)])
        return _backlog(self.scoring, self.bootstrap, list(events_for(picks, tag, seed)), timeout_s)


def _serve(stack: Stack) -> _Store:
    """The interaction topic and a scoring service on this stack's broker (stopped with it)."""
    create_topic(stack.broker.bootstrap, INTERACTIONS_TOPIC, 8)
    stack.scoring = service("scoring_service", stack.root, stack.broker.bootstrap)
    stack.scoring.start()
    return _Store(stack, stack.scoring)


def run(
    root: Path, checkpoints: Sequence[int], probe: int, timeout_s: float = 1800.0
) -> list[ScaleRow]:
    root.mkdir(parents=True, exist_ok=True)
    window = read_snap(SNAP_DIR / REPLAY_SOURCE.file, probe)
    with (
        Stack(root / "growing", with_services=False) as growing,
        Stack(root / "reference", with_services=False) as beside,
    ):
        main, reference = _serve(growing), _serve(beside)
        return _measure(main, reference, checkpoints, probe, window, timeout_s)


def _measure(
    main: _Store,
    reference: _Store,
    checkpoints: Sequence[int],
    probe: int,
    window: Sequence[tuple[int, int, int]],
    timeout_s: float,
) -> list[ScaleRow]:
    copies = len(checkpoints) * REPEATS + 1  # replay copies, each newer than the last
    for store in (main, reference):
        _fill(store.scoring, store.bootstrap, replay_events(window, 0, copies), timeout_s)
    reference.fill_to(checkpoints[0], "r", timeout_s)
    rows: list[ScaleRow] = []
    for step, target in enumerate(checkpoints):
        fill_eps = main.fill_to(target, "f", timeout_s)
        probes: dict[str, list[Probe]] = {"u": [], "ur": [], "r": [], "rr": []}
        for repeat in range(REPEATS):
            seed = 1000 + step * REPEATS + repeat
            probes["u"].append(main.uniform(probe, f"p{seed}", seed, timeout_s))
            probes["ur"].append(reference.uniform(probe, f"q{seed}", seed, timeout_s))
            replay = replay_events(window, 1 + step * REPEATS + repeat, copies)
            probes["r"].append(_backlog(main.scoring, main.bootstrap, replay, timeout_s))
            probes["rr"].append(_backlog(reference.scoring, reference.bootstrap, replay, timeout_s))
        uniform, uniform_ref, replayed, replayed_ref = (_pooled(probes[k]) for k in probes)
        total, db = disk_bytes(main.stack.root / "scoring_service")
        rows.append(
            ScaleRow(
                relationships=int(main.scoring.metric(RELATIONSHIPS)),
                fill_eps=fill_eps,
                probe_events=uniform.records,
                probe_eps=uniform.rps,
                cpu_us_per_event=uniform.cpu_us_per_record,
                replay_records=replayed.records,
                replay_rps=replayed.rps,
                replay_cpu_us_per_record=replayed.cpu_us_per_record,
                reference_relationships=int(reference.scoring.metric(RELATIONSHIPS)),
                reference_probe_eps=uniform_ref.rps,
                reference_cpu_us_per_event=uniform_ref.cpu_us_per_record,
                reference_replay_rps=replayed_ref.rps,
                reference_replay_cpu_us_per_record=replayed_ref.cpu_us_per_record,
                disk_bytes=total,
                db_bytes=db,
                scoring_rss_mb=main.scoring.ps.memory_info().rss / 2**20,
            )
        )
        print(f"  scale {rows[-1]}", flush=True)
    return rows


def _pooled(probes: list[Probe]) -> Probe:
    """Repeated probes as one: all their records over all their time and CPU, so that
    costs paid now and then (a WAL truncation, a checkpoint) are spread over all."""
    records = sum(p.records for p in probes)
    seconds = sum(p.records / p.rps for p in probes)
    cpu_us = sum(p.records * p.cpu_us_per_record for p in probes)
    return Probe(records // len(probes), records / seconds, cpu_us / records)
