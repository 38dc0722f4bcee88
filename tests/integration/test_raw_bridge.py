"""The raw-topic bridge against a real broker, fed by a real external producer (kcat).

kcat (Debian package `kcat`) writes structured and binary CloudEvents, valid and
invalid, to `vinculo.raw.v1`; the bridge must forward the valid ones (with the
mirrored copy when the contact is tracked) and dead-letter the rest with the
reason in headers, then commit the raw offsets.

Debian's kcat links librdkafka 2.0.2, which cannot parse the ApiVersions v3
answer of the embedded broker (Tansu 0.6.0): "Read underflow" on connect. A
real Kafka broker answers a too-new ApiVersions request with
UNSUPPORTED_VERSION, and librdkafka then retries with v0; `ApiVersionsShim`
gives exactly that answer to librdkafka's v3 request and forwards every other
byte unchanged, so the test still runs a real external producer end to end.
Production brokers (Apache Kafka) need no shim.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from ingest_service.raw_bridge import GROUP_ID, RawBridge
from tests.harness import read_topic, wait_until
from vinculo.topics import DEAD_LETTER_TOPIC, INTERACTIONS_TOPIC, RAW_TOPIC, ensure_topics
from vinculo.v1 import events_pb2 as pb
from vinculo_apps.devstack.broker import broker_binary, free_port, wait_for_port

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("kcat") is None, reason="needs kcat (Debian package kcat)"),
]
DATA = {
    "owner_id": "ana",
    "contact_id": "bob",
    "type": "message",
    "direction": "outbound",
    "occurred_at": "2024-05-01T09:30:00Z",
}


def kcat(bootstrap: str, value: str, headers: dict[str, str], key: str = "k") -> None:
    args = ["kcat", "-b", bootstrap, "-t", RAW_TOPIC, "-P", "-k", key, "-X", "acks=all"]
    for name, header in headers.items():
        args += ["-H", f"{name}={header}"]
    subprocess.run(args, input=value.encode(), check=True, timeout=30)


def structured(**data: Any) -> str:
    event = {"specversion": "1.0", "id": "s-1", "source": "kcat", "type": "vinculo.interaction.v1"}
    return json.dumps({**event, "data": {**DATA, **data}})


CE_JSON = {"content-type": "application/cloudevents+json"}
BINARY = {
    "ce_specversion": "1.0",
    "ce_id": "b-1",
    "ce_source": "kcat",
    "ce_type": "vinculo.interaction.v1",
    "ce_time": "2024-05-02T10:00:00Z",
    "content-type": "application/json",
}


API_VERSIONS, UNSUPPORTED_VERSION = 18, 35


class ApiVersionsShim:
    """A loopback TCP relay in front of the broker (see the module docstring)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.server.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.upstream)
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
            threading.Thread(target=self._requests, args=(client, upstream), daemon=True).start()

    def _requests(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while True:
                size = struct.unpack(">i", _read(client, 4))[0]
                payload = _read(client, size)
                key, version, correlation = struct.unpack(">hhi", payload[:8])
                if key == API_VERSIONS and version >= 3 and b"librdkafka" in payload:
                    client.sendall(struct.pack(">iih", 6, correlation, UNSUPPORTED_VERSION))
                    continue
                upstream.sendall(struct.pack(">i", size) + payload)
        except (EOFError, OSError):
            _pump_close(client, upstream)


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    _pump_close(source, sink)


def _pump_close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()


@pytest.fixture
def bootstrap(tmp_path: Path) -> Iterator[str]:
    """Tansu advertising the shim's address, so every client goes through the shim."""
    broker_port = free_port()
    shim = ApiVersionsShim(("127.0.0.1", broker_port))
    args = [broker_binary(), "broker", "--listener-url", f"tcp://127.0.0.1:{broker_port}",
            "--advertised-listener-url", f"tcp://127.0.0.1:{shim.port}"]  # fmt: skip
    with (tmp_path / "broker.log").open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", broker_port, 10.0, process)
        yield f"127.0.0.1:{shim.port}"
    finally:
        shim.close()
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def bridge(bootstrap: str) -> Iterator[RawBridge]:
    ensure_topics(bootstrap, partitions=2)
    running = RawBridge(bootstrap)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_kcat_cloudevents_are_forwarded_or_dead_lettered(bootstrap: str, bridge: RawBridge) -> None:
    kcat(bootstrap, structured(), CE_JSON, key="ana")  # valid, mirrored: 2 records
    owner_only = {**DATA, "owner_id": "carla", "owner_only": True}
    kcat(bootstrap, json.dumps(owner_only), BINARY, key="carla")  # valid, owner only: 1
    kcat(bootstrap, structured(contact_id="ana", **{"id": "x"}), CE_JSON)  # self relationship
    kcat(bootstrap, "just text", {})  # not a CloudEvent at all

    forwarded = read_topic(bootstrap, INTERACTIONS_TOPIC, 3)
    dead = read_topic(bootstrap, DEAD_LETTER_TOPIC, 2)

    events = sorted((r.key.decode(), pb.InteractionEvent.FromString(r.value)) for r in forwarded)
    assert [(key, e.owner_id, e.contact_id, e.direction) for key, e in events] == [
        ("ana", "ana", "bob", pb.DIRECTION_OUTBOUND),
        ("bob", "bob", "ana", pb.DIRECTION_INBOUND),
        ("carla", "carla", "bob", pb.DIRECTION_OUTBOUND),
    ]
    assert {e.event_id for _, e in events} == {"s-1", "b-1"}

    reasons = {dict(r.headers)["vinculo-reason-code"].decode(): dict(r.headers) for r in dead}
    assert set(reasons) == {"self_relationship", "not_cloudevent"}
    headers = reasons["self_relationship"]
    assert headers["vinculo-reason"] == b"contact_id: must not equal owner_id"
    assert headers["vinculo-source-topic"] == RAW_TOPIC.encode()
    assert int(headers["vinculo-source-offset"]) >= 0
    assert int(headers["vinculo-source-partition"]) in (0, 1)
    assert reasons["not_cloudevent"]["vinculo-source-topic"] == RAW_TOPIC.encode()
    assert {r.value for r in dead} >= {b"just text"}

    wait_until(
        lambda: bridge.counts.forwarded + bridge.counts.dead_lettered >= 4,
        timeout_s=10,
        what="the bridge to count 4 records",
    )
    assert (bridge.counts.forwarded, bridge.counts.dead_lettered) == (2, 2)
    probe = KafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP_ID, enable_auto_commit=False)
    try:  # committed() reads the group's offsets without joining it
        committed = [probe.committed(TopicPartition(RAW_TOPIC, p)) or 0 for p in (0, 1)]
    finally:
        probe.close(autocommit=False)
    assert sum(committed) == 4
