"""A new instance joining a RUNNING group restores its partitions from the changelog
(issue "Scale out", point 2): it takes over some of the running instance's
partitions, loads them from the changelog without consuming the events they
came from, then goes on from the restored offsets; afterwards both instances
answer every owner like a single-instance reference over the same events.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.harness import wait_until
from tests.integration.scale_out_data import OWNERS, all_answers, publish, scoring_instance
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

COMMITTED = "vinculo_scoring_events_committed_total"


def test_a_newcomer_to_a_running_group_restores_instead_of_replaying(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    with ExitStack() as stack:
        reference = scoring_instance(broker, tmp_path / "reference", "reference")
        first = scoring_instance(broker, tmp_path / "first", "joined")
        for service in (reference, first):
            stack.callback(service.stop)
            service.start()
        before = publish(broker.bootstrap, range(OWNERS // 2))
        for service in (reference, first):
            wait_until(
                lambda service=service: service.metric(COMMITTED) == before,
                timeout_s=60,
                what=f"{service.address} scored the first half",
            )
        newcomer = scoring_instance(broker, tmp_path / "newcomer", "joined")
        stack.callback(newcomer.stop)
        newcomer.start()  # SERVING: the group settled and its partitions are caught up
        assert "restored from the changelog" in newcomer.log_text()
        # Its partitions came from the changelog: none of their events was consumed again.
        assert newcomer.metric(COMMITTED) == 0
        after = publish(broker.bootstrap, range(OWNERS // 2, OWNERS))
        wait_until(
            lambda: reference.metric(COMMITTED) == before + after,
            timeout_s=60,
            what="the reference scored every event",
        )
        wait_until(
            lambda: first.metric(COMMITTED) + newcomer.metric(COMMITTED) == before + after,
            timeout_s=60,
            what="the group scored the second half once",
        )
        assert newcomer.metric(COMMITTED) > 0  # it goes on from the restored offsets
        expected = all_answers(reference.address)
        for service in (first, newcomer):
            assert all_answers(service.address) == expected, service.address
