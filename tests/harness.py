"""Real processes for integration tests: the broker and the two services.

Every service binds port 0 and reports the ports it got (its ready file), is
waited for through that file and the standard gRPC health service, and is
stopped by the fixture that started it, pass or fail.
"""

from __future__ import annotations

import random
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kafka import KafkaConsumer, TopicPartition

from vinculo_apps.devstack.broker import free_port
from vinculo_apps.devstack.ports import port_in_use
from vinculo_apps.devstack.processes import terminate
from vinculo_apps.devstack.stack import ServiceLaunch
from vinculo_apps.scrape import scrape_metric

__all__ = [
    "ServiceProcess",
    "alive",
    "children_of",
    "free_port",
    "read_topic",
    "start_together",
    "wait_until",
]

T = TypeVar("T")
LOG_TAIL_LINES = 30
# A scoring instance's first group join on the embedded broker waits about half its
# session timeout: 1 s at 2000 ms against 3 s at the default 6000 (measured). A test
# that passes --session-timeout-ms itself keeps its own.
SCORING_TEST_FLAGS = ["--session-timeout-ms", "2000"]


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


def reusable_ports(names: tuple[str, ...] = ("broker", "ig", "im", "sg", "sm")) -> dict[str, int]:
    """Ports a later `vinculo up` takes again after the first one died: below the kernel's
    ephemeral range, so no other test's outgoing connection can be given one meanwhile
    (a free_port() from bind(0) can, and then the port is rightly reported in use)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    chosen: list[int] = []
    while len(chosen) < len(names):
        port = rng.randrange(max(1024, low - 12_000), low)
        if port not in chosen and port_in_use(port) is None:
            chosen.append(port)
    return dict(zip(names, chosen, strict=True))


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


class _PickedPort(int):
    """A free port picked when a ServiceProcess is made, for code that reads the port
    before start() (as older subclasses do); start() itself asks the service for
    port 0 instead and then holds the port the service reports."""


def _picked_port() -> int:
    return _PickedPort(free_port())


@dataclass
class ServiceProcess:
    """`python -m <module>` with flags, logging to a file.

    Unless given explicit ports, start() runs the service on port 0 and then
    holds the ports it bound (its ready file, vinculo_apps.devstack.stack): no
    race with other processes for a port picked in advance. A restart (start
    after stop or kill) asks for the same ports again.
    """

    module: str
    data_dir: Path
    bootstrap: str
    extra_args: list[str] = field(default_factory=list)
    grpc_port: int = field(default_factory=_picked_port)
    metrics_port: int = field(default_factory=_picked_port)
    process: subprocess.Popen[bytes] | None = None
    _launch: ServiceLaunch | None = field(default=None, init=False, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.module}.log"

    def start(self, timeout_s: float = 60.0) -> ServiceProcess:
        try:
            return self.spawn().wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    def spawn(self) -> ServiceProcess:
        """Start the process without waiting; `wait_ready` waits (see start_together)."""
        self._launch = ServiceLaunch(
            self.module,
            self.data_dir,
            self.bootstrap,
            self.log_path,
            self._args(),
            0 if isinstance(self.grpc_port, _PickedPort) else self.grpc_port,
            0 if isinstance(self.metrics_port, _PickedPort) else self.metrics_port,
        ).spawn()
        self.process = self._launch.process
        return self

    def _args(self) -> list[str]:
        if self.module != "scoring_service" or "--session-timeout-ms" in self.extra_args:
            return list(self.extra_args)
        return [*SCORING_TEST_FLAGS, *self.extra_args]

    def wait_ready(self, timeout_s: float = 60.0) -> ServiceProcess:
        if self._launch is None:
            raise RuntimeError(f"{self.module} was not started")
        try:
            self._launch.wait_ready(timeout_s)
        except (RuntimeError, TimeoutError) as exc:
            # the reason is in the service's log, which the test's tmp dir hides
            tail = "\n".join(self.log_text().splitlines()[-LOG_TAIL_LINES:])
            raise type(exc)(f"{exc}\n--- last lines of {self.log_path.name}:\n{tail}") from exc
        self.grpc_port, self.metrics_port = self._launch.grpc_port, self._launch.metrics_port
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self.process = self.process, None
        launch, self._launch = self._launch, None
        if launch is not None:
            launch.stop(timeout_s)
        terminate(process, timeout_s, self.module)  # started by a subclass's own start()

    def kill(self) -> None:
        """SIGKILL: the crash the scoring service must survive."""
        process, self.process = self.process, None
        launch, self._launch = self._launch, None
        if launch is not None:
            launch.kill()
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of `name` whose labels include `labels`, from /metrics."""
        return scrape_metric(f"http://127.0.0.1:{self.metrics_port}/metrics", name, **labels)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def start_together(*services: ServiceProcess, timeout_s: float = 60.0) -> None:
    """Start services at once (each needs seconds to import and load), then wait for
    each; if one fails, all are stopped."""
    try:
        for service in services:
            service.spawn()
        for service in services:
            service.wait_ready(timeout_s)
    except BaseException:
        for service in services:
            service.stop()
        raise
