"""A consumer-group assignor that tells every member who holds which partition.

Each member puts its advertised gRPC address in its subscription's user data
(what Kafka Streams does with `application.server`). The group leader assigns
partitions round-robin, as kafka-python's RoundRobinPartitionAssignor does, and
writes the whole partition -> address table into every member's assignment, so
each instance learns the table from the rebalance itself, with no other
coordination service and no extra topic.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from kafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from kafka.protocol.consumer.metadata import (
    ConsumerProtocolAssignment,
    ConsumerProtocolSubscription,
)

PROTOCOL_NAME = "vinculo-routing-v1"

RoutesListener = Callable[[dict[int, str], int], None]


class RoutingAssignor(AbstractPartitionAssignor):  # type: ignore[misc]
    name = PROTOCOL_NAME
    version = 0

    def __init__(self, topic: str, address: str, on_routes: RoutesListener) -> None:
        self._topic = topic
        self._address = address
        self._on_routes = on_routes

    def metadata(self, topics: Iterable[str]) -> Any:
        return ConsumerProtocolSubscription(
            self.version, sorted(topics), self._address.encode("utf-8")
        )

    def assign(self, cluster: Any, members: list[Any]) -> dict[str, Any]:
        plain = RoundRobinPartitionAssignor.assign(cluster, members)
        addresses = {m.member_id: _address_of(m.metadata) for m in members}
        routes: dict[str, str] = {}
        for member_id, assignment in plain.items():
            for tp in assignment.partitions():
                if tp.topic == self._topic:
                    routes[str(tp.partition)] = addresses[member_id]
        table = json.dumps({"routes": routes}, separators=(",", ":")).encode()
        return {
            member_id: ConsumerProtocolAssignment(
                self.version, assignment.assigned_partitions, table
            )
            for member_id, assignment in plain.items()
        }

    def on_assignment(self, assignment: Any, generation: int) -> None:
        self._on_routes(decode_routes(assignment.user_data), generation)


def _address_of(metadata: Any) -> str:
    data = metadata.user_data
    return data.decode("utf-8") if isinstance(data, bytes | bytearray) else ""


def decode_routes(user_data: Any) -> dict[int, str]:
    if not isinstance(user_data, bytes | bytearray) or not user_data:
        return {}
    body = json.loads(user_data)
    return {int(p): str(a) for p, a in body.get("routes", {}).items()}
