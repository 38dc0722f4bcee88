"""Scale: per-event cost and store size as the store grows towards 1M relationships.

A broker and a scoring service of their own, starting empty. The store is
filled with synthetic relationships (owners of 1,000 contacts, one owner-only
event each, written straight to the topic) up to each checkpoint; there, a
probe of events updating random existing relationships is written while the
scoring process is suspended (SIGSTOP), then it is resumed and timed until it
has consumed them all: the drain rate is the consumer's own speed, not the
producer's. CPU seconds per probe event (psutil) is the second, steadier view.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.datasets import make_event
from bench.raw_kafka import create_topic, publish_direct
from bench.stack import Process, Stack, service
from bench.stats import wait_until
from vinculo.topics import INTERACTIONS_TOPIC
from vinculo.v1 import events_pb2 as pb

CONSUMED = "vinculo_scoring_events_consumed_total"
RELATIONSHIPS = "vinculo_scoring_relationships"
CONTACTS_PER_OWNER = 1000
_TYPES = (pb.INTERACTION_TYPE_MESSAGE, pb.INTERACTION_TYPE_COMMENT, pb.INTERACTION_TYPE_CALL)


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
    probe_eps: float  # drain rate of the probe backlog
    cpu_us_per_event: float  # scoring CPU per probe event
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


def run(
    root: Path, checkpoints: Sequence[int], probe: int, timeout_s: float = 1800.0
) -> list[ScaleRow]:
    root.mkdir(parents=True, exist_ok=True)
    rows: list[ScaleRow] = []
    with Stack(root, with_services=False) as stack:
        bootstrap = stack.broker.bootstrap
        create_topic(bootstrap, INTERACTIONS_TOPIC, 8)
        scoring = service("scoring_service", root, bootstrap)
        stack.scoring = scoring  # stopped by the stack
        scoring.start()
        data_dir = root / "scoring_service"
        filled = 0
        for step, target in enumerate(checkpoints):
            base = scoring.metric(CONSUMED)
            start = time.perf_counter()
            fill = events_for(iter(range(filled, target)), "f", step)
            records, _ = publish_direct(bootstrap, fill)
            _drain(scoring, base + records, timeout_s)
            fill_s = time.perf_counter() - start
            filled = target
            rng = random.Random(1000 + step)
            picks = iter([rng.randrange(filled) for _ in range(probe)])
            probe_events = list(events_for(picks, f"p{step}", 2000 + step))
            base = scoring.metric(CONSUMED)
            ps = scoring.ps
            ps.suspend()
            try:
                publish_direct(bootstrap, probe_events)
                cpu_before = sum(ps.cpu_times()[:2])
            finally:
                ps.resume()
            start = time.perf_counter()
            _drain(scoring, base + len(probe_events), timeout_s)
            probe_s = time.perf_counter() - start
            cpu = sum(ps.cpu_times()[:2]) - cpu_before
            total, main = disk_bytes(data_dir)
            rows.append(
                ScaleRow(
                    relationships=int(scoring.metric(RELATIONSHIPS)),
                    fill_eps=records / fill_s if records else float("nan"),
                    probe_events=len(probe_events),
                    probe_eps=len(probe_events) / probe_s,
                    cpu_us_per_event=cpu / len(probe_events) * 1e6,
                    disk_bytes=total,
                    db_bytes=main,
                    scoring_rss_mb=ps.memory_info().rss / 2**20,
                )
            )
            print(f"  scale {rows[-1]}", flush=True)
    return rows
