"""The forwarding row of `bench.scale_out`: what a forward adds, against its floor.

Two scoring instances of one group; the top 10 of an owner with 1,000
relationships is asked of the instance holding the owner (direct) and of the
other one (forwarded). Beside them, in the same run and rounds, two bare
grpcio peers carry the same answer bytes: an echo server (one call, no work)
and an echo reached through a bare forwarding hop (bench.echo_hop: a sync
server whose handler calls the echo over one reused channel). Their
difference is what a second Python gRPC hop costs on this machine whatever
the forwarder does; the CPU each process spends per call shows where a
saturated closed loop (concurrency 32 on two cores) spends its time.

The kinds are measured in alternating rounds (direct, forwarded, echo, hop,
then again), and each p50 is the median of its rounds, so that the machine's
drift falls on every kind alike. The report also gives the CPU per call a
forward (and the bare hop) adds over every process, and what that alone adds
to p50 with every core busy: the floor a Python hop puts under the c32 row.
"""

from __future__ import annotations

import statistics
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import grpc
import psutil

from bench.cpu import cpu_spent
from bench.echo import METHOD as ECHO_METHOD
from bench.loadgen import CallFactory, run_load, unary_call
from bench.stack import Process, Service, echo_server, wait_port
from vinculo.v1 import scoring_pb2 as pb
from vinculo_apps.devstack.broker import free_port

LIST = "/vinculo.v1.ScoringService/ListRelationships"
FORWARDED = "vinculo_scoring_forwarded_calls_total"
KINDS = ("direct", "forwarded", "echo", "echo_hop")
CONCURRENCIES = (1, 32)
WORKERS = 1032  # the scoring service's pool: 32 call workers + 1,000 watch-stream threads


@dataclass
class ForwardResult:
    """p50 (ms, median over rounds) and CPU µs per call of each process, per kind and cN."""

    p50_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    qps: dict[str, dict[str, float]] = field(default_factory=dict)
    cpu_us_per_call: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    rounds: int = 0

    def added(self, concurrency: str) -> float:
        return self.p50_ms["forwarded"][concurrency] - self.p50_ms["direct"][concurrency]

    def hop_added(self, concurrency: str) -> float:
        return self.p50_ms["echo_hop"][concurrency] - self.p50_ms["echo"][concurrency]

    def extra_cpu_us(self, kind: str, base: str, concurrency: str) -> float:
        """CPU µs per call of every process together, `kind` over `base`."""
        spent = self.cpu_us_per_call
        return sum(spent[kind][concurrency].values()) - sum(spent[base][concurrency].values())


def saturated_added_ms(extra_cpu_us: float, concurrency: int, cores: int) -> float:
    """What `extra_cpu_us` per call adds to a closed loop's p50 once every core is busy:
    each of `concurrency` calls waits for the others' CPU, `concurrency * CPU / cores`."""
    return concurrency * extra_cpu_us / cores / 1000


def hop_process(root: Path, target: str, workers: int) -> Process:
    port = free_port()
    args = ["-m", "bench.echo_hop", "--port", str(port), "--target", target]
    args += ["--workers", str(workers)]
    return Process("echo-hop", args, root / "echo-hop.log", port)


def which_forwards(
    pair: list[Service], call: CallFactory, calls: int = 20, timeout_s: float = 60.0
) -> tuple[Service, Service]:
    """(forwarder, holder): asked `calls` times each, the forwarder's forwarded-calls counter
    grows by at least that many and the holder's not at all. Asked again until that holds
    (bounded): right after a start the group may still be moving the owner's partition, and
    a guess taken then measured the holder as the "forwarder" (session 12's first run)."""
    deadline = time.monotonic() + timeout_s
    while True:
        grew = []
        for process in pair:
            before = [p.metric(FORWARDED) for p in pair]
            run_load(process.address, call, 1, 0.0, min_requests=calls, warmup=0)
            grew.append([p.metric(FORWARDED) - b for p, b in zip(pair, before, strict=True)])
        for n in (0, 1):
            if grew[n][n] >= calls and grew[1 - n][1 - n] == 0 and grew[1 - n][n] == 0:
                return pair[n], pair[1 - n]
        if time.monotonic() > deadline:
            raise RuntimeError(f"no stable forwarder within {timeout_s} s: counters grew {grew}")
        time.sleep(0.5)


