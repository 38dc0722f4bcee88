"""Fixtures that start real parts: the embedded broker and the two services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ServiceProcess
from vinculo_apps.devstack.broker import EmbeddedBroker

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    """A fresh in-memory broker per test: no state leaks between tests."""
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as running:
        yield running


@pytest.fixture
def ingest(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[ServiceProcess]:
    service = ServiceProcess("ingest_service", tmp_path / "ingest", broker.bootstrap)
    try:
        yield service.start()
    finally:
        service.stop()


@pytest.fixture
def scoring(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[ServiceProcess]:
    service = ServiceProcess("scoring_service", tmp_path / "scoring", broker.bootstrap)
    try:
        yield service.start()
    finally:
        service.stop()
