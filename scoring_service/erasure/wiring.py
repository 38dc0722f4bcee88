"""The erasure parts of a scoring server: servicer, topic follower, listeners."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scoring_service.erasure.eraser import Eraser
from scoring_service.erasure.follower import TombstoneFollower
from scoring_service.erasure.servicer import ErasureServicer
from scoring_service.erasure.tables import Erased
from scoring_service.network_cache import NetworkCache
from scoring_service.watch import WatchHub
from vinculo.erasure import Tombstone, digest


@dataclass
class ErasureParts:
    servicer: ErasureServicer
    follower: TombstoneFollower

    def close(self) -> None:
        self.follower.stop()
        self.servicer.close()


def start_follower(bootstrap: str, eraser: Eraser) -> TombstoneFollower:
    """Reading the tombstone topic, before the consumer starts (it waits for it)."""
    follower = TombstoneFollower(bootstrap, eraser)
    follower.start()
    return follower


def start_erasure(
    bootstrap: str,
    eraser: Eraser,
    follower: TombstoneFollower,
    hub: WatchHub,
    cache: NetworkCache[Any],
) -> ErasureParts:
    """Erasures drop the touched owners' cached networks and end their watch streams
    (and those of a forgotten person); the servicer answers the RPCs."""

    def on_erased(erased: Erased, tombstones: list[Tombstone]) -> None:
        owners = erased.owners
        cache.invalidate(owners)
        people = {t.owner for t in tombstones}
        hub.end_streams(lambda owner: owner in owners or digest(owner) in people)

    eraser.add_listener(on_erased)
    return ErasureParts(ErasureServicer(eraser, bootstrap), follower)
