"""The scoring instances' consumer group: how an instance joins it."""

from __future__ import annotations

from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer

from scoring_service.routing.assignor import RoutingAssignor
from scoring_service.routing.directory import PartitionDirectory
from scoring_service.settings import ScoringSettings
from vinculo.topics import INTERACTIONS_TOPIC

# Tansu holds a fetch with no new data until this wait expires (~225 ms of the
# default 500 were measured before a new record was returned); 200 ms keeps an
# idle consumer at ~5 fetches a second per broker.
FETCH_MAX_WAIT_MS = 200


def join_group(
    settings: ScoringSettings,
    directory: PartitionDirectory | None,
    listener: ConsumerRebalanceListener,
    client: dict[str, Any],
) -> KafkaConsumer:
    """A consumer of the interaction topic in the scoring group, subscribed."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=settings.consumer_group,
        client_id="vinculo-scoring",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        # Tansu answers a first JoinGroup after half the session timeout (measured: 3 s
        # at 6000 ms, 1 s at 2000 ms and at 1000; ~23 s at kafka-python's default, NOTES.md).
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.session_timeout_ms // 3,
        max_poll_records=settings.max_poll_records,
        # Topics are created by the services with the configured partition
        # count, never implicitly by a metadata request with the broker's default.
        allow_auto_create_topics=False,
        metadata_max_age_ms=5000,  # notice a re-created topic within seconds
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        **_routing_options(directory),
        **client,  # TLS, SASL (vinculo/security/kafka.py)
    )
    consumer.subscribe([INTERACTIONS_TOPIC], listener=listener)
    return consumer


def _routing_options(directory: PartitionDirectory | None) -> dict[str, Any]:
    """Every member advertises its gRPC address through the group join (routing/)."""
    if directory is None:
        return {}
    assignor = RoutingAssignor(INTERACTIONS_TOPIC, directory.own_address, directory.routes_assigned)
    return {"partition_assignment_strategy": [assignor]}
