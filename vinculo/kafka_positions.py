"""A consumer's position in a partition, read without waiting on the broker.

`KafkaConsumer.position(tp)` with no timeout blocks until a pending offset reset
(`seek_to_beginning`, a lost log) is answered by ListOffsets. A broker that lost the
partition, or re-created its topic with fewer partitions, never answers it: seen,
the scoring consumer hung in `position()` for minutes after an embedded broker
restart, so it never polled, never rejoined its group and ignored SIGTERM. Loops
here read the position the client already knows and poll again when it is unknown;
`poll` performs the reset itself, bounded by its own timeout.
"""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition


def known_position(consumer: KafkaConsumer, tp: TopicPartition) -> int | None:
    """The next offset `consumer` will read from `tp`; None while a reset is pending."""
    position: int | None = consumer.position(tp, timeout_ms=0)
    return position


def reached(consumer: KafkaConsumer, tp: TopicPartition, end: int | None) -> bool:
    """Whether the consumer has read `tp` up to `end` (False while either is unknown)."""
    position = known_position(consumer, tp)
    return end is not None and position is not None and position >= end


def beyond(consumer: KafkaConsumer, tp: TopicPartition, end: int | None) -> bool:
    """Whether the consumer's position is past `end`: the log it read from is gone."""
    position = known_position(consumer, tp)
    return end is not None and position is not None and position > end
