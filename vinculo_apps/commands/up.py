"""`vinculo up`: the embedded broker and both services on one machine, until Ctrl-C.

`Stack` is the same thing as a context manager, for the demo and benchmarks:

    with Stack(UpSettings(data_dir=path, ingest_grpc_port=0, ...)) as stack:
        channel = grpc.insecure_channel(stack.ingest.address)

Children run in their own sessions, so a Ctrl-C in the terminal reaches only
this process, which then stops them in order: the ingest service first (no
new events), then the scoring service (it commits what it consumed), then
the broker. A port of 0 means "any free port".
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from vinculo import settings as settings_mod
from vinculo.security.channel import PLAINTEXT, ClientSecurity
from vinculo.settings import SettingsError, setting
from vinculo_apps.devstack.broker import EmbeddedBroker, free_port
from vinculo_apps.devstack.ports import port_in_use
from vinculo_apps.devstack.stack import ServiceLaunch

log = logging.getLogger("vinculo.up")

POLL_INTERVAL_S = 0.2


@dataclass(frozen=True)
class UpSettings:
    # Empty: start the embedded broker. Set: use that cluster, start no broker.
    kafka_bootstrap: str = setting(
        "", "VINCULO_KAFKA_BOOTSTRAP", "use this Kafka cluster instead of the embedded broker"
    )
    broker_port: int = setting(9092, "VINCULO_BROKER_PORT", "port of the embedded broker")
    # A Path is immutable, so a shared default is safe.
    data_dir: Path = setting(Path(".data"), "VINCULO_DATA_DIR", "state and logs")  # noqa: RUF009
    ingest_grpc_port: int = setting(50051, "VINCULO_INGEST_GRPC_PORT", "ingest gRPC port")
    ingest_metrics_port: int = setting(9101, "VINCULO_INGEST_METRICS_PORT", "ingest /metrics")
    scoring_grpc_port: int = setting(50052, "VINCULO_SCORING_GRPC_PORT", "scoring gRPC port")
    scoring_metrics_port: int = setting(9102, "VINCULO_SCORING_METRICS_PORT", "scoring /metrics")
    scoring_instances: int = setting(
        1,
        "VINCULO_SCORING_INSTANCES",
        "scoring instances of one group (the first on the scoring ports, the others on any "
        "free ports); any of them answers any owner",
    )
    startup_timeout_s: float = setting(
        90.0, "VINCULO_STARTUP_TIMEOUT_S", "wait this long for each service's health"
    )

    def validate(self) -> None:
        if self.scoring_instances < 1:
            raise SettingsError(f"scoring_instances: {self.scoring_instances}, at least 1")

    def with_free_ports(self) -> UpSettings:
        """A broker port of 0 replaced by a free one, so the services can be told it.

        Services keep 0: they bind any free port and report it (vinculo.ready).
        """
        ports: dict[str, Any] = {"broker_port": free_port()} if self.broker_port == 0 else {}
        return replace(self, **ports)


@dataclass
class ServiceChild:
    """One service through the dev-stack launcher, logging to <data_dir>/logs/<name>.log.

    A port of 0 is replaced by the one the service bound once it is ready.
    """

    name: str
    module: str
    grpc_port: int
    metrics_port: int
    subdir: str = ""  # its own data directory under the stack's (each scoring instance)
    launch: ServiceLaunch | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return None if self.launch is None else self.launch.process

    @property
    def log_path(self) -> Path | None:
        return None if self.launch is None else self.launch.log_path

    def start(self, bootstrap: str, data_dir: Path) -> None:
        """Spawn it; `wait_ready` waits for it."""
        log_path = data_dir / "logs" / f"{self.name}.log"
        service_dir = data_dir / self.subdir if self.subdir else data_dir
        self.launch = ServiceLaunch(
            *(self.module, service_dir, bootstrap, log_path),
            grpc_port=self.grpc_port,
            metrics_port=self.metrics_port,
            name=self.name,
            env=dict(os.environ),  # VINCULO_* settings reach the services
        ).spawn()

    def wait_ready(self, timeout_s: float, security: ClientSecurity = PLAINTEXT) -> None:
        if self.launch is None:
            raise RuntimeError(f"{self.name} was not started")
        self.launch.wait_ready(timeout_s, security)
        self.grpc_port, self.metrics_port = self.launch.grpc_port, self.launch.metrics_port

    def exit_code(self) -> int | None:
        return None if self.launch is None else self.launch.exit_code()

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.launch is not None:
            self.launch.stop(timeout_s)


class Stack:
    """Broker (unless external), ingest and scoring services; stop() always reaps all."""

    def __init__(self, settings: UpSettings, security: ClientSecurity = PLAINTEXT) -> None:
        """security: how to reach the services when they serve TLS (VINCULO_TLS_CERT...)."""
        self.security = security
        self.settings = settings.with_free_ports()
        s = self.settings
        self.broker: EmbeddedBroker | None = None
        self.ingest = ServiceChild(
            "ingest", "ingest_service", s.ingest_grpc_port, s.ingest_metrics_port
        )
        self.scoring = ServiceChild(
            "scoring", "scoring_service", s.scoring_grpc_port, s.scoring_metrics_port
        )
        # More instances of the same group: one logical scoring service (decision 8).
        self.more_scoring = [
            ServiceChild(f"scoring-{n}", "scoring_service", 0, 0, subdir=f"scoring-{n}")
            for n in range(2, s.scoring_instances + 1)
        ]

    @property
    def services(self) -> tuple[ServiceChild, ...]:
        return (self.ingest, self.scoring, *self.more_scoring)

    @property
    def bootstrap(self) -> str:
        if self.broker is not None:
            return self.broker.bootstrap
        return self.settings.kafka_bootstrap

    def start(self) -> Stack:
        data_dir = self.settings.data_dir
        (data_dir / "logs").mkdir(parents=True, exist_ok=True)
        self._check_ports_free()
        try:
            if not self.settings.kafka_bootstrap:
                broker_log = data_dir / "logs" / "broker.log"
                # The relay makes the broker port work for librdkafka clients (kcat).
                self.broker = EmbeddedBroker(
                    port=self.settings.broker_port, log_path=broker_log, relay=True
                )
                self.broker.start()
            for service in self.services:
                service.start(self.bootstrap, data_dir)
            for service in self.services:
                service.wait_ready(self.settings.startup_timeout_s, self.security)
        except BaseException:
            self.stop()
            raise
        return self

    def _check_ports_free(self) -> None:
        """Fail clearly on a port in use (often another `vinculo up`) before starting anything.

        Without this, the broker's readiness probe could connect to whoever
        holds the port and take it for our broker.
        """
        s = self.settings
        wanted = {
            "--ingest-grpc-port": s.ingest_grpc_port,
            "--ingest-metrics-port": s.ingest_metrics_port,
            "--scoring-grpc-port": s.scoring_grpc_port,
            "--scoring-metrics-port": s.scoring_metrics_port,
        }
        if not s.kafka_bootstrap:
            wanted["--broker-port"] = s.broker_port
        for flag, port in wanted.items():
            problem = port_in_use(port) if port else None
            if problem is not None:
                raise OSError(f"port {port} ({flag}) is in use: {problem}")

    def describe(self) -> list[str]:
        """Where everything listens, one line each."""
        lines = [
            f"broker   {self.bootstrap}"
            + (" (embedded Tansu, in memory; kcat works)" if self.broker else " (external Kafka)")
        ]
        for service in self.services:
            lines.append(
                f"{service.name:<8} gRPC {service.address}, "
                f"metrics http://127.0.0.1:{service.metrics_port}/metrics, log {service.log_path}"
            )
        return lines

    def dead_child(self) -> str | None:
        """The name and exit code of a child that stopped on its own, if any."""
        for service in self.services:
            code = service.exit_code()
            if code is not None:
                return f"{service.name} exited with code {code}"
        if self.broker is not None and self.broker.process is not None:
            code = self.broker.process.poll()
            if code is not None:
                return f"broker exited with code {code}"
        return None

    def stop(self) -> None:
        """Services first (ingest, then the scoring instances), then the broker."""
        try:
            for service in self.services:
                service.stop()
        finally:
            if self.broker is not None:
                self.broker.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class StopSignals:
    """SIGINT/SIGTERM: raise KeyboardInterrupt while starting, set `event` once running."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.running = False

    def install(self) -> None:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s", signal.Signals(signum).name)
        already = self.event.is_set()
        self.event.set()
        if not self.running and not already:
            raise KeyboardInterrupt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    settings_mod.add_flags(parser, UpSettings)


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")


