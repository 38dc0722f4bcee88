"""The consumer group's rebalance callbacks, handed to the consumer thread.

kafka-python calls them from inside `KafkaConsumer.poll`, on the consumer thread: a
revocation must make the batch durable first (whoever gets the partitions next reads
the store's offsets), an assignment seeks every new partition to the store's offset
(scoring_service/consumer.py, `on_revoked` and `on_assigned`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kafka import ConsumerRebalanceListener, TopicPartition

Handler = Callable[[list[TopicPartition]], None]


class RebalanceListener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, revoked: Handler, assigned: Handler) -> None:
        self._revoked = revoked
        self._assigned = assigned

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self._revoked(list(revoked))

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._assigned(list(assigned))
