"""A bare grpcio forwarding hop: the floor any forward in Python stands on.

It answers every echo call by sending the request's bytes on to another echo
server over one reused channel (the same kind of sync server and pool as the
scoring service, no interceptor, no parsing), and returns the bytes that come
back. Client -> hop -> echo against client -> echo measures what a bare
second hop costs on this machine, beside what the scoring service's forward
costs (bench.scale_out). Run as its own process: `python -m bench.echo_hop
--port P --target HOST:PORT --workers W`.
"""

from __future__ import annotations

import argparse
from typing import Any

import grpc

from bench.echo import METHOD, serve_bytes, serve_until_signalled


def _identity(data: bytes) -> bytes:
    return data


def make_hop(
    port: int, target: str, workers: int, host: str = "127.0.0.1"
) -> tuple[Any, int, grpc.Channel]:
    """A started hop server on host:port (0: any free port) forwarding to `target`;
    returns (server, bound port, its channel to the target)."""
    channel = grpc.insecure_channel(target)
    onward = channel.unary_unary(
        METHOD, request_serializer=_identity, response_deserializer=_identity
    )

    def hop(request: bytes, context: grpc.ServicerContext) -> bytes:
        answer: bytes = onward(request, timeout=context.time_remaining())
        return answer

    server, bound = serve_bytes(hop, port, workers, host, "hop")
    return server, bound, channel


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--target", required=True, help="the echo server's host:port")
    parser.add_argument("--workers", type=int, default=16)
    args = parser.parse_args(argv)
    server, _, channel = make_hop(args.port, args.target, args.workers)
    serve_until_signalled(server)
    channel.close()


if __name__ == "__main__":
    main()
