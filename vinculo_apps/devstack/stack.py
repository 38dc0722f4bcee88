"""The one dev-stack launcher: the broker and the services as child processes.

`vinculo up`, the demo, the bench and the tests all start services through
`ServiceLaunch`: `python -m <module>` with `--ready-file`, on port 0 unless
told otherwise, so the ports are the ones the service bound (vinculo.ready),
never ones picked in advance that another process could take meanwhile.

`DevStack` starts an embedded broker (unless given an external one) and the
services, all services at once (each needs seconds to import and load), and
stops them in reverse order (ingest before scoring before the broker), also
when starting fails. `devstack.supervisor` restarts what dies (`vinculo up`).
Children run in sessions of their own, so a terminal's
Ctrl-C reaches only the parent, which then stops them in order. Children also
die with the parent, whatever kills it: each service holds a lifeline pipe
(vinculo.lifeline) and the broker a parent-death signal (devstack.broker).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

from vinculo.ready import read_ready_file, remove_ready_file
from vinculo_apps.devstack.broker import EmbeddedBroker
from vinculo_apps.devstack.processes import terminate, wait_serving

if TYPE_CHECKING:
    from vinculo.security.channel import ClientSecurity

READY_POLL_S = 0.05


def clean_environment() -> dict[str, str]:
    """This process's environment without VINCULO_* (the child's flags say everything)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("VINCULO_")}


# How much of a log's end is searched for why a service stopped.
LOG_TAIL_BYTES = 16_384


def last_problem(log_path: Path, module: str) -> str:
    """The last thing a service said was wrong: an invalid setting (`module: message`,
    vinculo.settings.run_checked) or an ERROR or CRITICAL line of its own loggers (not
    kafka-python's, which stopping also logs). Empty when there is none."""
    try:
        with log_path.open("rb") as log:
            log.seek(max(0, log_path.stat().st_size - LOG_TAIL_BYTES))
            tail = log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    ours = re.compile(
        rf"^{re.escape(module)}: | (?:ERROR|CRITICAL) (?:{re.escape(module)}|vinculo)\b"
    )
    for line in reversed(tail.splitlines()):
        if ours.search(line):
            return line.strip()
    return ""


@dataclass
class ServiceLaunch:
    """One service as `python -m <module>`; ports 0 are replaced by the bound ones once ready."""

    module: str
    data_dir: Path
    bootstrap: str
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    grpc_port: int = 0
    metrics_port: int = 0
    name: str = ""
    env: dict[str, str] | None = None  # None: clean_environment()
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)
    _lifeline: int = field(default=-1, init=False, repr=False)  # write end; -1: none

    @property
    def label(self) -> str:
        return self.name or self.module

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def ready_path(self) -> Path:
        return self.data_dir / f".{self.module}.ready.json"

    def spawn(self) -> ServiceLaunch:
        """Start the process; `wait_ready` then waits for it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        remove_ready_file(self.ready_path)  # a stale file must not pass for this run's
        args = [
            *(sys.executable, "-m", self.module),
            *("--grpc-port", str(self.grpc_port), "--metrics-port", str(self.metrics_port)),
            *("--kafka-bootstrap", self.bootstrap, "--data-dir", str(self.data_dir)),
            *("--ready-file", str(self.ready_path)),
            *self.extra_args,
        ]
        self._log = self.log_path.open("ab")
        # The lifeline: we keep the write end; when this process is gone, however it
        # went, the child reads end-of-file and stops (vinculo.lifeline).
        self._cut_lifeline()  # a process started before and not stopped: it goes now
        lifeline, self._lifeline = os.pipe()
        try:
            self.process = subprocess.Popen(
                [*args, "--lifeline-fd", str(lifeline)],
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=clean_environment() if self.env is None else self.env,
                start_new_session=True,  # our Ctrl-C is ours: we stop children in order
                pass_fds=(lifeline,),
            )
        except BaseException:
            self._cut_lifeline()
            raise
        finally:
            os.close(lifeline)
        return self

    def _cut_lifeline(self) -> None:
        lifeline, self._lifeline = self._lifeline, -1
        if lifeline >= 0:
            os.close(lifeline)

    def wait_ready(self, timeout_s: float, security: ClientSecurity | None = None) -> ServiceLaunch:
        """Until the ready file names the ports bound and health answers SERVING there
        (the scoring service is SERVING once its partitions caught up); fails at once
        if the process exits. `security`: how to reach a TLS server."""
        process = self.process
        if process is None:
            raise RuntimeError(f"{self.label} was not started")
        deadline = time.monotonic() + timeout_s
        while (ready := read_ready_file(self.ready_path)) is None:
            if process.poll() is not None:
                problem = last_problem(self.log_path, self.module)
                raise RuntimeError(
                    f"{self.label} exited with code {process.returncode} while starting"
                    f"{': ' + problem if problem else ''}; log: {self.log_path}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{self.label} not ready within {timeout_s} s; log: {self.log_path}"
                )
            time.sleep(READY_POLL_S)
        self.grpc_port, self.metrics_port = ready.grpc_port, ready.metrics_port
        remaining = max(deadline - time.monotonic(), 1.0)
        wait_serving(self.address, remaining, process, self.label, security)
        return self

    def start(
        self, timeout_s: float = 60.0, security: ClientSecurity | None = None
    ) -> ServiceLaunch:
        try:
            return self.spawn().wait_ready(timeout_s, security)
        except BaseException:
            self.stop()
            raise

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout_s: float = 15.0) -> None:
        process, self.process = self.process, None
        try:
            terminate(process, timeout_s, self.label)
        finally:
            self._cut_lifeline()
            if self._log is not None:
                self._log.close()
                self._log = None

    def kill(self) -> None:
        """SIGKILL, no goodbye (a crash); reaps the process."""
        process, self.process = self.process, None
        if process is not None:
            process.kill()
            process.wait()
        self._cut_lifeline()
        if self._log is not None:
            self._log.close()
            self._log = None


class DevStack:
    """A broker (embedded unless `bootstrap` is given) and services; stop() reaps all."""

    def __init__(
        self,
        services: list[ServiceLaunch],
        broker: EmbeddedBroker | None = None,
        startup_timeout_s: float = 90.0,
        security: ClientSecurity | None = None,
    ) -> None:
        """security: how to reach the services' health when they serve TLS."""
        self.services = services
        self.broker = broker
        self.startup_timeout_s = startup_timeout_s
        self.security = security

    def start(self) -> DevStack:
        """Broker, then every service at once, then wait for each; on failure stop all."""
        try:
            if self.broker is not None and self.broker.process is None:
                self.broker.start()
            for service in self.services:
                service.spawn()
            self.spawned()
            for service in self.services:
                service.wait_ready(self.startup_timeout_s, self.security)
        except BaseException:
            self.stop()
            raise
        return self

    def spawned(self) -> None:
        """Called once every child is started, before waiting for them (a hook)."""

    def stop(self) -> None:
        """Services in the reverse of their order, then the broker, whatever fails."""
        try:
            for service in reversed(self.services):
                service.stop()
        finally:
            if self.broker is not None:
                self.broker.stop()

    def __enter__(self) -> DevStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
