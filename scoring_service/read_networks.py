"""An owner's network scored for a read: the instant asked for, the cache, the slots.

Every read loads one owner's state rows into an (n, STATE_SIZE) array and scores
them in one call to the model, at the requested instant (decay is applied at read
time, decision 3 (docs/decisions/)). Reads "as of now" (`as_of` unset) share a
scored network per owner for a few seconds (`network_cache`), dropped as soon as a
commit changes the owner's state (decision 15). Rows are rendered as
`Relationship` messages once per scored network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import grpc
import numpy as np
import numpy.typing as npt

from scoring_service.features.state import FloatArray
from scoring_service.history import HistoryMissing
from scoring_service.instants import BadInstant, checked_seconds
from scoring_service.integrity import DamagedState
from scoring_service.network_cache import NetworkCache
from scoring_service.profiles import Profile
from scoring_service.rpc_status import fail
from scoring_service.scored_network import OwnerStates, ScoredNetwork, network_cache
from scoring_service.scorer import Scorer, score_network
from scoring_service.signals import signals_for
from scoring_service.store import StateStore
from vinculo.v1 import scoring_pb2 as pb

# Rendered rows (explanation, trend, signals) kept per scored network, at most:
# a cached network serves its top rows again and again.
MAX_RENDERED_ROWS = 1000
# Whole networks scored at once by reads. The scoring is numpy in small blocks that
# hold the GIL between them, so two at once finish no sooner than one after the other,
# while each one more takes GIL turns from the consumer thread (issue 22.9: reads must
# not starve it). One at a time: the consumer competes with one reader, not eight.
SCORING_SLOTS = 1
# Networks this small are scored without a slot: ~1 ms of numpy, shorter than the GIL's
# switch interval, so they cannot starve the consumer, and a small owner's read (the
# freshness a user sees) does not queue behind a 30k owner's scoring (issue 22.9).
UNSLOTTED_ROWS = 2048
NO_RELATIONSHIPS = "owner_id: no relationships of {!r}"


def requested_as_of(request: object, context: grpc.ServicerContext) -> float | None:
    """The request's `as_of` in seconds; None when unset (now)."""
    stamp = getattr(request, "as_of", None)
    if stamp is not None and request.HasField("as_of"):  # type: ignore[attr-defined]
        try:
            return checked_seconds(stamp, "as_of")
        except BadInstant as exc:
            fail(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
    return None


def _profile_fields(profile: Profile | None) -> dict[str, str]:
    if profile is None:
        return {}
    (name, _), (company, _), (position, _) = profile
    return {"contact_name": name, "contact_company": company, "contact_position": position}


class ReadNetworks:
    """Owners' networks scored for reads, and their rows rendered."""

    def __init__(
        self,
        store: StateStore,
        scorer: Scorer,
        clock: Callable[[], float] = time.time,
        cache: NetworkCache[ScoredNetwork] | None = None,
        scoring_slots: int = SCORING_SLOTS,
        unslotted_rows: int = 0,
    ) -> None:
        """`unslotted_rows`: networks of at most this many rows are scored without
        waiting for a slot (the service passes `UNSLOTTED_ROWS`)."""
        self.store = store
        self.scorer = scorer
        self.clock = clock
        self.cache = network_cache() if cache is None else cache
        self._scoring_slots = threading.BoundedSemaphore(scoring_slots)
        # Large networks are scored on threads of their own, not on whichever gRPC thread
        # serves the read: their ~50 MB of numpy temporaries are then reused from one
        # malloc arena read after read instead of being faulted in afresh (and kept) in
        # every gRPC thread's arena (server.py keeps up to 8 MiB of freed memory per arena).
        self._scoring_threads = ThreadPoolExecutor(scoring_slots, "read-scoring")
        self._unslotted_rows = unslotted_rows
        store.add_commit_listener(self.cache.invalidate)

    def as_of(self, request: object, context: grpc.ServicerContext) -> float:
        """The request's instant: its `as_of`, or now."""
        as_of = requested_as_of(request, context)
        return self.clock() if as_of is None else as_of

    def scored(
        self,
        context: grpc.ServicerContext,
        owner_id: str,
        as_of: float | None,
        missing: str = NO_RELATIONSHIPS,
    ) -> ScoredNetwork:
        """The owner's network scored at `as_of`; None means now, from the cache when fresh."""
        if as_of is not None:
            return self.network(context, owner_id, as_of, missing)
        return self.cache.get_or_compute_from(
            owner_id, lambda base: self.network(context, owner_id, self.clock(), missing, base)
        )

    def network(
        self,
        context: grpc.ServicerContext,
        owner_id: str,
        as_of: float,
        missing: str = NO_RELATIONSHIPS,
        base: OwnerStates | None = None,
    ) -> ScoredNetwork:
        """`base`: the owner's committed states carried forward by the cache, if any."""
        if base is None:
            contacts, states = self.owner_states(context, owner_id, as_of)
        else:
            contacts, states = base
        if not contacts:
            fail(context, grpc.StatusCode.NOT_FOUND, missing.format(owner_id))
        # Feature-major memory (the same values): the model reads states column by
        # column, so its transposes become plain copies (~20% of the CPU of scoring
        # 30k rows, measured), and the network carried forward keeps this layout.
        states = np.asfortranarray(states)
        if len(contacts) <= self._unslotted_rows:
            context, scores, tiers = self._score(states, as_of)
        else:  # whole large networks one at a time: the consumer keeps a core
            with self._scoring_slots:
                scoring = self._scoring_threads.submit(self._score, states, as_of)
                context, scores, tiers = scoring.result()
        return ScoredNetwork(owner_id, contacts, states, scores, tiers, as_of, context)

    def _score(
        self, states: FloatArray, as_of: float
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.integer]]:
        context, scores = score_network(self.scorer, states, as_of)
        return context, scores, self.scorer.tiers(scores, states)

    def owner_states(
        self, context: grpc.ServicerContext, owner_id: str, as_of: float | None = None
    ) -> OwnerStates:
        """The owner's states as they stood at `as_of` (only events at or before it),
        the committed ones when None; damaged stored rows answer DATA_LOSS."""
        try:
            if as_of is None:
                return self.store.owner_states(owner_id)
            return self.store.owner_states_as_of(owner_id, as_of)
        except HistoryMissing as exc:
            fail(context, grpc.StatusCode.FAILED_PRECONDITION, f"as_of: {exc}")
        except DamagedState as exc:
            fail(context, grpc.StatusCode.DATA_LOSS, f"owner_id {owner_id!r}: {exc}")

    def relationships(self, network: ScoredNetwork, rows: list[int]) -> list[pb.Relationship]:
        """The rows rendered; a row rendered before for this network is reused (the
        response copies it, so the stored message is never changed)."""
        memo = network.memo
        todo = [row for row in rows if ("row", row) not in memo]
        if not todo:
            return [memo[("row", row)] for row in rows]
        rendered = self._render(network, todo)
        if len(memo) < MAX_RENDERED_ROWS:
            memo.update({("row", row): rel for row, rel in rendered.items()})
        return [rendered[row] if row in rendered else memo[("row", row)] for row in rows]

    def _render(self, network: ScoredNetwork, rows: list[int]) -> dict[int, pb.Relationship]:
        states = network.states[rows]
        context = None if network.context is None else network.context[rows]
        explanations = self.scorer.explain(states, network.as_of, context)
        trends = self.scorer.trend(states, network.as_of)
        known = self.store.profiles(network.owner_id, (network.contacts[r] for r in rows))
        return {
            row: pb.Relationship(
                owner_id=network.owner_id,
                contact_id=network.contacts[row],
                **_profile_fields(known.get(network.contacts[row])),
                score=float(network.scores[row]),
                tier=int(network.tiers[row]),  # type: ignore[arg-type]
                signals=signals_for(network.states[row]),
                explanation=explanations[i],
                trend=int(trends[i]),  # type: ignore[arg-type]
            )
            for i, row in enumerate(rows)
        }
