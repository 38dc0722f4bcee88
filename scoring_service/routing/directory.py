"""Where each partition's owners are answered, and whether this instance can answer now.

A partition is *ready* here when this instance holds it and its stored offset
has reached the log end seen when it was assigned: until then its state is
behind the log (a partition that just moved is being caught up), and a read
would answer from an incomplete network. A partition is *elsewhere* when the
group's last assignment gave it to another instance. During a rebalance the
table is unknown; `locate` waits for it, up to a bound.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from vinculo.partitioning import partition_of


class PartitionUnavailable(RuntimeError):
    """The owner's partition has no ready holder within the wait; the message says why."""


@dataclass(frozen=True, slots=True)
class Location:
    partition: int
    address: str | None  # None: answered here


class PartitionDirectory:
    def __init__(self, partitions: int, own_address: str) -> None:
        self.partitions = partitions
        self.own_address = own_address
        self._lock = threading.Condition()
        self._routes: dict[int, str] = {}
        self._generation = -1
        self._held: set[int] = set()
        self._targets: dict[int, int] = {}  # partition -> log end to reach before serving
        self._committed: dict[int, int] = {}
        self._ready: set[int] = set()
        self._rebalancing = True
        self._listeners: list[Callable[[bool], None]] = []
        self._served_before: set[int] = set()
        self._was_ready = False
        self._left = False  # stopping: answers nothing any more (`left_group`)

    def on_readiness(self, listener: Callable[[bool], None]) -> None:
        """Called with `is_ready()` whenever it changes (the health status follows it)."""
        self._listeners.append(listener)

    def _changed(self) -> None:
        """Under the lock, after any change: wake waiting calls, tell the listeners."""
        self._lock.notify_all()
        ready = not self._rebalancing and self._held <= self._ready
        if ready != self._was_ready:
            self._was_ready = ready
            for listener in self._listeners:
                listener(ready)

    # --- fed by the consumer ---------------------------------------------------------

    def rebalance_started(self) -> None:
        with self._lock:
            self._rebalancing = True
            # Until the new assignment, what was served here still is (a read slightly
            # behind beats none: the group may be waiting for a broker to come back).
            self._served_before = set(self._ready)
            self._held.clear()
            self._ready.clear()
            self._targets.clear()
            self._committed.clear()
            self._changed()

    def left_group(self) -> None:
        """A clean stop, before the consumer leaves the group: from then on this instance
        answers no partition here (the next holder may be consuming it already, so this
        store falls behind); calls answer UNAVAILABLE at once, to be retried elsewhere."""
        with self._lock:
            self._left = True
            self._rebalancing = True
            self._served_before = set()
            self._held.clear()
            self._ready.clear()
            self._targets.clear()
            self._committed.clear()
            self._changed()

    def routes_assigned(self, routes: dict[int, str], generation: int) -> None:
        """The whole group's table, from the assignment (every member gets the same)."""
        with self._lock:
            self._routes = dict(routes)
            self._generation = generation
            self._changed()

    def partitions_assigned(self, committed: dict[int, int], partitions: int | None = None) -> None:
        """This instance's partitions and where the store stands in each; each serves
        once its log end is known (`log_end`) and the store has reached it.
        `partitions`: the topic's partition count, which places the owners."""
        with self._lock:
            if partitions:
                self.partitions = partitions
            self._held = set(committed)
            self._committed = dict(committed)
            self._targets.clear()
            self._ready.clear()
            self._served_before.clear()
            self._rebalancing = False
            self._changed()

    def log_end(self, partition: int, end: int) -> None:
        """The log end of a held partition when it was assigned: the offset to reach."""
        with self._lock:
            if partition not in self._held:
                return
            self._targets[partition] = end
            if self._committed.get(partition, 0) >= end:
                self._ready.add(partition)
                self._changed()

    def committed(self, offsets: dict[int, int]) -> None:
        """Next offsets now durable in the store."""
        with self._lock:
            self._committed.update(offsets)
            newly = {
                p
                for p in offsets
                if p in self._targets and p not in self._ready and offsets[p] >= self._targets[p]
            }
            if newly:
                self._ready |= newly
                self._changed()

    # --- asked by the gRPC side ------------------------------------------------------

    def locate(self, owner_id: str, wait_s: float, here_only: bool = False) -> Location:
        """Where `owner_id` is answered: here (address None) once its partition is ready,
        or the holder's address; waits up to `wait_s` while the partition moves.
        `here_only`: a forwarded call, which must not be forwarded again."""
        partition = partition_of(owner_id, self.partitions)
        deadline = time.monotonic() + wait_s
        with self._lock:
            while True:
                if self._left:
                    raise PartitionUnavailable("this scoring instance is stopping")
                found = self._where(partition)
                if found is not None and not (here_only and found.address is not None):
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PartitionUnavailable(self._why(partition))
                self._lock.wait(left)

    def is_ready(self) -> bool:
        """Every partition this instance holds has caught up (and the group has settled)."""
        with self._lock:
            return not self._rebalancing and self._held <= self._ready

    def snapshot(self) -> tuple[int, dict[int, str], set[int], set[int]]:
        with self._lock:
            return self._generation, dict(self._routes), set(self._held), set(self._ready)

    def _where(self, partition: int) -> Location | None:
        if self._rebalancing:
            return Location(partition, None) if partition in self._served_before else None
        if partition in self._ready:
            return Location(partition, None)
        if partition in self._held:
            return None  # ours, still catching up
        address = self._routes.get(partition)
        if address is None or address == self.own_address:
            return None  # the table is older than our assignment
        return Location(partition, address)

    def _why(self, partition: int) -> str:
        holder = self._routes.get(partition)
        if self._rebalancing:
            return f"partition {partition} is moving between scoring instances (rebalance)"
        if partition in self._held:
            return f"partition {partition} is catching up with its log on this instance"
        if holder and holder != self.own_address:
            return f"partition {partition} moved while the call was forwarded"
        return f"partition {partition} has no scoring instance yet"


WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


def default_advertised_address(grpc_host: str, port: int) -> str:
    """Where the other instances reach this one when VINCULO_SCORING_ADVERTISED_ADDRESS
    is empty: the gRPC host, or, when it binds every interface, the address this
    machine's name resolves to (a container's own address: Docker writes it into the
    container's /etc/hosts), so that replicas of one image each advertise their own."""
    if grpc_host not in WILDCARD_HOSTS:
        return f"{grpc_host}:{port}"
    address = socket.gethostbyname(socket.gethostname())
    return f"{address}:{port}"
