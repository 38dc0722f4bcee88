"""Restart what dies in a dev stack, with a backoff and a limit.

`vinculo up` runs one `Supervisor` over its `DevStack` (docs/operations.md,
"Supervision"): a service or the embedded broker that exits on its own is
restarted on the same ports after a backoff that doubles with each restart
in the window (`backoff_s`, 2x, 4x... at most `MAX_BACKOFF_S`). More than
`limit` restarts within `window_s` seconds mean it keeps crashing: `check`
then returns why, and the caller stops the stack and exits non-zero.

The broker is restarted too. It is memory-only, so it comes back empty: the
ingest outbox replays every acknowledged record into it (decision 11) and the
scoring service ignores repeats by event id, so nothing is lost or counted
twice. The scoring instances are stopped while it is down and started after it
(their consumer group does not recover on the embedded broker; with Kafka there
is no broker child).
A restarted service is not waited for here (the loop keeps watching the
others); if it dies while starting, that is one more restart.

Log lines name the process and its exit code, never an owner or contact.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from vinculo_apps.devstack.stack import DevStack, ServiceLaunch

log = logging.getLogger("vinculo.supervisor")

MAX_BACKOFF_S = 30.0
BROKER = "broker"
CONSUMER_MODULE = "scoring_service"
CONSUMER_STOP_S = 5.0  # SIGTERM, then SIGKILL: its state and offsets commit together


@dataclass(frozen=True)
class RestartPolicy:
    limit: int = 5  # restarts of one process within `window_s`; 0: never restart
    window_s: float = 300.0
    backoff_s: float = 1.0


class Supervisor:
    """Call `check()` every fraction of a second; None while all is well or recovering."""

    def __init__(
        self,
        stack: DevStack,
        policy: RestartPolicy,
        clock: Callable[[], float] = time.monotonic,
        after_broker_start: Callable[[], None] | None = None,
    ) -> None:
        """after_broker_start: run once a restarted broker listens, before the consumers
        start again (`vinculo up` creates the topics there, with their partition count)."""
        self.stack = stack
        self.policy = policy
        self._clock = clock
        self._after_broker_start = after_broker_start
        self._held: list[ServiceLaunch] = []  # consumers stopped until the broker is back
        self._history: dict[str, deque[float]] = {}  # label -> times of its restarts
        self._due: dict[str, float] = {}  # label -> when its pending restart happens
        self.restarts = 0

    def check(self) -> str | None:
        """Restart what is due; schedule what died; say why when one exceeded the limit."""
        now = self._clock()
        for label, why in self._dead():
            self._reap(label)  # exit_code() is None from here on: it is not seen twice
            failure = self._schedule(label, why, now)
            if failure is not None:
                return failure
        for label, due in list(self._due.items()):
            if due <= now:
                del self._due[label]
                failure = self._restart(label, now)
                if failure is not None:
                    return failure
        return None

    def _dead(self) -> list[tuple[str, str]]:
        found = [
            (service.label, f"exited with code {code}")
            for service in self.stack.services
            if (code := service.exit_code()) is not None
        ]
        broker = self.stack.broker
        if broker is not None and broker.process is not None:
            code = broker.process.poll()
            if code is not None:
                found.append((BROKER, f"exited with code {code}"))
        return found

    def _schedule(self, label: str, why: str, now: float) -> str | None:
        history = self._history.setdefault(label, deque())
        while history and history[0] <= now - self.policy.window_s:
            history.popleft()
        if len(history) >= self.policy.limit:
            return (
                f"{label} {why} after {len(history)} restarts within"
                f" {self.policy.window_s:.0f} s (limit {self.policy.limit}); it keeps crashing"
            )
        delay = min(self.policy.backoff_s * 2 ** len(history), MAX_BACKOFF_S)
        history.append(now)
        self._due[label] = now + delay
        log.warning(
            "%s %s; restart %d of %d within %.0f s, in %.1f s",
            label, why, len(history), self.policy.limit, self.policy.window_s, delay,
        )  # fmt: skip
        return None

    def _service(self, label: str) -> ServiceLaunch:
        return next(s for s in self.stack.services if s.label == label)

    def _reap(self, label: str) -> None:
        if label == BROKER:
            if self.stack.broker is not None:
                self.stack.broker.stop()  # reaps it, closes the relay; the port stays its own
            self._hold_consumers()
        else:
            self._service(label).stop()

    def _restart(self, label: str, now: float) -> str | None:
        """Start it again on its ports; a start that fails counts as one more crash."""
        self.restarts += 1
        try:
            if label == BROKER:
                if self.stack.broker is not None:
                    self.stack.broker.start()  # the same port: clients reconnect by themselves
                if self._after_broker_start is not None:
                    self._after_broker_start()
                log.info("broker restarted (empty: the ingest outbox replays into it)")
                self._release_consumers()
            else:
                self._service(label).spawn()  # the ports it bound first: clients find it again
                log.info("%s restarted", label)
        except (RuntimeError, TimeoutError, OSError) as exc:
            self._reap(label)
            return self._schedule(label, f"failed to start ({exc})", now)
        return None

    def _hold_consumers(self) -> None:
        """Stop the scoring instances while the broker is down; `_release_consumers`
        starts them once it is back and its topics exist. A running consumer asking
        about a topic before it is re-created makes the embedded broker create it with
        its own partition count (4). A consumer that meets a restarted broker does
        recover (vinculo/kafka_positions.py), but on that smaller topic. Not counted
        as crashes; their stores keep what they scored (decision 2)."""
        for service in self.stack.services:
            running = service.process is not None and service.exit_code() is None
            if service.module == CONSUMER_MODULE and running:
                service.stop(CONSUMER_STOP_S)
                self._held.append(service)

    def _release_consumers(self) -> None:
        held, self._held = self._held, []
        for service in held:
            service.spawn()
            log.info("%s restarted to rejoin its group on the new broker", service.label)

    @property
    def pending(self) -> list[str]:
        """Labels whose restart is scheduled but not done yet."""
        return sorted(self._due)
