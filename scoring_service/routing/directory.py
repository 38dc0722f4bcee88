"""Where each partition's owners are answered, and whether this instance can answer now.

A partition is *ready* here when this instance holds it and its stored offset
has reached the log end seen when it was assigned: until then its state is
behind the log (a partition that just moved is being caught up), and a read
would answer from an incomplete network. A partition is *elsewhere* when the
group's last assignment gave it to another instance. During a rebalance the
table is unknown; `locate` waits for it, up to a bound.
"""

from __future__ import annotations

import threading
import time
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
        self._ready: set[int] = set()
        self._rebalancing = True

    # --- fed by the consumer ---------------------------------------------------------

    def rebalance_started(self) -> None:
        with self._lock:
            self._rebalancing = True
            self._held.clear()
            self._ready.clear()
            self._targets.clear()

    def routes_assigned(self, routes: dict[int, str], generation: int) -> None:
        """The whole group's table, from the assignment (every member gets the same)."""
        with self._lock:
            self._routes = dict(routes)
            self._generation = generation
            self._lock.notify_all()

    def partitions_assigned(
        self, targets: dict[int, int], committed: dict[int, int], partitions: int | None = None
    ) -> None:
        """This instance's partitions with the log end each must reach, and where the
        store stands: those already there are ready at once. `partitions`: the topic's
        partition count as the broker reports it, which places the owners."""
        with self._lock:
            if partitions:
                self.partitions = partitions
            self._held = set(targets)
            self._targets = dict(targets)
            self._ready = {p for p, end in targets.items() if committed.get(p, 0) >= end}
            self._rebalancing = False
            self._lock.notify_all()

    def committed(self, offsets: dict[int, int]) -> None:
        """Next offsets now durable in the store."""
        with self._lock:
            newly = {
                p
                for p, offset in offsets.items()
                if p in self._held and p not in self._ready and offset >= self._targets[p]
            }
            if newly:
                self._ready |= newly
                self._lock.notify_all()

    # --- asked by the gRPC side ------------------------------------------------------

    def locate(self, owner_id: str, wait_s: float, here_only: bool = False) -> Location:
        """Where `owner_id` is answered: here (address None) once its partition is ready,
        or the holder's address; waits up to `wait_s` while the partition moves.
        `here_only`: a forwarded call, which must not be forwarded again."""
        partition = partition_of(owner_id, self.partitions)
        deadline = time.monotonic() + wait_s
        with self._lock:
            while True:
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
            return None
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
