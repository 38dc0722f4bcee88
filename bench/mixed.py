"""Events and reads at once: neither the consumer nor the readers may starve the other.

Events go through the ingest service's PublishEvents at a fixed rate (half of
what the same run's ingest -> scored step sustained), in batches of `BATCH`.
They are that step's own stream, replayed under new people on every pass, so
"half" means half of the same work: each pass creates its relationships as the
step did (until session 13 the row sent every event to a new relationship of
one of 2,000 synthetic owners, which cost the consumer 1.2-1.5x more per event).
A share goes to the owners that are read, so reads keep meeting networks a
commit just changed. Meanwhile:

- ListRelationships (top 10) at concurrency 8, cycling over the read owners
  (closed loop, `bench.loadgen`): the read p50/p99;
- the freshness probe of `bench.pipeline.freshness` (publish one event, poll
  GetRelationship until it shows): the freshness p50/p99 a user sees;
- after the window, how long the consumer takes to catch up with what was
  published (a consumer starved by readers falls behind and shows it here),
  counted from the moment the publisher stopped: the probe may still be running
  then, and a backlog drained while it finished must not be hidden.

`python -m bench.mixed [--rate 5540] [--seconds 8] [--samples 30]` runs this row
alone on a stack of its own (the quick profile's owners and window, at a fixed
rate: `bench.run` takes half of its ingest -> scored step instead).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import cycle
from pathlib import Path
from typing import Any

import grpc

from bench import serving
from bench.datasets import snap_events
from bench.loadgen import CallFactory, run_load
from bench.pipeline import freshness
from bench.stack import Service, Stack
from bench.stats import wait_until
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc, scoring_pb2

CONSUMED = "vinculo_scoring_events_consumed_total"
BATCH = 200
QUICK_SNAP_LIMIT = 8_000  # bench.run's quick profile: newest rows per SNAP file
READ_SHARE = 0.05  # of the events, the share that goes to the read owners
CONCURRENCY = 8


@dataclass(frozen=True)
class MixedResult:
    target_eps: float
    published_eps: float
    events: int
    read_p50_ms: float
    read_p99_ms: float
    read_qps: float
    reads: int
    freshness_p50_s: float
    freshness_p99_s: float
    catch_up_s: float  # from the publisher's end until every published record was scored

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _events(
    read_owners: Sequence[str], seed: int, stream: Sequence[pb.InteractionEvent]
) -> Callable[[int], list[pb.InteractionEvent]]:
    """`stream` again and again, each pass under new people (so every pass creates its
    relationships as the ingest -> scored step did), a share of it sent to the read owners."""
    rng = random.Random(seed)
    counter = iter(range(10**12))

    def batch(size: int) -> list[pb.InteractionEvent]:
        out = []
        for _ in range(size):
            i = next(counter)
            one = pb.InteractionEvent()
            one.CopyFrom(stream[i % len(stream)])
            people = f"mixed{i // len(stream)}-"
            one.event_id = f"mixed-{seed}-{i}"
            one.contact_id = people + one.contact_id
            one.owner_id = (
                rng.choice(read_owners) if rng.random() < READ_SHARE else people + one.owner_id
            )
            out.append(one)
        return out

    return batch


def _publish(
    address: str, rate: float, duration_s: float, make: Callable[[int], list[Any]]
) -> tuple[int, float]:
    """Paced PublishEvents for `duration_s`; returns (events, seconds taken)."""
    sent = 0
    start = time.perf_counter()
    with grpc.insecure_channel(address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)  # type: ignore[no-untyped-call]
        while (elapsed := time.perf_counter() - start) < duration_s:
            due = sent / rate - elapsed  # ahead of the schedule: wait
            if due > 0:
                time.sleep(min(due, duration_s - elapsed))
                continue
            stub.PublishEvents(ingest_pb2.PublishEventsRequest(events=make(BATCH)), timeout=30)
            sent += BATCH
    return sent, time.perf_counter() - start


def _reads(owners: Sequence[str]) -> CallFactory:
    requests = [
        scoring_pb2.ListRelationshipsRequest(owner_id=o, page_size=10).SerializeToString()
        for o in owners
    ]

    def factory(channel: grpc.aio.Channel) -> Callable[[], Any]:
        stub = channel.unary_unary(
            "/vinculo.v1.ScoringService/ListRelationships",
            request_serializer=None,
            response_deserializer=scoring_pb2.ListRelationshipsResponse.FromString,
        )
        next_request = cycle(requests).__next__
        return lambda: stub(next_request(), timeout=30)

    return factory


def run(
    ingest: Service,
    scoring: Service,
    stream: Sequence[pb.InteractionEvent],
    read_owners: Sequence[str],
    rate: float,
    duration_s: float,
    freshness_samples: int,
) -> MixedResult:
    consumed_before = scoring.metric(CONSUMED)
    published: dict[str, Any] = {}
    fresh: dict[str, Any] = {}

    def publisher() -> None:
        make = _events(read_owners, 7, stream)
        events, seconds = _publish(ingest.address, rate, duration_s, make)
        published["result"] = events, seconds
        stopped = time.perf_counter()
        # Every event and its mirror. The probe's records (2 per sample, published while
        # this waits) count too: the wait may end up to that many records early.
        wait_until(lambda: scoring.metric(CONSUMED) >= consumed_before + events * 2, 600, 0.05,
                   "mixed drained")  # fmt: skip
        published["catch_up_s"] = time.perf_counter() - stopped

    def prober() -> None:
        fresh["result"] = freshness(ingest, scoring, freshness_samples, workers=1, tag="mixed")

    threads = [threading.Thread(target=f, daemon=True) for f in (publisher, prober)]
    for thread in threads:
        thread.start()
    reads = run_load(scoring.address, _reads(read_owners), CONCURRENCY, duration_s)
    for thread in threads:
        thread.join(timeout=duration_s + 900)
    if "catch_up_s" not in published or "result" not in fresh:
        raise RuntimeError("mixed load: the publisher or the freshness probe did not finish")
    events, seconds = published["result"]
    return MixedResult(
        target_eps=rate,
        published_eps=events / seconds,
        events=events,
        read_p50_ms=reads.p50_ms,
        read_p99_ms=reads.p99_ms,
        read_qps=reads.qps,
        reads=reads.count,
        freshness_p50_s=fresh["result"].p50_s,
        freshness_p99_s=fresh["result"].p99_s,
        catch_up_s=published["catch_up_s"],
    )


def lines(result: dict[str, Any]) -> list[str]:
    return [
        "Mixed (events at half the ingest -> scored rate, with ListRelationships top 10 at c8)",
        f"  events/s target {result['target_eps']:,.0f}, published {result['published_eps']:,.0f}"
        f" ({result['events']:,} events); consumer caught up {result['catch_up_s']:.2f} s"
        " after the publisher stopped",
        f"  reads p50 {result['read_p50_ms']:.2f} ms  p99 {result['read_p99_ms']:.2f} ms"
        f"  ({result['read_qps']:,.0f} qps, {result['reads']:,} reads)",
        f"  freshness publish -> visible  p50 {result['freshness_p50_s']:.3f} s"
        f"  p99 {result['freshness_p99_s']:.3f} s",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the mixed row alone, on a stack of its own")
    parser.add_argument("--rate", type=float, default=5540.0, help="events/s published")
    parser.add_argument("--seconds", type=float, default=8.0, help="the window")
    parser.add_argument("--samples", type=int, default=30, help="freshness samples")
    args = parser.parse_args(argv)
    sizes = (100, 1000, 30_000)  # bench.run's quick owners, read as after its serving step
    with tempfile.TemporaryDirectory(prefix="vinculo-mixed-") as root, Stack(Path(root)) as stack:
        assert stack.ingest is not None and stack.scoring is not None
        serving.load_owners(stack, sizes)
        stream = snap_events(QUICK_SNAP_LIMIT, run_tag=str(int(time.time())))
        result = run(stack.ingest, stack.scoring, stream, [serving.owner_for(n) for n in sizes],
                     args.rate, args.seconds, args.samples)  # fmt: skip
    print("\n".join(lines(result.as_dict())))
    print(json.dumps(result.as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
