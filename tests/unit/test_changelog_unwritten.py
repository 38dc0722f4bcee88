"""A changelog write whose records the broker did not take must stop the commit: a flush
returns after a failed batch too, so the writer checks its batches' futures."""

from __future__ import annotations

import pytest
from kafka.errors import KafkaError, KafkaTimeoutError
from kafka.future import Future

from scoring_service.routing.changelog import _raise_unwritten


def done(error: Exception | None = None) -> Future:
    future = Future()
    if error is None:
        future.success(None)
    else:
        future.failure(error)
    return future


def test_acknowledged_batches_let_the_commit_go_on() -> None:
    _raise_unwritten([done(), done()])


def test_a_failed_batch_stops_the_commit_with_its_error() -> None:
    with pytest.raises(KafkaError, match=r"changelog write failed: .*expired"):
        _raise_unwritten([done(), done(KafkaTimeoutError("batch expired"))])


def test_a_batch_still_unanswered_after_the_flush_stops_the_commit() -> None:
    with pytest.raises(KafkaError, match="unfinished after a flush"):
        _raise_unwritten([done(), Future()])
