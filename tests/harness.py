"""Real processes for integration tests: the broker and the two services.

Every process is started on free loopback ports, waited for through the
standard gRPC health service, and stopped by the fixture that started it,
pass or fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kafka import KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from vinculo_apps.devstack.broker import free_port
from vinculo_apps.devstack.processes import terminate, wait_serving

T = TypeVar("T")


def wait_until(check: Callable[[], T | None], timeout_s: float = 30.0, what: str = "") -> T:
    """Poll `check` until it returns something truthy; fail after the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


def children_of(pid: int) -> set[int]:
    """Direct children of `pid`, from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Running (a zombie has finished: its parent only has not reaped it yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def read_topic(bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0) -> list[Any]:
    """At least `expected` records of `topic` from the beginning (manual assignment, no group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


@dataclass
class ServiceProcess:
    """`python -m <module>` with flags, on free ports, logging to a file."""

    module: str
    data_dir: Path
    bootstrap: str
    extra_args: list[str] = field(default_factory=list)
    grpc_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.module}.log"

    def start(self, timeout_s: float = 60.0) -> ServiceProcess:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable,
            "-m",
            self.module,
            "--grpc-port",
            str(self.grpc_port),
            "--metrics-port",
            str(self.metrics_port),
            "--kafka-bootstrap",
            self.bootstrap,
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("VINCULO_")}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        try:
            wait_serving(self.address, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self.process = self.process, None
        terminate(process, timeout_s, self.module)

    def kill(self) -> None:
        """SIGKILL: the crash the scoring service must survive."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`, from /metrics."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as page:
            text = page.read().decode()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
