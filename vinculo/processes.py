"""Stopping child processes: politely first, then for sure."""

from __future__ import annotations

import logging
import signal
import subprocess

log = logging.getLogger("vinculo.processes")


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
