"""The ingest service on a full disk: a clear UNAVAILABLE, and no acknowledged event lost.

Found by the outside probe of issue 22 (`vinculo up` on a 40 MiB tmpfs, filled
by another file): PublishEvents answered UNKNOWN ("Exception calling
application: [Errno 28]") with a traceback per call, and the outbox kept the
torn part of the batch it could not write. Appends after space returned
followed that torn frame, so the next start would cut them off as a torn tail:
acknowledged events gone from the outbox that replays them into a broker that
lost its log. Checked from outside: after a restart, every event acknowledged
before and after the full disk answers DUPLICATE (the ingest service seeds its
deduplication from the outbox), and a torn frame would make them ACCEPTED.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ingest_service.outbox_health import PROBE_INTERVAL_S
from tests.harness import ServiceProcess, wait_until
from tests.integration.test_ingest import ACCEPTED, event, publish
from vinculo.v1 import events_pb2 as pb
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small tmpfs needs root"),
]

DUPLICATE = 2
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def batch(tag: str, n: int = 200) -> list[pb.InteractionEvent]:
    # Long names make each batch ~60 KB, so a write runs out of space part-way.
    return [event(f"{tag}-{i}", contact=f"c{i % 17}", contact_name="N" * 200) for i in range(n)]


def fill(disk: Path, leave: int) -> Path:
    """Fill the disk but `leave` bytes."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                if os.write(fd, b"\0" * 4096) == 0:
                    break
            except OSError:
                break  # ENOSPC
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)
    return filler


def test_full_disk_answers_unavailable_and_keeps_every_acknowledged_event(
    broker: EmbeddedBroker, tmp_path: Path, disk: Path
) -> None:
    service = ServiceProcess(
        "ingest_service", tmp_path / "ingest", broker.bootstrap, ["--data-dir", str(disk)]
    )
    acknowledged: list[pb.InteractionEvent] = []
    service.start()
    try:
        first = batch("before")
        assert {r.status for r in publish(service, first)} == {ACCEPTED}
        acknowledged += first
        # Fill all but ~25 KB: the next batch is written part-way, then refused.
        filler = fill(disk, leave=25_000)
        with pytest.raises(grpc.RpcError) as caught:
            publish(service, batch("during"))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "ingest outbox" in caught.value.details()
        assert "No space left on device" in caught.value.details()
        filler.unlink()
        later = batch("after")
        assert {r.status for r in publish(service, later)} == {ACCEPTED}
        acknowledged += later
    finally:
        service.stop()
    service.start()
    try:
        results = publish(service, acknowledged[:1000])
    finally:
        service.stop()
    assert [r.status for r in results] == [DUPLICATE] * len(acknowledged)


def health(service: ServiceProcess, name: str = "") -> int:
    with grpc.insecure_channel(service.address) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=name), timeout=5
        )
    return int(reply.status)


def test_readiness_is_not_serving_while_the_outbox_cannot_write_and_comes_back_alone(
    broker: EmbeddedBroker, tmp_path: Path, disk: Path
) -> None:
    """Issue 22: the health check said SERVING while every publish failed on a full disk."""
    service = ServiceProcess(
        "ingest_service", tmp_path / "ingest", broker.bootstrap, ["--data-dir", str(disk)]
    )
    service.start()
    try:
        assert service.metric("vinculo_ingest_outbox_writable") == 1
        filler = fill(disk, leave=25_000)
        with pytest.raises(grpc.RpcError) as caught:
            publish(service, batch("during"))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
        for name in ("", "readiness", "vinculo.v1.IngestService"):
            assert health(service, name) == NOT_SERVING, name
        assert health(service, "liveness") == SERVING  # a restart would not free the disk
        assert service.metric("vinculo_ingest_outbox_writable") == 0
        # Still failing: the probe keeps it NOT_SERVING, and one log line says why.
        time.sleep(PROBE_INTERVAL_S * 2)  # two probe periods must pass without a change
        assert health(service) == NOT_SERVING
        assert service.log_text().count("cannot write (No space left on device") == 1

        filler.unlink()  # no call is made: the probe alone brings readiness back
        wait_until(lambda: health(service) == SERVING, timeout_s=20, what="SERVING again")
        assert service.metric("vinculo_ingest_outbox_writable") == 1
        assert "writes again: readiness SERVING" in service.log_text()
        assert {r.status for r in publish(service, batch("after"))} == {ACCEPTED}
    finally:
        service.stop()
