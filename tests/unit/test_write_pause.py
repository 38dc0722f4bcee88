"""A full disk's pause: a probe write resumes consuming, only a commit makes it ready."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from prometheus_client import CollectorRegistry

from scoring_service import write_pause
from scoring_service.metrics import ScoringMetrics
from scoring_service.write_pause import WritePause


class ProbeOnlyStore:
    """A disk where a probe's few bytes fit (the full-disk test's flap)."""

    path = Path("/full/scoring.sqlite3")

    def probe_write(self) -> bool:
        return True


def test_a_probe_write_resumes_consuming_but_only_a_commit_makes_it_ready() -> None:
    registry = CollectorRegistry()
    metrics = ScoringMetrics(registry)
    pause = WritePause(ProbeOnlyStore(), metrics)  # type: ignore[arg-type]
    pause.begin(sqlite3.OperationalError("database or disk is full"))
    assert not pause.writable and registry.get_sample_value("vinculo_scoring_store_writable") == 0
    pause.since -= write_pause.STORE_RETRY_S  # type: ignore[operator]  # the retry is due
    assert pause.can_resume()  # consuming again...
    assert not pause.writable  # ...but not ready: the batch may not fit where the probe did
    assert registry.get_sample_value("vinculo_scoring_store_writable") == 0
    pause.confirmed()  # a batch committed
    assert pause.writable and registry.get_sample_value("vinculo_scoring_store_writable") == 1


def test_confirmation_while_still_paused_changes_nothing() -> None:
    registry = CollectorRegistry()
    pause = WritePause(ProbeOnlyStore(), ScoringMetrics(registry))  # type: ignore[arg-type]
    pause.begin(sqlite3.OperationalError("database or disk is full"))
    pause.confirmed()  # no probe has succeeded yet
    assert not pause.writable and registry.get_sample_value("vinculo_scoring_store_writable") == 0
