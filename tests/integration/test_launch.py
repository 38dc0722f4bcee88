"""The dev-stack launcher: services on port 0 report what they bound; a failed start
stops everything it started."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import alive, children_of
from vinculo_apps.devstack.broker import EmbeddedBroker
from vinculo_apps.devstack.processes import wait_serving
from vinculo_apps.devstack.stack import DevStack, ServiceLaunch, clean_environment
from vinculo_apps.scrape import scrape_metric

pytestmark = pytest.mark.integration


def launch(module: str, root: Path, bootstrap: str, *extra: str) -> ServiceLaunch:
    return ServiceLaunch(module, root / module, bootstrap, root / f"{module}.log", list(extra))


def test_a_service_on_port_0_reports_the_ports_it_bound_and_removes_the_file(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    service = launch("ingest_service", tmp_path, broker.bootstrap)
    try:
        service.start(timeout_s=60)
        assert service.grpc_port > 0 and service.metrics_port > 0
        wait_serving(service.address, timeout_s=5)
        assert scrape_metric(service.metrics_url, "vinculo_ingest_events_received_total") == 0
        assert service.ready_path.exists()
    finally:
        service.stop()
    assert not service.ready_path.exists()


def test_a_service_that_exits_while_starting_fails_the_start_at_once(tmp_path: Path) -> None:
    service = launch("ingest_service", tmp_path, "127.0.0.1:1", "--partitions", "0")
    # The reason is in the message (not a traceback in the log): the setting and its value.
    reason = r"ingest_service exited with code 2 while starting: ingest_service: partitions: must"
    with pytest.raises(RuntimeError, match=reason + r" be at least 1, not 0; log: "):
        service.start(timeout_s=60)
    assert "Traceback" not in service.log_path.read_text()


def test_a_failed_stack_start_stops_the_broker_and_the_services_already_running(
    tmp_path: Path,
) -> None:
    broker = EmbeddedBroker(log_path=tmp_path / "broker.log")
    good = launch("ingest_service", tmp_path, "")
    bad = launch("scoring_service", tmp_path, "", "--max-watch-streams", "-1")
    stack = DevStack([good, bad], broker, startup_timeout_s=60)
    broker.start()
    good.bootstrap = bad.bootstrap = broker.bootstrap
    broker_process = broker.process
    assert broker_process is not None
    with pytest.raises(RuntimeError, match="scoring_service exited"):
        stack.start()
    assert good.process is None and bad.process is None and broker.process is None
    assert not alive(broker_process.pid)
    assert not [pid for pid in children_of(os.getpid()) if alive(pid)]  # ingest too


@pytest.mark.parametrize(
    ("command", "said"),
    [
        (["-m", "scoring_service", "--max-poll-records", "0"], "scoring_service: max_poll_records"),
        (["-m", "ingest_service", "--partitions", "0"], "ingest_service: partitions: must be"),
        (["-m", "vinculo_apps.cli", "up", "--scoring-instances", "0"], "vinculo up: scoring_in"),
    ],
)
def test_an_invalid_setting_exits_2_with_its_name_not_a_traceback(
    command: list[str], said: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [sys.executable, *command],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean_environment(),
    )
    assert done.returncode == 2
    assert done.stderr.startswith(said), done.stderr
    assert "Traceback" not in done.stderr