def run(args: argparse.Namespace) -> int:
    configure_logging()
    settings = settings_mod.load(UpSettings, args)
    signals = StopSignals()
    signals.install()
    # The services read VINCULO_TLS_CERT/KEY from the environment they inherit;
    # VINCULO_TLS_CA tells this process how to check their health over TLS.
    stack = Stack(settings, settings_mod.load(ClientSecurity, None))
    try:
        stack.start()
    except KeyboardInterrupt:
        log.info("interrupted while starting; everything stopped")
        return 0
    except (RuntimeError, TimeoutError, OSError) as exc:
        # Startup failures are the user's to fix (a port in use, a broken
        # install): one clear line and where to look, not a traceback.
        log.error("could not start: %s; logs in %s", exc, settings.data_dir / "logs")
        return 1
    try:
        for line in stack.describe():
            log.info("%s", line)
        log.info(
            "ready (pid %d, every service's health readiness SERVING); Ctrl-C stops everything",
            os.getpid(),
        )
        signals.running = True
        return _supervise(stack, signals.event)
    finally:
        stack.stop()
        log.info("stopped")


def _supervise(stack: Stack, stop: threading.Event) -> int:
    """0 when asked to stop; 1 when a child died on its own (the rest is then stopped)."""
    while not stop.wait(POLL_INTERVAL_S):
        dead = stack.dead_child()
        if dead is not None:
            log.error("%s; stopping the rest", dead)
            return 1
    log.info("stopping: ingest, scoring, then the broker")
    return 0
