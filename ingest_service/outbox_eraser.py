"""The outbox forgets too: records of erased people are cut out of it.

The outbox (`outbox.py`) is replayed into a broker that lost its log, and it is
the history a rebuild and `vinculo export` need, so it must not keep what a
tombstone erased (`vinculo.erasure`). Every `CHECK_INTERVAL_S` this thread reads
the tombstone topic whole (few, small records); when it holds tombstones this
outbox was not yet compacted for, the outbox is rewritten without the records
they match (`Outbox.compact`), and the old file is replaced.
"""

from __future__ import annotations

import logging
import threading

from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from kafka.errors import KafkaError

from ingest_service.outbox import Outbox
from ingest_service.publisher import Record
from vinculo import tombstone_log
from vinculo.erasure import TombstoneSet
from vinculo.security.kafka import PLAINTEXT, KafkaSecurity
from vinculo.timestamps import seconds_of
from vinculo.v1 import events_pb2 as pb

log = logging.getLogger(__name__)

CHECK_INTERVAL_S = 5.0
READ_TIMEOUT_S = 10.0


def erased_by(tombstones: TombstoneSet, record: Record) -> bool:
    try:
        event = pb.InteractionEvent.FromString(record.value)
    except DecodeError:
        return False  # never published by this service; the scoring side dead-letters it
    return tombstones.erased(event.owner_id, event.contact_id, seconds_of(event.occurred_at))


class OutboxEraser:
    def __init__(self, bootstrap: str, outbox: Outbox, security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap
        self._security = security
        self._outbox = outbox
        self._applied = TombstoneSet()
        self._checked = 0  # the outbox's size when last found clean of `_applied`
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-eraser", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(READ_TIMEOUT_S + 5)

    def check_once(self) -> int:
        """Compact for new tombstones, or for records appended since the last check that
        a tombstone matches (old events published again); returns the records removed."""
        tombstones = tombstone_log.read_all(self._bootstrap, READ_TIMEOUT_S, self._security)
        if [t for t in tombstones if self._applied.add(t)]:
            self._checked = 0  # a new tombstone: the whole outbox is checked again
        if not self._applied:
            return 0
        removed, self._checked = self._outbox.compact(
            lambda record: erased_by(self._applied, record), self._checked
        )
        if removed:
            log.info("outbox: %d record(s) of erased people removed", removed)
        return removed

    def _run(self) -> None:
        while not self._stop.wait(CHECK_INTERVAL_S):
            try:
                self.check_once()
            except (KafkaError, TimeoutError) as exc:
                log.debug("tombstone check: %s", exc)  # the broker is away: next tick
            except ValueError as exc:  # a record on the topic that is not a tombstone
                log.error("tombstone topic: %s; the outbox is not compacted for it", exc)
