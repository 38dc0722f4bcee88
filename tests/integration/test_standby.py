"""Standby replicas (VINCULO_SCORING_STANDBY_REPLICAS): an instance keeps a warm copy of
the partitions another one holds, so that when the holder dies the copy resumes from
its own recent offset instead of restoring the partition from the changelog.

Two instances of a group, each the other's standby, started on an empty log; once the
standby copies caught up, one is SIGKILLed: the survivor answers every owner as before, with no
restore. The same with no standby restores (run as its own case, in parallel); both times
are printed (`-s`).
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.harness import ServiceProcess, wait_until
from tests.integration.scale_out_data import CONTACTS, OWNERS, all_answers, publish
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

PARTITIONS = 8


def stored_offsets(instance: ServiceProcess) -> dict[int, int]:
    path = instance.data_dir / "scoring.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return dict(conn.execute("SELECT partition, next_offset FROM offsets").fetchall())


def failover_s(broker: EmbeddedBroker, root: Path, group: str, standbys: int) -> float:
    """Kill one of two instances; seconds until the survivor answers every owner again.
    Returns them; asserts the survivor restored only without standbys."""
    args = ["--consumer-group", group, "--standby-replicas", str(standbys)]
    instances = [
        ServiceProcess("scoring_service", root / f"{group}-{n}", broker.bootstrap, list(args))
        for n in range(2)
    ]
    with ExitStack() as stack:
        for instance in instances:
            stack.callback(instance.stop)
            instance.start()
        sent = publish(broker.bootstrap, range(OWNERS))
        wait_until(
            lambda: (
                sum(i.metric("vinculo_scoring_events_committed_total") for i in instances) == sent
                or None
            ),
            timeout_s=60,
            what="the group scored every event",
        )
        survivor, victim = instances
        expected = all_answers(survivor.address)
        assert all(isinstance(a, list) and len(a) == CONTACTS for a in expected.values())
        if standbys:  # each store holds every partition, at the same offsets
            wait_until(
                lambda: (
                    (
                        len(stored_offsets(survivor)) == PARTITIONS
                        and stored_offsets(survivor) == stored_offsets(victim)
                    )
                    or None
                ),
                timeout_s=60,
                what="the survivor's standby copies caught up with the victim's partitions",
            )
        victim.kill()
        killed = time.monotonic()
        wait_until(
            lambda: all_answers(survivor.address) == expected or None,
            timeout_s=90,
            what="the survivor answers every owner as before",
        )
        took = time.monotonic() - killed
        restored = "restored from the changelog" in survivor.log_text()
        assert restored == (standbys == 0), survivor.log_path
        return took


@pytest.mark.parametrize("standbys", [1, 0], ids=["one standby", "no standby (control)"])
def test_a_standby_copy_takes_over_without_a_restore(
    broker: EmbeddedBroker, tmp_path: Path, standbys: int
) -> None:
    # Each case has a broker of its own: an empty log when the instances start, so neither
    # held the other's partitions with records in them before (it would then resume, not
    # restore). The control shows that without a standby the survivor does restore.
    took = failover_s(broker, tmp_path, "group", standbys=standbys)
    print(f"failover to every owner answered with {standbys} standby: {took:.1f} s")
