"""Stopping child processes: politely first, then for sure."""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vinculo.security.channel import ClientSecurity

log = logging.getLogger("vinculo_apps.devstack.processes")


def terminate(process: subprocess.Popen[bytes] | None, timeout_s: float, name: str = "") -> None:
    """SIGTERM, wait up to `timeout_s`, then SIGKILL; always reaps the process."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        log.warning("%s did not stop within %.0f s; killing it", name or process.args, timeout_s)
        process.kill()
        process.wait()


def wait_serving(
    address: str,
    timeout_s: float,
    process: subprocess.Popen[bytes] | None = None,
    name: str = "",
    security: ClientSecurity | None = None,
) -> None:
    """Block until the standard gRPC health check at `address` answers SERVING.

    Fails at once if `process` (the server being waited for) exits meanwhile.
    `security`: how to reach a TLS server (health needs no token).
    """
    import grpc  # late: `vinculo up --help` and the broker need no gRPC
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from vinculo.security.channel import PLAINTEXT, open_channel

    label = name or address
    deadline = time.monotonic() + timeout_s
    last_error: grpc.RpcError | None = None
    with open_channel(address, security or PLAINTEXT) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{label} exited with code {process.returncode} while starting")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError as exc:
                last_error = exc
            time.sleep(0.05)
    raise TimeoutError(f"{label} at {address} not SERVING within {timeout_s} s: {last_error}")
