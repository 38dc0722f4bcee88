"""The processes a benchmark run starts, and reading their metrics.

Everything runs on free loopback ports with its data under one temporary
directory; `Stack` is a context manager that stops every process it started,
in reverse order, pass or fail (and on Ctrl-C: KeyboardInterrupt unwinds it).
Children get a session of their own so that a terminal's Ctrl-C reaches only
us, and we stop them in order.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psutil

from vinculo_apps.devstack.broker import EmbeddedBroker, free_port
from vinculo_apps.devstack.processes import wait_serving
from vinculo_apps.devstack.stack import DevStack, ServiceLaunch
from vinculo_apps.scrape import fetch_metrics, sum_samples


def parse_metric(text: str, name: str) -> float:
    """Sum of every sample of `name` (all label sets) in Prometheus text format; NaN if none."""
    total = sum_samples(text, name)
    return float("nan") if total is None else total


@dataclass
class Process:
    """`python -m module args...` with its own log file and a psutil handle."""

    name: str
    args: list[str]
    log_path: Path
    grpc_port: int = 0
    metrics_port: int = 0
    popen: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def ps(self) -> psutil.Process:
        if self.popen is None:
            raise RuntimeError(f"{self.name} is not running")
        return psutil.Process(self.popen.pid)

    def start(self, timeout_s: float = 60.0, health: bool = True) -> Process:
        env = {k: v for k, v in os.environ.items() if not k.startswith("VINCULO_")}
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [sys.executable, *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        try:
            if health:
                wait_serving(self.address, timeout_s, self.popen)
        except BaseException:
            self.stop()
            raise
        return self

    def metrics_text(self) -> str:
        return fetch_metrics(f"http://127.0.0.1:{self.metrics_port}/metrics")

    def metric(self, name: str) -> float:
        return parse_metric(_one(f"http://127.0.0.1:{self.metrics_port}/metrics", name), name)

    def stop(self, timeout_s: float = 10.0) -> None:
        popen, self.popen = self.popen, None
        if popen is None or popen.poll() is not None:
            return
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


class Service(ServiceLaunch):
    """A service started by the dev-stack launcher, with what the bench reads of it."""

    @property
    def ps(self) -> psutil.Process:
        if self.process is None:
            raise RuntimeError(f"{self.label} is not running")
        return psutil.Process(self.process.pid)

    def metrics_text(self) -> str:
        return fetch_metrics(self.metrics_url)

    def metric(self, name: str) -> float:
        return parse_metric(_one(self.metrics_url, name), name)


def _one(url: str, name: str) -> str:
    """Only the metric `name` (a sample name): prometheus_client's `name[]` filter collects
    that metric alone. The whole scoring page costs the service ~9 ms of CPU, and a bench
    waiting on a counter every 50 ms made that a sixth of a core (measured)."""
    return fetch_metrics(f"{url}?{urllib.parse.urlencode({'name[]': name})}")


def service(module: str, root: Path, bootstrap: str, extra: list[str] | None = None) -> Service:
    """On port 0: the ports are known once it is ready (see vinculo_apps.devstack.stack)."""
    log_path = root / f"{module}.log"
    return Service(module, root / module, bootstrap, log_path, list(extra or []), name=module)


def echo_server(root: Path, name: str, payload: bytes, workers: int) -> Process:
    """An echo server answering every call with `payload` (see bench.echo)."""
    port = free_port()
    payload_path = root / f"echo-{name}.bin"
    payload_path.write_bytes(payload)
    args = ["-m", "bench.echo", "--port", str(port), "--response-file", str(payload_path)]
    args += ["--workers", str(workers)]
    return Process(f"echo-{name}", args, root / f"echo-{name}.log", port)


def wait_port(port: int, timeout_s: float = 10.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on port {port}")


class Stack:
    """Broker, ingest and scoring under `root`; stops all of them on exit."""

    def __init__(self, root: Path, with_services: bool = True, outbox: bool = True) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.with_services = with_services
        self.outbox = outbox
        self.broker = EmbeddedBroker(log_path=root / "broker.log")
        self.ingest: Service | None = None
        self.scoring: Service | None = None
        self._extra: list[Process] = []

    def __enter__(self) -> Stack:
        try:
            self.broker.start()
            if self.with_services:
                self.scoring = service("scoring_service", self.root, self.broker.bootstrap)
                # The durable configuration (decision 11) unless told otherwise.
                durable = ["--outbox", "true" if self.outbox else "false"]
                self.ingest = service("ingest_service", self.root, self.broker.bootstrap, durable)
                DevStack([self.scoring, self.ingest], self.broker).start()  # both at once
        except BaseException:
            self.close()
            raise
        return self

    def start_extra(self, process: Process, health: bool = False) -> Process:
        """Start another process (an echo server) that this stack stops too."""
        self._extra.append(process)
        process.start(health=health)
        if not health:
            wait_port(process.grpc_port)
        return process

    def stop_extra(self, process: Process) -> None:
        process.stop()
        if process in self._extra:
            self._extra.remove(process)

    def close(self) -> None:
        for process in [*reversed(self._extra), self.ingest, self.scoring]:
            if process is not None:
                process.stop()
        self._extra.clear()
        self.broker.stop()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def services(self) -> dict[str, Service]:
        return {p.name: p for p in (self.ingest, self.scoring) if p is not None}

    def outbox_bytes(self) -> int:
        """Bytes of the ingest outbox's segments on disk."""
        outbox = self.root / "ingest_service" / "ingest"
        return sum(p.stat().st_size for p in outbox.glob("ingest-outbox.*.seg"))

    def broker_ps(self) -> psutil.Process | None:
        popen = self.broker.process
        return psutil.Process(popen.pid) if popen is not None else None
