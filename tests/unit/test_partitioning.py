"""RememberingPartitioner places keys exactly as kafka-python's default does."""

from __future__ import annotations

import pytest
from kafka.partitioner.default import DefaultPartitioner

from vinculo.partitioning import RememberingPartitioner


class _Cluster:
    """The two ClusterMetadata calls a partitioner makes."""

    def __init__(self, partitions: dict[str, set[int]]) -> None:
        self._partitions = partitions

    def topics(self) -> set[str]:
        return set(self._partitions)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self._partitions.get(topic)

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self._partitions.get(topic, set())


@pytest.mark.parametrize("count", [1, 4, 8, 13])
def test_same_partition_as_the_default_partitioner(count: int) -> None:
    cluster = _Cluster({"t": set(range(count))})
    remembering, default = RememberingPartitioner(), DefaultPartitioner()
    keys = [f"user:{i}".encode() for i in range(500)] + [b"", "żółw".encode()]
    for _ in range(2):  # the second round answers from memory
        for key in keys:
            expected = default.partition("t", key, key, b"v", b"v", cluster)
            assert remembering.partition("t", key, key, b"v", b"v", cluster) == expected


def test_memory_is_bounded_and_answers_stay_right_after_clearing() -> None:
    cluster = _Cluster({"t": set(range(8))})
    remembering, default = RememberingPartitioner(max_keys=10), DefaultPartitioner()
    for i in range(35):
        key = f"k{i}".encode()
        assert remembering.partition("t", key, key, None, None, cluster) == default.partition(
            "t", key, key, None, None, cluster
        )
        assert len(remembering._hashes) <= 10


def test_a_grown_topic_places_by_the_new_partition_count() -> None:
    remembering, default = RememberingPartitioner(), DefaultPartitioner()
    key = b"user:7"
    for count in (4, 8):
        cluster = _Cluster({"t": set(range(count))})
        assert remembering.partition("t", key, key, None, None, cluster) == default.partition(
            "t", key, key, None, None, cluster
        )


def test_no_key_spreads_over_the_partitions_and_unknown_topics_fail() -> None:
    cluster = _Cluster({"t": {0, 1, 2}})
    remembering = RememberingPartitioner()
    assert {remembering.partition("t", None, None, b"v", b"v", cluster) for _ in range(200)} == {
        0,
        1,
        2,
    }
    with pytest.raises(ValueError, match="missing"):
        remembering.partition("missing", b"k", b"k", None, None, cluster)
