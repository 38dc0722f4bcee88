"""`vinculo up`: the embedded broker and both services on one machine, until Ctrl-C.

`Stack` is the same thing as a context manager, for the demo and benchmarks:

    with Stack(UpSettings(data_dir=path, ingest_grpc_port=0, ...)) as stack:
        channel = grpc.insecure_channel(stack.ingest.address)

`Stack` is a thin layer over the one dev-stack launcher (DevStack): the
ports and logs `vinculo up` uses and the port check. Children run in their
own sessions, so a Ctrl-C in the terminal reaches only this process, which
then stops them in order: the ingest service first (no new events), then the
scoring service (it commits what it consumed), then the broker. A port of 0
means "any free port". While running, a child that dies is restarted with a
backoff and a limit (devstack.supervisor; VINCULO_RESTART_*). If this process
dies, its children die with it (a lifeline pipe, the broker's parent-death
signal), and the run record in the data directory lets the next `vinculo up`
find and stop any that survived (devstack.run_record).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

from ingest_service.settings import IngestSettings
from vinculo import settings as settings_mod
from vinculo.security.channel import PLAINTEXT, ClientSecurity
from vinculo.settings import SettingsError, setting
from vinculo.topics import ensure_topics
from vinculo_apps.devstack.broker import EmbeddedBroker, free_port
from vinculo_apps.devstack.ports import port_in_use
from vinculo_apps.devstack.run_record import clear_previous_run, remove_record, write_record
from vinculo_apps.devstack.stack import DevStack, ServiceLaunch
from vinculo_apps.devstack.supervisor import RestartPolicy, Supervisor

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
    restart_limit: int = setting(
        5,
        "VINCULO_RESTART_LIMIT",
        "restarts of one process (a service or the embedded broker) that died, within "
        "the restart window; one more stops the stack with exit code 1; 0 never restarts",
    )
    restart_window_s: float = setting(
        300.0, "VINCULO_RESTART_WINDOW_S", "seconds over which restarts count toward the limit"
    )
    restart_backoff_s: float = setting(
        1.0,
        "VINCULO_RESTART_BACKOFF_S",
        "wait before the first restart; doubles with each restart in the window, at most 30 s",
    )

    def validate(self) -> None:
        if self.scoring_instances < 1:
            raise SettingsError(f"scoring_instances: {self.scoring_instances}, at least 1")
        if self.restart_limit < 0 or self.restart_window_s <= 0 or self.restart_backoff_s < 0:
            raise SettingsError(
                f"restart_limit {self.restart_limit} (>= 0), restart_window_s"
                f" {self.restart_window_s} (> 0), restart_backoff_s {self.restart_backoff_s}"
                " (>= 0)"
            )

    @property
    def restart_policy(self) -> RestartPolicy:
        return RestartPolicy(self.restart_limit, self.restart_window_s, self.restart_backoff_s)

    def with_free_ports(self) -> UpSettings:
        """A broker port of 0 replaced by a free one, so the services can be told it.

        Services keep 0: they bind any free port and report it (vinculo.ready).
        """
        ports: dict[str, Any] = {"broker_port": free_port()} if self.broker_port == 0 else {}
        return replace(self, **ports)


class Stack(DevStack):
    """`vinculo up`'s DevStack: the embedded broker (unless external) with its relay,
    ingest, and the scoring instances, each logging to <data_dir>/logs/<name>.log."""

    def __init__(self, settings: UpSettings, security: ClientSecurity = PLAINTEXT) -> None:
        """security: how to reach the services when they serve TLS (VINCULO_TLS_CERT...)."""
        self.settings = s = settings.with_free_ports()
        self._recorded = False
        logs = s.data_dir / "logs"
        broker = None
        if not s.kafka_bootstrap:
            # The relay makes the broker port work for librdkafka clients (kcat).
            broker = EmbeddedBroker(port=s.broker_port, log_path=logs / "broker.log", relay=True)
        bootstrap = broker.bootstrap if broker is not None else s.kafka_bootstrap

        def service(
            name: str, module: str, ports: tuple[int, int], subdir: str = ""
        ) -> ServiceLaunch:
            return ServiceLaunch(
                *(module, s.data_dir / subdir, bootstrap, logs / f"{name}.log"),
                grpc_port=ports[0],
                metrics_port=ports[1],
                name=name,
                env=dict(os.environ),  # VINCULO_* settings reach the services
            )

        self.ingest = service(
            "ingest", "ingest_service", (s.ingest_grpc_port, s.ingest_metrics_port)
        )
        self.scoring = service(
            "scoring", "scoring_service", (s.scoring_grpc_port, s.scoring_metrics_port)
        )
        # More instances of the same group: one logical scoring service (decision 8).
        more = [
            service(f"scoring-{n}", "scoring_service", (0, 0), subdir=f"scoring-{n}")
            for n in range(2, s.scoring_instances + 1)
        ]
        # DevStack stops in reverse: ingest first (no new events), then scoring, then the broker.
        super().__init__([self.scoring, *more, self.ingest], broker, s.startup_timeout_s, security)

    @property
    def bootstrap(self) -> str:
        if self.broker is not None:
            return self.broker.bootstrap
        return self.settings.kafka_bootstrap

    def start(self) -> Stack:
        (self.settings.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        # Before any port check or lock: a survivor of a crashed run holds them.
        clear_previous_run(self.settings.data_dir)
        self._check_ports_free()
        super().start()
        return self

    def spawned(self) -> None:
        self.record()

    def record(self) -> None:
        """Write the run record (devstack.run_record): this process and its children."""
        children = {s.label: s.process.pid for s in self.services if s.process is not None}
        if self.broker is not None and self.broker.process is not None:
            children["broker"] = self.broker.process.pid
        write_record(self.settings.data_dir, children)
        self._recorded = True

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            if self._recorded:  # never another run's record (a refused start)
                remove_record(self.settings.data_dir)
                self._recorded = False

    def create_topics(self) -> None:
        """The topics, with the partition count the services use (VINCULO_PARTITIONS),
        before any client's question makes the embedded broker create them its way."""
        ingest = settings_mod.load(IngestSettings, None)
        ensure_topics(self.bootstrap, ingest.partitions, ingest.replication_factor)

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
        """Where everything listens, one line each (ingest first)."""
        lines = [
            f"broker   {self.bootstrap}"
            + (" (embedded Tansu, in memory; kcat works)" if self.broker else " (external Kafka)")
        ]
        for service in (self.ingest, *(s for s in self.services if s is not self.ingest)):
            lines.append(
                f"{service.label:<8} gRPC {service.address}, "
                f"metrics {service.metrics_url}, log {service.log_path}"
            )
        return lines

    def __enter__(self) -> Stack:
        return self.start()


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
        supervisor = Supervisor(
            stack, settings.restart_policy, after_broker_start=stack.create_topics
        )
        return _supervise(supervisor, signals.event, stack.record)
    finally:
        stack.stop()
        log.info("stopped")


def _supervise(supervisor: Supervisor, stop: threading.Event, record: Callable[[], None]) -> int:
    """0 when asked to stop; 1 when a child keeps crashing (the rest is then stopped).

    A child that dies is restarted (vinculo_apps.devstack.supervisor)."""
    restarts = supervisor.restarts
    while not stop.wait(POLL_INTERVAL_S):
        failure = supervisor.check()
        if failure is not None:
            log.error("%s; stopping the rest", failure)
            return 1
        if supervisor.restarts != restarts:  # new pids: the run record names them
            restarts = supervisor.restarts
            record()
    log.info("stopping: ingest, scoring, then the broker")
    return 0
