"""The ready file: how a service tells whoever started it which ports it got.

With `--ready-file PATH` (`VINCULO_READY_FILE`) a service writes, once it is
serving, a JSON object `{"grpc_port": N, "metrics_port": M, "pid": P}` to PATH,
atomically (a temporary file renamed over PATH), and removes it when it stops.
A launcher can then start services on port 0 and never race another process
for a port it picked in advance.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReadyPorts:
    grpc_port: int
    metrics_port: int
    pid: int


def write_ready_file(path: Path, grpc_port: int, metrics_port: int) -> None:
    """Write the ports atomically: a reader sees no file or the whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    body = {"grpc_port": grpc_port, "metrics_port": metrics_port, "pid": os.getpid()}
    partial.write_text(json.dumps(body) + "\n", encoding="utf-8")
    os.replace(partial, path)


def read_ready_file(path: Path) -> ReadyPorts | None:
    """The ports in `path`, or None while the file does not exist yet."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return ReadyPorts(int(body["grpc_port"]), int(body["metrics_port"]), int(body["pid"]))


def remove_ready_file(path: Path) -> None:
    path.unlink(missing_ok=True)
