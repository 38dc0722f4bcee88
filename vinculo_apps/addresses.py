"""Where the client commands find the stack: one setting per address, read one way.

Each address comes from its flag, else its `VINCULO_*_ADDRESS` (or
`VINCULO_KAFKA_BOOTSTRAP`) variable, else the port `vinculo up` was told to use
(`VINCULO_INGEST_GRPC_PORT`, `VINCULO_SCORING_GRPC_PORT`, `VINCULO_BROKER_PORT`)
on 127.0.0.1, else the default port. So a stack moved to other ports with those
variables is found by `import`, `report` and `export` run with the same ones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

INGEST = ("VINCULO_INGEST_ADDRESS", "VINCULO_INGEST_GRPC_PORT", 50051)
SCORING = ("VINCULO_SCORING_ADDRESS", "VINCULO_SCORING_GRPC_PORT", 50052)
KAFKA = ("VINCULO_KAFKA_BOOTSTRAP", "VINCULO_BROKER_PORT", 9092)


def resolve(
    which: tuple[str, str, int], flag: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """The address for `which` (INGEST, SCORING or KAFKA), as the module docstring says."""
    environ = os.environ if environ is None else environ
    address_env, port_env, port = which
    if flag:
        return flag
    if environ.get(address_env):
        return environ[address_env]
    return f"127.0.0.1:{environ.get(port_env) or port}"


def describe(which: tuple[str, str, int]) -> str:
    """For --help: where the default comes from."""
    address_env, port_env, port = which
    return f"env {address_env}, else 127.0.0.1:${port_env}, else 127.0.0.1:{port}"
