"""Issue 22 points 7 and 8, through real processes: the scoring service survives a
broker that goes away and a full disk (not ready meanwhile, resumes by itself,
loses nothing), and its lag gauge counts records waiting behind a stalled consumer.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.harness import ServiceProcess, alive, wait_until
from tests.integration.scoring_helpers import (
    T0,
    contacts_of,
    interaction,
    producer,
    scoring_service,
    send,
    stored_offsets,
    stub_for,
)
from vinculo.topics import ensure_topics
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

Status = health_pb2.HealthCheckResponse


def health(service: ServiceProcess) -> int | None:
    """The health status, None when the service does not answer."""
    with grpc.insecure_channel(service.address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(  # type: ignore[no-untyped-call]
                health_pb2.HealthCheckRequest(), timeout=2
            )
        except grpc.RpcError:
            return None
        return int(reply.status)


def still_running(service: ServiceProcess, seconds: float) -> None:
    """Fails as soon as the process exits within `seconds` (the issue saw it in 1.2-3.5 s)."""
    assert service.process is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert alive(service.process.pid), "the scoring service exited"
        time.sleep(0.2)


def owners_batch(tag: str, owners: int = 20, per_owner: int = 5) -> dict[str, set[str]]:
    return {f"{tag}-o{i}": {f"{tag}-c{j}" for j in range(per_owner)} for i in range(owners)}


def send_batch(bootstrap: str, batch: dict[str, set[str]]) -> int:
    events = [
        interaction(f"{owner}-{contact}", owner, contact, T0 + k)
        for owner, contacts in batch.items()
        for k, contact in enumerate(sorted(contacts))
    ]
    with producer(bootstrap) as kafka:
        send(kafka, events)
    return len(events)


def all_scored(service: ServiceProcess, batch: dict[str, set[str]]) -> bool:
    """Every owner of `batch` served with exactly its contacts. UNAVAILABLE (a partition
    being assigned while the group rejoins, with a retry hint) reads as "not yet"."""
    with stub_for(service) as stub:
        try:
            return all(set(contacts_of(stub, owner)) == want for owner, want in batch.items())
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                return False
            raise


def test_broker_gone_then_back_makes_the_service_wait_not_exit(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    data_dir = tmp_path / "scoring"
    before, after = owners_batch("before"), owners_batch("after")
    with scoring_service(broker, data_dir) as service:
        send_batch(broker.bootstrap, before)
        wait_until(lambda: all_scored(service, before), timeout_s=60, what="events before")
        broker.stop()
        wait_until(lambda: health(service) == Status.NOT_SERVING, timeout_s=30, what="NOT_SERVING")
        # The broker probe has its own cadence: health can turn first (the partitions).
        wait_until(
            lambda: service.metric("vinculo_scoring_broker_up") == 0, timeout_s=30, what="down"
        )
        still_running(service, 8.0)
        assert all_scored(service, before)  # committed state is still served meanwhile

        broker.start()  # a memory broker: empty
        # A real broker keeps its topics; this one must get them back at once with their
        # count, before a client's metadata request auto-creates 4 partitions (Tansu).
        ensure_topics(broker.bootstrap, 8)
        wait_until(
            lambda: service.metric("vinculo_scoring_broker_up") == 1, timeout_s=30, what="up"
        )
        send_batch(broker.bootstrap, after)
        wait_until(lambda: all_scored(service, after), timeout_s=60, what="events after")
        assert all_scored(service, before)  # nothing lost, nothing wrong
        # Health returns to SERVING only once the partition directory (routing/) calls
        # every partition caught up; after a broker that lost its log that can stay
        # false (reported to the scale-out owner), so it is not asserted here.


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    """Hold the store's write lock: the consumer's next commit waits (a stalled consumer)."""
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            db.execute("ROLLBACK")


def test_lag_counts_records_behind_a_stalled_consumer_and_freshness_is_measured(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    data_dir = tmp_path / "scoring"
    first, waiting = owners_batch("first", 5, 2), owners_batch("waiting", 100, 10)
    with scoring_service(broker, data_dir) as service:
        sent = send_batch(broker.bootstrap, first)
        wait_until(lambda: stored_offsets(data_dir) == sent, timeout_s=60, what="first events")
        with write_lock(data_dir / "scoring.sqlite3"):
            stuck = send_batch(broker.bootstrap, waiting)
            # The lag monitor asks the broker every 2 s; the commit waits up to 30 s.
            wait_until(
                lambda: service.metric("vinculo_scoring_consumer_lag") == stuck,
                timeout_s=20,
                what=f"a lag of {stuck} while the consumer cannot commit",
            )
        wait_until(lambda: all_scored(service, waiting), timeout_s=60, what="the waiting events")
        wait_until(
            lambda: service.metric("vinculo_scoring_consumer_lag") == 0,
            timeout_s=20,
            what="lag back to 0",
        )
        assert service.metric("vinculo_scoring_freshness_seconds_count") == sent + stuck
        # The stalled ones waited at least until the lock was released.
        assert service.metric("vinculo_scoring_freshness_seconds_bucket", le="0.5") < stuck
        assert service.metric("vinculo_scoring_broker_up") == 1


def can_mount_tmpfs() -> bool:
    return os.geteuid() == 0


@pytest.mark.skipif(not can_mount_tmpfs(), reason="mounting a small tmpfs needs root")
def test_full_disk_pauses_consumption_and_resumes_when_space_returns(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], check=True)
    try:
        run_full_disk(broker, tmp_path, disk)
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)


def run_full_disk(broker: EmbeddedBroker, tmp_path: Path, disk: Path) -> None:
    first, later = owners_batch("first", 5, 2), owners_batch("later", 50, 8)
    # Logs outside the small disk (the last --data-dir wins): only the store is on it.
    with scoring_service(broker, tmp_path / "scoring", "--data-dir", str(disk)) as service:
        send_batch(broker.bootstrap, first)
        wait_until(lambda: all_scored(service, first), timeout_s=60, what="first events")
        filler = disk / "filler"
        with filler.open("wb") as out:
            try:
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()
            except OSError:
                pass  # ENOSPC: the disk is full
        send_batch(broker.bootstrap, later)
        wait_until(
            lambda: service.metric("vinculo_scoring_store_writable") == 0,
            timeout_s=30,
            what="the store reported unwritable",
        )
        # Generous: on a loaded machine the service's readiness loop and this probe share
        # two cores with other tests.
        wait_until(lambda: health(service) == Status.NOT_SERVING, timeout_s=30, what="NOT_SERVING")
        assert all_scored(service, first)  # committed state still served
        still_running(service, 3.0)
        filler.unlink()
        wait_until(lambda: all_scored(service, later), timeout_s=60, what="events after space")
        assert service.metric("vinculo_scoring_store_writable") == 1
        wait_until(lambda: health(service) == Status.SERVING, timeout_s=10, what="SERVING")
        assert all_scored(service, first)