def measure(
    root: Path, pair: list[Service], owner: str, duration_s: float, rounds: int
) -> ForwardResult:
    request = pb.ListRelationshipsRequest(owner_id=owner, page_size=10).SerializeToString()
    decode = pb.ListRelationshipsResponse.FromString
    call = unary_call(LIST, request, decode)
    forwarder, holder = which_forwards(pair, call)
    with grpc.insecure_channel(holder.address) as channel:
        answer: bytes = channel.unary_unary(LIST)(request, timeout=30)
    with ExitStack() as stack:
        echo = echo_server(root, "forward", answer, WORKERS)
        stack.callback(echo.stop)
        echo.start(health=False)
        wait_port(echo.grpc_port)
        hop = hop_process(root, echo.address, WORKERS)
        stack.callback(hop.stop)
        hop.start(health=False)
        wait_port(hop.grpc_port)
        targets = {
            "direct": (holder.address, call),
            "forwarded": (forwarder.address, call),
            "echo": (echo.address, unary_call(ECHO_METHOD, request, decode)),
            "echo_hop": (hop.address, unary_call(ECHO_METHOD, request, decode)),
        }
        processes = {
            "forwarder": forwarder.ps,
            "holder": holder.ps,
            "echo": echo.ps,
            "echo_hop": hop.ps,
            "bench client": psutil.Process(),
        }
        held = holder.metric(FORWARDED)
        result = _rounds(targets, processes, duration_s, rounds)
        if holder.metric(FORWARDED) != held:
            raise RuntimeError("the owner's partition moved during the rounds: measure again")
        return result


def _rounds(
    targets: dict[str, tuple[str, CallFactory]],
    processes: dict[str, psutil.Process],
    duration_s: float,
    rounds: int,
) -> ForwardResult:
    p50: dict[tuple[str, str], list[float]] = {}
    qps: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[dict[str, float]]] = {}
    for _ in range(rounds):
        for concurrency in CONCURRENCIES:
            for kind in KINDS:
                address, call = targets[kind]
                key = (kind, f"c{concurrency}")
                summary, spent = cpu_spent(
                    processes, partial(run_load, address, call, concurrency, duration_s)
                )
                p50.setdefault(key, []).append(summary.p50_ms)
                qps.setdefault(key, []).append(summary.qps)
                per_call = {name: s / summary.count * 1e6 for name, s in spent.items()}
                cpu.setdefault(key, []).append(per_call)
    result = ForwardResult(rounds=rounds)
    for (kind, c), values in p50.items():
        result.p50_ms.setdefault(kind, {})[c] = statistics.median(values)
        result.qps.setdefault(kind, {})[c] = statistics.median(qps[(kind, c)])
        names = cpu[(kind, c)][0]
        result.cpu_us_per_call.setdefault(kind, {})[c] = {
            name: statistics.median(r[name] for r in cpu[(kind, c)]) for name in names
        }
    return result


def report(r: ForwardResult) -> list[str]:
    lines = []
    for c in (f"c{n}" for n in CONCURRENCIES):
        p = r.p50_ms
        lines.append(
            f"  top-10 @1k {c} p50 (median of {r.rounds}): direct {p['direct'][c]:.2f} ms, "
            f"forwarded {p['forwarded'][c]:.2f} ms (added {r.added(c):+.2f}); bare echo "
            f"{p['echo'][c]:.2f} ms, through a bare hop {p['echo_hop'][c]:.2f} ms "
            f"(added {r.hop_added(c):+.2f})"
        )
        cores = psutil.cpu_count() or 1
        n = int(c[1:])
        fw_cpu = r.extra_cpu_us("forwarded", "direct", c)
        hop_cpu = r.extra_cpu_us("echo_hop", "echo", c)
        lines.append(
            f"    {c} CPU per call added, all processes: forward {fw_cpu:+.0f} us, bare hop "
            f"{hop_cpu:+.0f} us; with all {cores} cores busy that alone adds "
            f"{saturated_added_ms(fw_cpu, n, cores):+.2f} / "
            f"{saturated_added_ms(hop_cpu, n, cores):+.2f} ms at p50"
        )
        for kind in KINDS:
            spent = r.cpu_us_per_call[kind][c]
            busy = ", ".join(f"{n} {v:.0f}" for n, v in spent.items() if v >= 20)
            lines.append(f"    {c} {kind}: {r.qps[kind][c]:,.0f} calls/s; CPU us/call {busy}")
    return lines
