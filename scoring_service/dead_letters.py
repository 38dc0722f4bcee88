"""Dead letters of the scoring consumer: sent as records are processed, acknowledged
before the batch they belong to is committed (decision 5, docs/decisions/)."""

from __future__ import annotations

import logging
from typing import Any

from kafka import KafkaProducer

from scoring_service.metrics import ScoringMetrics
from scoring_service.processor import DeadLetter
from vinculo.topics import DEAD_LETTER_TOPIC, INTERACTIONS_TOPIC, dead_letter_headers

log = logging.getLogger(__name__)


class DeadLetterSender:
    def __init__(self, bootstrap: str, metrics: ScoringMetrics, **client: Any) -> None:
        self._metrics = metrics
        self._producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            client_id="vinculo-scoring-dlq",
            acks="all",
            linger_ms=5,
            **client,
        )
        self._futures: list[Any] = []

    def send(self, letter: DeadLetter) -> None:
        log.warning(
            "dead-lettering partition %d offset %d: %s",
            letter.partition,
            letter.offset,
            letter.reason.message,
        )
        future = self._producer.send(
            DEAD_LETTER_TOPIC,
            key=letter.key,
            value=letter.value,
            headers=dead_letter_headers(
                letter.reason, INTERACTIONS_TOPIC, letter.partition, letter.offset
            ),
        )
        self._futures.append(future)
        self._metrics.dead_lettered.labels(letter.reason.code).inc()

    def flush(self) -> None:
        """Wait for every dead letter sent so far; raises when the broker refused one
        (the batch is then not committed, and its records are consumed again)."""
        if not self._futures:
            return
        self._producer.flush()
        futures, self._futures = self._futures, []
        for future in futures:
            future.get(timeout=0)

    def forget(self) -> None:
        """The batch is dropped: its dead letters are sent again when it is replayed."""
        self._futures.clear()

    def close(self, timeout_s: float) -> None:
        self._producer.close(timeout=timeout_s)
