"""WatchRelationships at scale: many streams on one scoring process, events flowing.

`python -m bench.watch_streams [--streams 1000] [--rate 100] [--seconds 10]`
(and a step of `bench.run`).

`streams` streams (10 per owner) are opened over a few channels from one
grpc.aio event loop; the scoring process's RSS is read before and after, so
the memory per open stream is measured (its thread, its queue, gRPC's call
state). Then events are published through the ingest service at `rate`
events/s, each a new relationship of a watched owner (a new relationship
always moves its tier, so every stream of the owner must report it). The
delay from the publish call (its start: the ingest acknowledgement counts)
to a stream receiving the change is taken for every (stream, event) pair;
the row reports its p50/p99 and how many pairs were delivered of those
expected, and the part after the commit (the change's `changed_at`): the
fan-out to the streams, apart from ingest, Kafka and the consumer. Events are
published once the consumer has no lag left. The scoring process's CPU and
this client's are read while events flow: a client that cannot keep up would
show here, not as the service's delay.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc

from bench.datasets import make_event
from bench.stack import Service, Stack
from bench.stats import percentile, wait_until
from vinculo.v1 import ingest_pb2, scoring_pb2

PER_OWNER = 10
CHANNELS = 8
GAUGE = "vinculo_scoring_watch_streams"
LAG = "vinculo_scoring_consumer_lag"
WATCH = "/vinculo.v1.ScoringService/WatchRelationships"
PUBLISH = "/vinculo.v1.IngestService/PublishEvents"


@dataclass(frozen=True)
class WatchResult:
    streams: int
    rate_eps: float
    events: int
    expected: int  # (stream, event) pairs
    delivered: int
    p50_s: float
    p99_s: float
    # The part of the delay after the commit (the change's changed_at, wall clock):
    # the fan-out to the streams, apart from ingest, Kafka and the consumer.
    fanout_p50_s: float
    fanout_p99_s: float
    publish_s: float  # how long publishing took (rate * seconds events)
    rss_before_mb: float
    rss_after_mb: float
    threads_after: int
    client_cpu_s: float  # this process (the bench's streams and publisher) while events flow
    scoring_cpu_s: float  # the scoring process over the same window
    window_s: float

    @property
    def rss_per_stream_kb(self) -> float:
        return (self.rss_after_mb - self.rss_before_mb) * 1024 / max(self.streams, 1)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rss_per_stream_kb": self.rss_per_stream_kb}


async def _run(
    ingest: Service, scoring: Service, streams: int, rate: float, seconds: float
) -> WatchResult:
    owners = [f"watchbench:o{i}" for i in range(max(1, streams // PER_OWNER))]
    rss_before = scoring.ps.memory_info().rss / 2**20
    channels = [grpc.aio.insecure_channel(scoring.address) for _ in range(CHANNELS)]
    sent_at: dict[str, float] = {}  # contact -> when its publish was called (wall clock)
    delays: list[float] = []
    fanout: list[float] = []
    calls = []
    for n in range(streams):
        method = channels[n % CHANNELS].unary_stream(
            WATCH,
            request_serializer=scoring_pb2.WatchRelationshipsRequest.SerializeToString,
            response_deserializer=scoring_pb2.WatchRelationshipsResponse.FromString,
        )
        owner = owners[n % len(owners)]
        calls.append(method(scoring_pb2.WatchRelationshipsRequest(owner_id=owner)))

    async def read(call: Any) -> None:
        try:
            async for change in call:
                arrived = time.time()
                if change.contact_id in sent_at:
                    delays.append(arrived - sent_at[change.contact_id])
                    fanout.append(arrived - change.changed_at.ToMicroseconds() / 1e6)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise

    readers = [asyncio.ensure_future(read(call)) for call in calls]
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(
            None, lambda: wait_until(lambda: scoring.metric(GAUGE) >= streams, 120, 0.2, GAUGE)
        )
        rss_after = scoring.ps.memory_info().rss / 2**20
        threads = scoring.ps.num_threads()
        # In `bench.run` the row before (mixed) may leave a backlog: its catch-up is that
        # row's figure, not the delivery delay of these events.
        await loop.run_in_executor(
            None, lambda: wait_until(lambda: scoring.metric(LAG) == 0, 120, 0.2, LAG)
        )
        window, client_cpu, scoring_cpu = time.perf_counter(), time.process_time(), _cpu(scoring)
        publish_s = time.perf_counter()
        events = await _publish(ingest, owners, rate, seconds, sent_at)
        publish_s = time.perf_counter() - publish_s
        expected = events * PER_OWNER if streams >= PER_OWNER else events
        deadline = time.perf_counter() + 30.0
        while len(delays) < expected and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        window = time.perf_counter() - window
        client_cpu = time.process_time() - client_cpu
        scoring_cpu = _cpu(scoring) - scoring_cpu
    finally:
        for call in calls:
            call.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for channel in channels:
            await channel.close()
    return WatchResult(
        streams=streams,
        rate_eps=rate,
        events=events,
        expected=expected,
        delivered=len(delays),
        p50_s=percentile(delays, 50) if delays else float("nan"),
        p99_s=percentile(delays, 99) if delays else float("nan"),
        fanout_p50_s=percentile(fanout, 50) if fanout else float("nan"),
        fanout_p99_s=percentile(fanout, 99) if fanout else float("nan"),
        publish_s=publish_s,
        rss_before_mb=rss_before,
        rss_after_mb=rss_after,
        threads_after=threads,
        client_cpu_s=client_cpu,
        scoring_cpu_s=scoring_cpu,
        window_s=window,
    )


def _cpu(service: Service) -> float:
    times = service.ps.cpu_times()
    return float(times.user + times.system)


async def _publish(
    ingest: Service, owners: list[str], rate: float, seconds: float, sent_at: dict[str, float]
) -> int:
    """One event per 1/rate s, round robin over the owners, each a new contact."""
    async with grpc.aio.insecure_channel(ingest.address) as channel:
        stub = channel.unary_unary(
            PUBLISH,
            request_serializer=ingest_pb2.PublishEventsRequest.SerializeToString,
            response_deserializer=ingest_pb2.PublishEventsResponse.FromString,
        )
        total = int(rate * seconds)
        start = time.perf_counter()
        now = time.time()
        for i in range(total):
            due = start + i / rate - time.perf_counter()
            if due > 0:
                await asyncio.sleep(due)
            owner = owners[i % len(owners)]
            contact = f"{owner}/w{i}"
            event = make_event(f"watchbench-{i}", owner, contact, now - 60.0, owner_only=True)
            sent_at[contact] = time.time()  # before: a stream may see it first
            await stub(ingest_pb2.PublishEventsRequest(events=[event]), timeout=30)
    return total


def run(
    ingest: Service, scoring: Service, streams: int, rate: float, seconds: float
) -> WatchResult:
    return asyncio.run(_run(ingest, scoring, streams, rate, seconds))


def lines(result: dict[str, Any]) -> list[str]:
    more = []
    if "window_s" in result:  # results written before these were measured lack them
        more = [
            f"  of which commit -> stream p50 {result['fanout_p50_s']:.3f} s"
            f"  p99 {result['fanout_p99_s']:.3f} s; publishing took {result['publish_s']:.1f} s",
            f"  CPU while events flowed ({result['window_s']:.1f} s): scoring"
            f" {result['scoring_cpu_s'] / result['window_s']:.0%} of a core, this client"
            f" {result['client_cpu_s'] / result['window_s']:.0%}",
        ]
    return [
        f"Watch streams ({result['streams']:,} WatchRelationships streams on one scoring process,"
        f" {result['rate_eps']:.0f} events/s for {result['events']:,} events)",
        f"  delivered {result['delivered']:,} of {result['expected']:,} (stream, event) pairs;"
        f" publish -> stream p50 {result['p50_s']:.3f} s  p99 {result['p99_s']:.3f} s",
        f"  RSS {result['rss_before_mb']:.0f} -> {result['rss_after_mb']:.0f} MB with the streams"
        f" open: {result['rss_per_stream_kb']:.0f} KiB per stream;"
        f" {result['threads_after']:,} threads",
        *more,
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vinculo-watch-") as root, Stack(Path(root)) as stack:
        assert stack.ingest is not None and stack.scoring is not None
        result = run(stack.ingest, stack.scoring, args.streams, args.rate, args.seconds)
    print("\n".join(lines(result.as_dict())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
