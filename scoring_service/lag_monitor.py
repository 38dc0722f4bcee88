"""Lag from the broker's end offsets, and whether the broker answers, off the consumer thread.

The consumer's own view (high watermark of its last fetch minus its fetch
position) reads 0 exactly when it matters: a consumer that is stalled fetches
nothing, so neither number moves (issue 22: 60,000 records waiting, lag 0).
Here a thread of its own asks the broker for each partition's end offset every
`interval_s` and subtracts the offset committed in the state store (what is
durably scored), so the gauge counts what is really not yet scored, whatever
the consumer thread does. The same request tells whether the broker answers
(`vinculo_scoring_broker_up`), which the server turns into readiness.

Its KafkaConsumer joins no group and subscribes to nothing: it only sends
ListOffsets, metadata and one small fetch per interval (see `_high_watermarks`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from scoring_service.metrics import ScoringMetrics
from scoring_service.store import StateStore
from vinculo.security.kafka import PLAINTEXT, KafkaSecurity, kafka_client_config

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_MS = 2000


class LagMonitor:
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        partitions: int,
        store: StateStore,
        metrics: ScoringMetrics,
        assigned: Callable[[], frozenset[int]],
        interval_s: float = 2.0,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self._bootstrap = bootstrap
        self._kafka = kafka_client_config(security)
        self._topic = topic
        self._partitions = partitions
        self._store = store
        self._metrics = metrics
        self._assigned = assigned
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-monitor", daemon=True)
        self._consumer: KafkaConsumer | None = None
        self.broker_up = threading.Event()
        self._reported: set[int] = set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._measure()
                self._stop.wait(self._interval_s)
        finally:
            if self._consumer is not None:
                self._consumer.close()

    def _measure(self) -> None:
        try:
            ends = self._end_offsets()
        except KafkaError as exc:
            if self.broker_up.is_set():
                log.warning("broker at %s does not answer: %s", self._bootstrap, exc)
            self._set_up(False)
            return
        if not self.broker_up.is_set():
            log.info("broker at %s answers", self._bootstrap)
        self._set_up(True)
        committed = self._store.committed_offsets()
        # With several instances, each reports the partitions it consumes; before the
        # first assignment (or while the group is re-forming), every partition.
        mine = self._assigned() or frozenset(ends)
        for partition in self._reported - mine:
            self._metrics.lag.remove(str(partition))
        self._reported &= mine
        for partition, end in ends.items():
            if partition not in mine:
                continue
            # A log shorter than the stored offset (a broker that lost its data) is
            # the consumer's to notice; the lag is then what it will re-read: all.
            stored = committed.get(partition, 0)
            lag = end - stored if stored <= end else end
            self._metrics.lag.labels(str(partition)).set(lag)
            self._reported.add(partition)

    def _end_offsets(self) -> dict[int, int]:
        consumer = self._consumer
        if consumer is None:
            consumer = self._consumer = KafkaConsumer(
                bootstrap_servers=self._bootstrap,
                client_id="vinculo-scoring-lag",
                enable_auto_commit=False,
                allow_auto_create_topics=False,
                request_timeout_ms=REQUEST_TIMEOUT_MS + 1000,
                metadata_max_age_ms=5000,
                fetch_max_wait_ms=100,
                max_partition_fetch_bytes=1,  # the broker still returns one whole batch
                **self._kafka,
            )
        known = consumer.partitions_for_topic(self._topic)
        numbers = sorted(known) if known else range(self._partitions)
        partitions = [TopicPartition(self._topic, p) for p in numbers]
        listed = consumer.end_offsets(partitions, timeout_ms=REQUEST_TIMEOUT_MS)
        return self._high_watermarks(consumer, {tp: int(end) for tp, end in listed.items()})

    @staticmethod
    def _high_watermarks(
        consumer: KafkaConsumer, listed: dict[TopicPartition, int]
    ) -> dict[int, int]:
        """The larger of the listed end offset and the high watermark of a fetch of the last batch.

        Apache Kafka's ListOffsets gives the log end; the embedded broker (Tansu
        0.6) answers the last batch's base offset + 1 instead (measured: 5 records
        in one batch listed as 1), which would hide a waiting backlog. A fetch at
        that offset returns the real high watermark, at the cost of one batch per
        partition per interval.
        """
        # An empty partition (listed 0: no batch) is not fetched: a fetch there returns no
        # record, and the poll would go on fetching until its timeout (on an idle
        # stack, ten fetches a second for half of every interval: measured).
        holding = [tp for tp, end in listed.items() if end > 0]
        if set(consumer.assignment()) != set(holding):
            consumer.assign(holding)
        if holding:
            for tp in holding:
                consumer.seek(tp, listed[tp] - 1)
            consumer.poll(timeout_ms=REQUEST_TIMEOUT_MS, max_records=1, update_offsets=False)
        watermarks = {tp: consumer.highwater(tp) or 0 for tp in holding}
        return {tp.partition: max(end, watermarks.get(tp, 0)) for tp, end in listed.items()}

    def _set_up(self, up: bool) -> None:
        self._metrics.broker_up.set(1 if up else 0)
        if up:
            self.broker_up.set()
        else:
            self.broker_up.clear()
