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
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.datasets import SNAP_DIR, SOURCES, make_event, read_snap, source_events
from bench.raw_kafka import create_topic, publish_direct
from bench.stack import Process, Stack, service
from bench.stats import wait_until
from vinculo.topics import INTERACTIONS_TOPIC
from vinculo.v1 import events_pb2 as pb

CONSUMED = "vinculo_scoring_events_consumed_total"
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
class ScaleRow:
    relationships: int
    fill_eps: float  # records/s while filling (producer and consumer concurrently)
    probe_events: int
    probe_eps: float  # drain rate of the uniform probe's backlog
    cpu_us_per_event: float  # scoring CPU per uniform probe event (one record each)
    replay_records: int
    replay_rps: float  # drain rate of the replay backlog, records/s
    replay_cpu_us_per_record: float
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


def _drain(scoring: Process, target: float, timeout_s: float) -> None:
    wait_until(lambda: scoring.metric(CONSUMED) >= target, timeout_s, 0.05, "scoring to drain")


def _backlog(
    scoring: Process, bootstrap: str, events: list[pb.InteractionEvent], timeout_s: float
) -> tuple[int, float, float]:
    """Write events while scoring is suspended, then time its drain:
    (records, records/s, scoring CPU µs per record)."""
    base = scoring.metric(CONSUMED)
    ps = scoring.ps
    ps.suspend()
    try:
        records, _ = publish_direct(bootstrap, events)
        cpu_before = sum(ps.cpu_times()[:2])
    finally:
        ps.resume()
    start = time.perf_counter()
    _drain(scoring, base + records, timeout_s)
    elapsed = time.perf_counter() - start
    cpu = sum(ps.cpu_times()[:2]) - cpu_before
    return records, records / elapsed, cpu / records * 1e6


def _fill(
    scoring: Process, bootstrap: str, events: Iterable[pb.InteractionEvent], timeout_s: float
) -> float:
    """Publish and consume concurrently; records/s."""
    base = scoring.metric(CONSUMED)
    start = time.perf_counter()
    records, _ = publish_direct(bootstrap, events)
    _drain(scoring, base + records, timeout_s)
    return records / (time.perf_counter() - start) if records else float("nan")


def run(
    root: Path, checkpoints: Sequence[int], probe: int, timeout_s: float = 1800.0
) -> list[ScaleRow]:
    root.mkdir(parents=True, exist_ok=True)
    rows: list[ScaleRow] = []
    window = read_snap(SNAP_DIR / REPLAY_SOURCE.file, probe)
    copies = len(checkpoints) + 1
    with Stack(root, with_services=False) as stack:
        bootstrap = stack.broker.bootstrap
        create_topic(bootstrap, INTERACTIONS_TOPIC, 8)
        scoring = service("scoring_service", root, bootstrap)
        stack.scoring = scoring  # stopped by the stack
        scoring.start()
        data_dir = root / "scoring_service"
        _fill(scoring, bootstrap, replay_events(window, 0, copies), timeout_s)
        filled = 0
        for step, target in enumerate(checkpoints):
            fill = events_for(iter(range(filled, target)), "f", step)
            fill_eps = _fill(scoring, bootstrap, fill, timeout_s)
            filled = target
            rng = random.Random(1000 + step)
            picks = iter([rng.randrange(filled) for _ in range(probe)])
            uniform = list(events_for(picks, f"p{step}", 2000 + step))
            _, probe_eps, cpu_us = _backlog(scoring, bootstrap, uniform, timeout_s)
            replay = replay_events(window, step + 1, copies)
            replayed, replay_rps, replay_us = _backlog(scoring, bootstrap, replay, timeout_s)
            total, main = disk_bytes(data_dir)
            rows.append(
                ScaleRow(
                    relationships=int(scoring.metric(RELATIONSHIPS)),
                    fill_eps=fill_eps,
                    probe_events=len(uniform),
                    probe_eps=probe_eps,
                    cpu_us_per_event=cpu_us,
                    replay_records=replayed,
                    replay_rps=replay_rps,
                    replay_cpu_us_per_record=replay_us,
                    disk_bytes=total,
                    db_bytes=main,
                    scoring_rss_mb=scoring.ps.memory_info().rss / 2**20,
                )
            )
            print(f"  scale {rows[-1]}", flush=True)
    return rows
