"""The erasure parts of a scoring server: topic follower, listeners, servicer."""

from __future__ import annotations

from typing import Any

from scoring_service.erasure.eraser import Eraser
from scoring_service.erasure.follower import TombstoneFollower
from scoring_service.erasure.servicer import ErasureServicer
from scoring_service.erasure.tables import Erased
from scoring_service.network_cache import NetworkCache
from scoring_service.watch import WatchHub
from vinculo.erasure import Tombstone, digest
from vinculo.security.kafka import PLAINTEXT, KafkaSecurity


def start_follower(
    bootstrap: str, eraser: Eraser, security: KafkaSecurity = PLAINTEXT
) -> TombstoneFollower:
    """Reading the tombstone topic, before the consumer starts (it waits for it)."""
    follower = TombstoneFollower(bootstrap, eraser, security)
    follower.start()
    return follower


def start_erasure(
    bootstrap: str,
    eraser: Eraser,
    hub: WatchHub,
    cache: NetworkCache[Any],
    security: KafkaSecurity = PLAINTEXT,
) -> ErasureServicer:
    """Erasures drop the touched owners' cached networks and end their watch streams
    (and those of a forgotten person); the servicer answers the RPCs."""

    def on_erased(erased: Erased, tombstones: list[Tombstone]) -> None:
        owners = erased.owners
        cache.invalidate(owners)
        people = {t.owner for t in tombstones}
        hub.end_streams(lambda owner: owner in owners or digest(owner) in people)

    eraser.add_listener(on_erased)
    return ErasureServicer(eraser, bootstrap, security=security)
