"""Outbox health: one transition per failure, probes bounded in time, back on success."""

from __future__ import annotations

import errno
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge

from ingest_service.outbox_health import PROBE_INTERVAL_S, PROBE_NAME, OutboxHealth

REGISTRY = CollectorRegistry()
GAUGE = Gauge("outbox_writable", "outbox writable", registry=REGISTRY)


def writable_gauge() -> float | None:
    return REGISTRY.get_sample_value("outbox_writable")


def make(directory: Path) -> tuple[OutboxHealth, list[bool], list[float]]:
    now = [100.0]
    gauge = GAUGE
    health = OutboxHealth(directory, gauge, clock=lambda: now[0])
    changes: list[bool] = []
    health.on_change(changes.append)
    return health, changes, now


def test_failures_are_one_transition_and_a_probe_brings_it_back(tmp_path: Path) -> None:
    health, changes, now = make(tmp_path)
    full = OSError(errno.ENOSPC, "No space left on device")
    health.failed(full)
    health.failed(full)  # every failing call: still one transition
    assert changes == [False] and not health.writable
    assert writable_gauge() == 0

    health.probe_if_due()  # not due yet: no write at all
    assert changes == [False]
    now[0] += PROBE_INTERVAL_S
    health.probe_if_due()  # the directory is writable: back
    assert changes == [False, True] and health.writable
    assert writable_gauge() == 1
    assert not (tmp_path / PROBE_NAME).exists()  # the probe cleans up


def test_a_probe_that_fails_keeps_it_down_and_waits_again(tmp_path: Path) -> None:
    health, changes, now = make(tmp_path / "gone")  # a directory that cannot be written
    health.failed(OSError(errno.EIO, "Input/output error"))
    now[0] += PROBE_INTERVAL_S
    health.probe_if_due()
    assert changes == [False] and not health.writable
    (tmp_path / "gone").mkdir()
    health.probe_if_due()  # failed just now: the next probe waits its interval
    assert not health.writable
    now[0] += PROBE_INTERVAL_S
    health.probe_if_due()
    assert changes == [False, True]


def test_a_successful_write_brings_it_back_without_a_probe(tmp_path: Path) -> None:
    health, changes, _ = make(tmp_path)
    health.succeeded()  # the common path: nothing happens
    health.failed(OSError(errno.EROFS, "Read-only file system"))
    health.succeeded()
    assert changes == [False, True]
