"""PartitionDirectory: when a partition is answered here, forwarded, or waited for."""

from __future__ import annotations

import time

import pytest

from scoring_service.routing.directory import Location, PartitionDirectory, PartitionUnavailable
from vinculo.partitioning import partition_of

OWN = "127.0.0.1:1"
OTHER = "127.0.0.1:2"
OWNER = "owner-7"
PARTITIONS = 8


def held_and_caught_up() -> tuple[PartitionDirectory, int]:
    directory = PartitionDirectory(PARTITIONS, OWN)
    partition = partition_of(OWNER, PARTITIONS)
    routes = {p: OWN if p == partition else OTHER for p in range(PARTITIONS)}
    directory.routes_assigned(routes, generation=1)
    directory.partitions_assigned({partition: 10})
    directory.log_end(partition, 10)
    return directory, partition


def test_a_caught_up_partition_is_answered_here() -> None:
    directory, partition = held_and_caught_up()
    assert directory.locate(OWNER, wait_s=0) == Location(partition, None)
    assert directory.is_ready()


def test_a_partition_behind_its_log_end_is_not_answered_until_it_catches_up() -> None:
    directory = PartitionDirectory(PARTITIONS, OWN)
    partition = partition_of(OWNER, PARTITIONS)
    directory.routes_assigned({partition: OWN}, generation=1)
    directory.partitions_assigned({partition: 4})
    directory.log_end(partition, 10)
    with pytest.raises(PartitionUnavailable, match="catching up"):
        directory.locate(OWNER, wait_s=0)
    directory.committed({partition: 10})
    assert directory.locate(OWNER, wait_s=0) == Location(partition, None)


def test_during_a_rebalance_what_was_served_here_still_is() -> None:
    directory, partition = held_and_caught_up()
    directory.rebalance_started()
    assert directory.locate(OWNER, wait_s=0) == Location(partition, None)
    assert not directory.is_ready()


def test_an_instance_leaving_the_group_answers_nothing_any_more() -> None:
    """A stopping instance's store falls behind the next holder's: no read from it and
    no forward on its old table, but an immediate UNAVAILABLE (retried elsewhere)."""
    directory, partition = held_and_caught_up()
    elsewhere = next(
        o for o in (f"owner-{i}" for i in range(100)) if partition_of(o, 8) != partition
    )
    assert directory.locate(elsewhere, wait_s=0).address == OTHER
    directory.left_group()
    started = time.monotonic()
    for owner_id in (OWNER, elsewhere):
        with pytest.raises(PartitionUnavailable, match="stopping"):
            directory.locate(owner_id, wait_s=5.0)
    assert time.monotonic() - started < 1.0  # at once, not after the wait
    assert not directory.is_ready()
