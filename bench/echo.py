"""A bare grpcio echo server: the floor any Python gRPC service stands on.

It answers a unary call with a fixed payload (the bytes of a real answer of
the scoring service, captured in the same run), on the same kind of server
(sync grpc.server, a thread pool of the same size), with no interceptor,
health or work. Run as its own process (`python -m bench.echo --port P
--response-file F --workers W`) so that it has a GIL of its own, like the
service it stands beside.
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc

METHOD = "/bench.v1.Echo/Echo"


def _identity(data: bytes) -> bytes:
    return data


Answer = Callable[[bytes, grpc.ServicerContext], bytes]


def serve_bytes(answer: Answer, port: int, workers: int, host: str, name: str) -> tuple[Any, int]:
    """A started sync server on host:port (0 = any free port) whose one method, Echo,
    answers raw bytes with `answer`; returns (server, bound port)."""
    handler = grpc.method_handlers_generic_handler(
        "bench.v1.Echo",
        {
            "Echo": grpc.unary_unary_rpc_method_handler(
                answer, request_deserializer=_identity, response_serializer=_identity
            )
        },
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name),
        handlers=[handler],
        options=[("grpc.so_reuseport", 0)],
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    server.start()
    return server, int(bound)


def make_server(port: int, payload: bytes, workers: int, host: str = "127.0.0.1") -> Any:
    """A started echo server bound to host:port (0 = any free port); returns (server, port)."""

    def echo(request: bytes, context: grpc.ServicerContext) -> bytes:
        return payload

    return serve_bytes(echo, port, workers, host, "echo")


def serve_until_signalled(server: Any) -> None:
    """Block until SIGTERM or SIGINT, then stop `server` with a 1 s grace."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    server.stop(1).wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--response-file", required=True, help="bytes every call answers")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args(argv)
    with open(args.response_file, "rb") as payload:
        server, _ = make_server(args.port, payload.read(), args.workers)
    serve_until_signalled(server)


if __name__ == "__main__":
    main()
