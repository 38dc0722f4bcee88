"""Fixtures that start real parts: the embedded broker and the two services."""

from __future__ import annotations

import os

# One OpenMP thread per test process, set before scikit-learn loads its OpenMP runtime.
# Eight workers and the services share two cores: with a team of two threads per
# process, spinning OpenMP threads made training 3-7x slower (measured: the slice
# model 5.5 s -> 0.8 s, `train --labels` 7.8 s -> 2.3 s); the scoring service sets
# the same for itself. Results do not depend on it (histogram trees sum per feature).
os.environ["OMP_NUM_THREADS"] = "1"

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import ServiceProcess
from tests.scheduling import DurationRecorder, expected_seconds, longest_first
from vinculo_apps.devstack.broker import EmbeddedBroker

SHARED_DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--write-durations",
        metavar="PATH",
        help="write the seconds of every test of a second or more to PATH (tests/scheduling.py)",
    )


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--write-durations")
    if path:
        config.pluginmanager.register(DurationRecorder(Path(path)), "vinculo-durations")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    longest_first(items, expected_seconds())


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
