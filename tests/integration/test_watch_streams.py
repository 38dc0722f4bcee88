"""Many WatchRelationships streams held by one scoring process, every one served.

200 streams (10 per owner, 20 owners) over four real channels to the real
service, events produced straight to the broker: each stream gets its owner's
new relationship, and the open-stream gauge goes back to 0 when they close.
"""

from __future__ import annotations

import asyncio

import grpc
import pytest

from bench.datasets import contact_of, synthetic_events
from bench.raw_kafka import publish_direct
from tests.harness import ServiceProcess, wait_until
from vinculo.v1 import scoring_pb2 as pb
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

OWNERS = 20
PER_OWNER = 10
CHANNELS = 4
GAUGE = "vinculo_scoring_watch_streams"


async def _watch_all(scoring: ServiceProcess, bootstrap: str) -> dict[int, set[str]]:
    """Open every stream, produce one event per owner, collect what each stream saw."""
    channels = [grpc.aio.insecure_channel(scoring.address) for _ in range(CHANNELS)]
    owners = [f"watch-{i}" for i in range(OWNERS)]
    seen: dict[int, set[str]] = {}
    calls = []
    for n in range(OWNERS * PER_OWNER):
        owner = owners[n % OWNERS]
        method = channels[n % CHANNELS].unary_stream(
            "/vinculo.v1.ScoringService/WatchRelationships",
            request_serializer=pb.WatchRelationshipsRequest.SerializeToString,
            response_deserializer=pb.WatchRelationshipsResponse.FromString,
        )
        calls.append(method(pb.WatchRelationshipsRequest(owner_id=owner), timeout=120))
        seen[n] = set()

    async def read(n: int) -> None:
        async for change in calls[n]:
            seen[n].add(change.contact_id)
            if change.contact_id == contact_of(owners[n % OWNERS], 0):
                return

    readers = [asyncio.ensure_future(read(n)) for n in range(len(calls))]
    try:
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: wait_until(lambda: scoring.metric(GAUGE) == len(calls), 60, GAUGE)
        )
        for owner in owners:
            publish_direct(bootstrap, synthetic_events(owner, range(1), seed=1, tag="w"))
        await asyncio.wait_for(asyncio.gather(*readers), timeout=90)
    finally:
        for call in calls:
            call.cancel()
        for channel in channels:
            await channel.close()
    return seen


def test_two_hundred_streams_all_get_their_owners_change(
    scoring: ServiceProcess, broker: EmbeddedBroker
) -> None:
    seen = asyncio.run(_watch_all(scoring, broker.bootstrap))
    for n, contacts in seen.items():
        owner = f"watch-{n % OWNERS}"
        assert contact_of(owner, 0) in contacts, f"stream {n} of {owner} got {contacts}"
        assert all(c.startswith(owner + "/") for c in contacts), contacts  # only its owner's
    wait_until(lambda: scoring.metric(GAUGE) == 0, 30, "every stream closed on the server")
