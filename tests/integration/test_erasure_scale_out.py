"""A forget asked of one scoring instance reaches the others (the tombstone topic):
the person leaves every network, whichever instance holds it. Real processes."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest

from tests.harness import ServiceProcess, start_together, wait_until
from tests.integration.scale_out_data import scoring_instance
from tests.integration.scoring_helpers import T0, contacts_of, interaction
from tests.integration.test_durable_broker import publish
from tests.integration.test_erasure import store_bytes
from vinculo.v1 import erasure_pb2, erasure_pb2_grpc, scoring_pb2_grpc
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

GONE = "yara-gone-5521"
FRIENDS = ("ana", "bob", "cy", "dee", "eli", "fay")


def networks(address: str) -> dict[str, set[str]]:
    with grpc.insecure_channel(address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        return {p: set(contacts_of(stub, p)) for p in (*FRIENDS, GONE)}


def test_a_forget_reaches_every_instance(
    broker: EmbeddedBroker, ingest: ServiceProcess, tmp_path: Path
) -> None:
    events = [interaction(f"f-{p}", p, GONE, T0 + i) for i, p in enumerate(FRIENDS)]
    events += [interaction(f"o-{p}", p, "zed", T0 + 10 + i) for i, p in enumerate(FRIENDS)]
    publish(ingest.address, events)
    with ExitStack() as stack:
        instances = [scoring_instance(broker, tmp_path / f"i{n}", "scaled") for n in range(2)]
        for instance in instances:
            stack.callback(instance.stop)
        start_together(*instances)
        before = {p: {GONE, "zed"} for p in FRIENDS} | {GONE: set(FRIENDS)}
        for instance in instances:
            wait_until(lambda i=instance: networks(i.address) == before or None, timeout_s=60)
        # Both stores hold some of the person's ties (owners spread over the partitions).
        assert all(GONE.encode() in store_bytes(i.data_dir) for i in instances)

        with grpc.insecure_channel(instances[0].address) as channel:
            stub = erasure_pb2_grpc.ErasureServiceStub(channel)  # type: ignore[no-untyped-call]
            stub.ForgetOwner(erasure_pb2.ForgetOwnerRequest(owner_id=GONE), timeout=60)
        after = {p: {"zed"} for p in FRIENDS} | {GONE: set()}
        for instance in instances:  # each answers every owner (forwarding)
            wait_until(lambda i=instance: networks(i.address) == after or None, timeout_s=30)
    for instance in instances:
        assert GONE.encode() not in store_bytes(instance.data_dir)
