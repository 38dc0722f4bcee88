"""Key -> partition placement that remembers each key's hash.

kafka-python's DefaultPartitioner hashes every keyed record with a pure-Python
murmur2 (a loop over the key's bytes) and lists the available partitions
before it looks at the key. Ingest publishes two records per event, keyed by
ids that repeat (an owner's contacts are written over and over), so the hash
is remembered per key. The placement is the Java client's (murmur2 of the key,
positive, modulo the partition count), so records of one owner land where any
other Kafka client would put them.
"""

from __future__ import annotations

from typing import Any

from kafka.partitioner.default import DefaultPartitioner, murmur2

DEFAULT_REMEMBERED_KEYS = 65_536


def partition_of(owner_id: str, partitions: int) -> int:
    """The partition of an owner's records on a topic of `partitions` partitions
    (numbered 0..n-1): where the ingest service puts them, so where the owner's
    state lives (decision 1)."""
    return int(murmur2(owner_id.encode()) & 0x7FFFFFFF) % partitions


class RememberingPartitioner(DefaultPartitioner):  # type: ignore[misc]
    def __init__(self, max_keys: int = DEFAULT_REMEMBERED_KEYS) -> None:
        self._max_keys = max_keys
        self._hashes: dict[bytes, int] = {}

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: Any,
        cluster: Any,
    ) -> int:
        partitions = cluster.partitions_for_topic(topic)
        if serialized_key is None or partitions is None:
            # No key (spread like the default) or unknown topic (its error).
            return int(
                super().partition(topic, key, serialized_key, value, serialized_value, cluster)
            )
        return int(sorted(partitions)[self.hash_of(serialized_key) % len(partitions)])

    def hash_of(self, key: bytes) -> int:
        """The key's positive murmur2 hash (remembered): its partition is the sorted
        partitions' [hash % count] (vinculo.kafka_append places a call's records so)."""
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self._max_keys:
                self._hashes.clear()  # bounded memory; the hot keys come back at once
            hashed = murmur2(key) & 0x7FFFFFFF
            self._hashes[key] = hashed
        return hashed
