"""The raw bridge's loop and metrics without a broker: failures are loud, counted, survived."""

from __future__ import annotations

import logging
import threading

import pytest
from kafka.errors import KafkaConnectionError
from prometheus_client import CollectorRegistry

from ingest_service import raw_bridge
from ingest_service.metrics import RawBridgeMetrics
from ingest_service.raw_bridge import RawBridge
from ingest_service.settings import IngestSettings
from vinculo import settings as settings_mod


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_raw_bridge_setting_defaults_on_and_reads_false_from_the_environment() -> None:
    assert settings_mod.load(IngestSettings, environ={}).raw_bridge is True
    off = settings_mod.load(IngestSettings, environ={"VINCULO_RAW_BRIDGE": "false"})
    assert off.raw_bridge is False


def test_a_batch_is_counted_in_prometheus_by_reason() -> None:
    registry = CollectorRegistry()
    bridge = RawBridge("unused:9092", metrics=RawBridgeMetrics(registry))
    bridge._count(3, {"unknown_type": 2, "bad_json": 1})
    bridge._count(1, {"unknown_type": 1})
    assert value(registry, "vinculo_ingest_raw_forwarded_total") == 4
    reason = "vinculo_ingest_raw_dead_lettered_total"
    assert value(registry, reason, reason="unknown_type") == 3
    assert value(registry, reason, reason="bad_json") == 1
    assert (bridge.counts.forwarded, bridge.counts.dead_lettered) == (4, 4)
    assert bridge.counts.reasons == {"unknown_type": 3, "bad_json": 1}


def test_an_unexpected_error_is_logged_counted_and_the_loop_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(raw_bridge, "UNEXPECTED_BACKOFF_S", 0.01)
    monkeypatch.setattr(raw_bridge, "RETRY_BACKOFF_S", 0.01)
    registry = CollectorRegistry()
    bridge = RawBridge("unused:9092", metrics=RawBridgeMetrics(registry))
    calls: list[str] = []
    third_call = threading.Event()

    def consume() -> None:
        calls.append("consume")
        if len(calls) == 1:
            raise ValueError("a bug in decoding")
        if len(calls) == 2:
            raise KafkaConnectionError("broker down")
        third_call.set()
        bridge._stop.wait()

    prepared: list[bool] = []
    bridge.prepare = lambda: prepared.append(True)
    monkeypatch.setattr(bridge, "_consume", consume)
    with caplog.at_level(logging.WARNING, logger=raw_bridge.__name__):
        bridge.start()
        try:
            assert third_call.wait(5), "the loop did not go on after the errors"
        finally:
            bridge.stop(timeout_s=5)
    assert len(prepared) == 3  # before every (re)connection
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "raw bridge FAILED" in errors[0].getMessage()
    assert errors[0].exc_info is not None  # the traceback is in the log
    assert value(registry, "vinculo_ingest_raw_bridge_errors_total", kind="unexpected") == 1
    assert value(registry, "vinculo_ingest_raw_bridge_errors_total", kind="kafka") == 1
    assert bridge.counts.last_error.startswith("KafkaConnectionError")
