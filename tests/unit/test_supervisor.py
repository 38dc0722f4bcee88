"""The supervisor's policy: restart after a doubling backoff, give up past the limit.

Fake children and a fake clock (the real processes are in
tests/integration/test_up_supervisor.py).
"""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest

from vinculo_apps.devstack.supervisor import RestartPolicy, Supervisor


class FakeService:
    def __init__(self, label: str, module: str = "") -> None:
        self.label = label
        self.module = module or f"{label}_service"
        self.process: object | None = object()
        self.code: int | None = None
        self.spawned = 0
        self.stopped = 0

    def exit_code(self) -> int | None:
        return self.code

    def stop(self, timeout_s: float = 15.0) -> None:
        self.stopped += 1
        self.code = None  # reaped: no process any more
        self.process = None

    def spawn(self) -> FakeService:
        self.spawned += 1
        self.process = object()
        return self


class FakePopen:
    def __init__(self) -> None:
        self.code: int | None = None

    def poll(self) -> int | None:
        return self.code


class FakeBroker:
    def __init__(self) -> None:
        self.process: FakePopen | None = FakePopen()
        self.starts = 0

    def stop(self) -> None:
        self.process = None

    def start(self) -> FakeBroker:
        self.starts += 1
        self.process = FakePopen()
        return self


class FakeStack:
    def __init__(self, *services: FakeService) -> None:
        self.services = list(services)
        self.broker = None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(limit: int = 3, window_s: float = 60.0) -> tuple[Supervisor, FakeService, Clock]:
    scoring, clock = FakeService("scoring"), Clock()
    stack = cast(Any, FakeStack(FakeService("ingest"), scoring))
    return Supervisor(stack, RestartPolicy(limit, window_s, backoff_s=1.0), clock), scoring, clock


def test_a_dead_service_is_restarted_after_the_backoff_and_logged_without_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor, scoring, clock = make()
    scoring.code = -9
    with caplog.at_level(logging.INFO):
        assert supervisor.check() is None
        assert scoring.stopped == 1 and scoring.spawned == 0  # reaped, waiting 1 s
        clock.now += 0.5
        assert supervisor.check() is None and scoring.spawned == 0
        clock.now += 0.6
        assert supervisor.check() is None and scoring.spawned == 1
    assert "scoring exited with code -9; restart 1 of 3 within 60 s, in 1.0 s" in caplog.text
    assert "scoring restarted" in caplog.text


def test_the_backoff_doubles_with_each_restart_in_the_window() -> None:
    supervisor, scoring, clock = make(limit=5)
    waits = []
    for _ in range(3):
        scoring.code = 1
        supervisor.check()
        died = clock.now
        while scoring.spawned == len(waits):
            clock.now += 0.25
            supervisor.check()
        waits.append(clock.now - died)
    assert waits == [1.0, 2.0, 4.0]


def test_one_crash_too_many_within_the_window_gives_up_naming_it() -> None:
    supervisor, scoring, clock = make(limit=2)
    for _ in range(2):
        scoring.code = 2
        assert supervisor.check() is None
        clock.now += 10
        supervisor.check()
    scoring.code = 2
    failure = supervisor.check()
    assert failure == (
        "scoring exited with code 2 after 2 restarts within 60 s (limit 2); it keeps crashing"
    )


def test_crashes_older_than_the_window_do_not_count() -> None:
    supervisor, scoring, clock = make(limit=1, window_s=60.0)
    scoring.code = 1
    supervisor.check()
    clock.now += 61
    supervisor.check()
    assert scoring.spawned == 1
    scoring.code = 1
    assert supervisor.check() is None  # the first restart is out of the window


def test_a_limit_of_zero_never_restarts() -> None:
    supervisor, scoring, _ = make(limit=0)
    scoring.code = 1
    assert supervisor.check() is not None
    assert scoring.spawned == 0


def test_a_restart_that_fails_to_start_counts_as_a_crash() -> None:
    supervisor, scoring, clock = make(limit=1)

    def broken() -> FakeService:
        raise OSError("no space left on device")

    scoring.spawn = broken  # type: ignore[method-assign]
    scoring.code = 1
    supervisor.check()
    clock.now += 1
    failure = supervisor.check()
    assert failure is not None and "failed to start (no space left on device)" in failure


def test_a_dead_broker_is_restarted_with_topics_first_and_the_consumers_after_it() -> None:
    ingest, scoring, broker, clock = (
        FakeService("ingest"),
        FakeService("scoring"),
        FakeBroker(),
        Clock(),
    )
    stack = FakeStack(ingest, scoring)
    stack.broker = broker  # type: ignore[assignment]
    order: list[str] = []
    supervisor = Supervisor(
        cast(Any, stack), RestartPolicy(3, 60.0, 1.0), clock,
        after_broker_start=lambda: order.append(f"topics, scoring spawned {scoring.spawned}"),
    )  # fmt: skip
    assert broker.process is not None
    broker.process.code = -9
    assert supervisor.check() is None
    assert scoring.stopped == 1 and ingest.stopped == 0  # held while the broker is down
    clock.now += 1.0
    assert supervisor.check() is None
    assert broker.starts == 1 and order == ["topics, scoring spawned 0"]
    assert scoring.spawned == 1 and ingest.spawned == 0
    assert supervisor.check() is None  # the consumers' restart is no crash: nothing pending
    assert supervisor.pending == []
