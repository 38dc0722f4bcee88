"""In-process write path: processor and store, no broker, no gRPC.

Fills a store with synthetic relationships the way `bench.scale` does (owners of
1,000 contacts, one event each), then times uniform updates (relationships drawn
evenly from the whole store) in polls of 5,000 records, committed after each poll,
as the consumer does. The process's CPU time per update and the store's page
writes per update (pages appended to the WAL, read from the WAL's size) are
printed for each store size, so that the write path's growth can be studied without
the broker's and the machine's noise.

    .venv/bin/python -m bench.write_path 10000 300000 1000000
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.scale import events_for
from scoring_service.processor import BatchProcessor
from scoring_service.store import StateStore
from vinculo.v1 import events_pb2 as pb

POLL = 5_000
PAGE = 4096


@dataclass(frozen=True, slots=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class _Feed:
    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.processor = BatchProcessor(store)
        self.offset = 0

    def run(self, events: Iterator[pb.InteractionEvent]) -> int:
        """Process and commit the events in polls; how many there were."""
        n = 0
        poll: list[Record] = []
        for event in events:
            poll.append(Record(0, self.offset, event.owner_id.encode(), event.SerializeToString()))
            self.offset += 1
            if len(poll) == POLL:
                n += self._commit(poll)
                poll = []
        return n + (self._commit(poll) if poll else 0)

    def _commit(self, poll: list[Record]) -> int:
        self.processor.process(poll)
        self.store.commit(self.processor.take_batch())
        return len(poll)


def _wal_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def probe(size: int, updates: int, directory: Path, seed: int = 7) -> tuple[float, float]:
    """CPU µs and WAL pages per uniform update on a store of `size` relationships."""
    path = directory / f"state-{size}.db"
    # A WAL limit beyond the probe's reach: every dirtied page is counted, none truncated.
    store = StateStore(path, "interactions", wal_limit_mb=4096)
    try:
        feed = _Feed(store)
        feed.run(events_for(iter(range(size)), "fill", seed))
        rng = random.Random(seed)
        indices = (rng.randrange(size) for _ in range(updates))
        store._checkpointer.stop()  # its copies would blur the WAL count
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        wal_before = _wal_bytes(path)
        cpu = time.process_time()
        feed.run(events_for(indices, "uniform", seed + 1))
        pages = (_wal_bytes(path) - wal_before) / (PAGE + 24)
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # its cost counts
        cpu = time.process_time() - cpu
    finally:
        store.close()
    return cpu / updates * 1e6, pages / updates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sizes", type=int, nargs="+")
    parser.add_argument("--updates", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            us, pages = probe(size, args.updates, Path(tmp))
            print(f"{size:>9,} relationships: {us:6.1f} CPU µs, {pages:5.2f} WAL pages per update")


if __name__ == "__main__":
    main()
