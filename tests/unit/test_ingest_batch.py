"""The ingest service's per-call logic with a fake publisher: results, records, dedupe, limits."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from prometheus_client import CollectorRegistry

from ingest_service.dedupe import RecentEvents
from ingest_service.metrics import IngestMetrics
from ingest_service.publisher import BrokerUnavailable, Record
from ingest_service.servicer import BatchProcessor, BatchTooLarge
from ingest_service.settings import IngestSettings
from tests.unit.test_validation import NOW, valid_event
from vinculo import settings as settings_mod
from vinculo.settings import SettingsError
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import ingest_pb2

ACCEPTED, DUPLICATE, REJECTED = (
    ingest_pb2.EVENT_STATUS_ACCEPTED,
    ingest_pb2.EVENT_STATUS_DUPLICATE,
    ingest_pb2.EVENT_STATUS_REJECTED,
)


class FakePublisher:
    def __init__(self) -> None:
        self.calls: list[list[Record]] = []
        self.down = False

    def publish(self, records: Sequence[Record]) -> None:
        if self.down:
            raise BrokerUnavailable("broker down")
        self.calls.append(list(records))

    @property
    def records(self) -> list[Record]:
        return [r for call in self.calls for r in call]


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def publisher() -> FakePublisher:
    return FakePublisher()


@pytest.fixture
def processor(publisher: FakePublisher, registry: CollectorRegistry) -> BatchProcessor:
    return BatchProcessor(
        publisher, RecentEvents(100), IngestMetrics(registry), max_batch=5, clock=lambda: NOW
    )


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_accepted_event_is_published_for_both_sides_in_one_call(
    processor: BatchProcessor, publisher: FakePublisher
) -> None:
    outcome = processor.process([valid_event(event_id="a"), valid_event(event_id="b")])
    assert [r.status for r in outcome.results] == [ACCEPTED, ACCEPTED]
    assert len(publisher.calls) == 1  # one publish (one flush) per call
    assert [r.key for r in publisher.records] == ["ana", "bruno", "ana", "bruno"]
    mirror = pb.InteractionEvent.FromString(publisher.records[1].value)
    assert (mirror.owner_id, mirror.contact_id, mirror.direction) == (
        "bruno",
        "ana",
        pb.DIRECTION_INBOUND,
    )


def test_owner_only_event_is_published_once(
    processor: BatchProcessor, publisher: FakePublisher
) -> None:
    processor.process([valid_event(owner_only=True)])
    assert [r.key for r in publisher.records] == ["ana"]


def test_results_keep_request_order_with_reasons(
    processor: BatchProcessor, publisher: FakePublisher, registry: CollectorRegistry
) -> None:
    events = [valid_event(event_id="a"), valid_event(event_id="b", contact_id="ana")]
    events.append(valid_event(event_id="a"))
    outcome = processor.process(events)
    assert [r.event_id for r in outcome.results] == ["a", "b", "a"]
    assert [r.status for r in outcome.results] == [ACCEPTED, REJECTED, DUPLICATE]
    assert outcome.results[1].reason_code == "self_relationship"
    assert outcome.results[1].reason.startswith("contact_id:")
    assert len(publisher.records) == 2  # the rejected and the duplicate are not published
    assert metric(registry, "vinculo_ingest_events_received_total") == 3
    assert metric(registry, "vinculo_ingest_events_accepted_total") == 1
    assert metric(registry, "vinculo_ingest_events_duplicate_total") == 1
    assert metric(registry, "vinculo_ingest_events_rejected_total", reason="self_relationship") == 1
    assert metric(registry, "vinculo_ingest_records_published_total") == 2


def test_same_event_id_for_another_owner_is_not_a_duplicate(processor: BatchProcessor) -> None:
    outcome = processor.process(
        [valid_event(event_id="a"), valid_event(event_id="a", owner_id="carla")]
    )
    assert [r.status for r in outcome.results] == [ACCEPTED, ACCEPTED]


def test_a_later_call_with_a_seen_event_is_duplicate(
    processor: BatchProcessor, publisher: FakePublisher
) -> None:
    processor.process([valid_event(event_id="a")])
    outcome = processor.process([valid_event(event_id="a"), valid_event(event_id="b")])
    assert [r.status for r in outcome.results] == [DUPLICATE, ACCEPTED]
    assert len(publisher.records) == 4


def test_more_than_the_limit_is_refused_before_anything_is_published(
    processor: BatchProcessor, publisher: FakePublisher
) -> None:
    with pytest.raises(BatchTooLarge, match=r"^events: 6 events"):
        processor.process([valid_event(event_id=str(i)) for i in range(6)])
    assert publisher.calls == []


def test_exactly_the_limit_is_accepted(processor: BatchProcessor) -> None:
    outcome = processor.process([valid_event(event_id=str(i)) for i in range(5)])
    assert outcome.accepted == 5


def test_broker_down_reports_nothing_accepted_and_a_retry_is_not_duplicate(
    processor: BatchProcessor, publisher: FakePublisher, registry: CollectorRegistry
) -> None:
    publisher.down = True
    with pytest.raises(BrokerUnavailable):
        processor.process([valid_event(event_id="a")])
    assert metric(registry, "vinculo_ingest_events_accepted_total") == 0
    assert metric(registry, "vinculo_ingest_publish_failures_total") == 1
    publisher.down = False
    outcome = processor.process([valid_event(event_id="a")])
    assert [r.status for r in outcome.results] == [ACCEPTED]


def test_an_all_rejected_batch_publishes_nothing(
    processor: BatchProcessor, publisher: FakePublisher
) -> None:
    outcome = processor.process([valid_event(event_id="")])
    assert outcome.rejected == 1
    assert publisher.calls == []


def test_settings_refuse_a_batch_limit_above_the_api_limit() -> None:
    with pytest.raises(SettingsError, match="max_batch"):
        settings_mod.load(IngestSettings, environ={"VINCULO_INGEST_MAX_BATCH": "1001"})
    settings = settings_mod.load(IngestSettings, environ={"VINCULO_PARTITIONS": "3"})
    assert (settings.partitions, settings.max_batch) == (3, 1000)
