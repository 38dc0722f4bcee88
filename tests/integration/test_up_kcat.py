"""kcat, a librdkafka producer from "other tools", against the broker `vinculo up` starts.

Debian's kcat fails with "Read underflow" against the embedded broker alone;
`vinculo up` puts `devstack.relay` on the broker port (README, "Other tools'
producers"). A CloudEvent written with kcat to `vinculo.raw.v1` must come out
scored by the scoring service, and kcat must list the broker's metadata.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.harness import wait_until
from vinculo.topics import RAW_TOPIC
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc
from vinculo_apps.commands.up import Stack, UpSettings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("kcat") is None, reason="needs kcat (Debian package kcat)"),
]

EVENT = {
    "specversion": "1.0",
    "id": "kcat-1",
    "source": "kcat",
    "type": "vinculo.interaction.v1",
    "data": {
        "owner_id": "kira",
        "contact_id": "leo",
        "type": "message",
        "direction": "outbound",
        "occurred_at": "2026-05-01T09:30:00Z",
    },
}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    settings = UpSettings(
        data_dir=tmp_path,
        broker_port=0,
        ingest_grpc_port=0,
        ingest_metrics_port=0,
        scoring_grpc_port=0,
        scoring_metrics_port=0,
    )
    with Stack(settings) as running:
        yield running


def test_kcat_produces_to_vinculo_up_and_the_event_is_scored(stack: Stack) -> None:
    listing = subprocess.run(
        ["kcat", "-b", stack.bootstrap, "-L", "-m", "10"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert listing.returncode == 0, listing.stderr
    assert f"broker 1 at {stack.bootstrap}" in listing.stdout or stack.bootstrap in listing.stdout
    produce = ["kcat", "-b", stack.bootstrap, "-t", RAW_TOPIC, "-P", "-k", "kira"]
    produce += ["-H", "content-type=application/cloudevents+json", "-X", "acks=all"]
    done = subprocess.run(
        produce, input=json.dumps(EVENT), capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr

    with grpc.insecure_channel(stack.scoring.address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)

        def scored() -> pb.Relationship | None:
            request = pb.GetRelationshipRequest(owner_id="kira", contact_id="leo")
            try:
                return stub.GetRelationship(request, timeout=5).relationship
            except grpc.RpcError:
                return None

        relationship = wait_until(scored, 90, "the kcat event scored")
    assert sum(c.outbound for c in relationship.signals.counts) == 1
