"""bench.echo_hop: the bare forwarding hop the scale-out bench compares a forward with."""

from __future__ import annotations

import grpc

from bench.echo import METHOD, make_server
from bench.echo_hop import make_hop
from bench.loadgen import run_load, unary_call


def test_a_call_through_the_hop_gets_the_echo_answer() -> None:
    echo, echo_port = make_server(0, b"the answer", workers=4)
    hop, hop_port, channel = make_hop(0, f"127.0.0.1:{echo_port}", workers=4)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{hop_port}") as client:
            assert client.unary_unary(METHOD)(b"question", timeout=5) == b"the answer"
        call = unary_call(METHOD, b"question", bytes)
        summary = run_load(f"127.0.0.1:{hop_port}", call, concurrency=4, duration_s=0.05,
                           min_requests=20, warmup=1)  # fmt: skip
        assert summary.count >= 20
    finally:
        hop.stop(0).wait()
        channel.close()
        echo.stop(0).wait()
