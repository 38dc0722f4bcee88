"""The ScoringService gRPC API over the state store and the model.

Every read loads one owner's state rows into an (n, STATE_SIZE) array and
scores them in one call to the model, at the requested instant (decay is
applied at read time, decision 3 (docs/decisions/)). Reads see the last committed
batch, at most `commit_interval_s` behind the consumer. Reads "as of now"
(`as_of` unset) share a scored network per owner for a few seconds
(`network_cache`), dropped as soon as a commit changes the owner's state (a read
that arrives while the owner is being rescored gets the dropped one, for at most
`VINCULO_SCORING_CACHE_STALE` after the commit: decision 15).
"""

from __future__ import annotations

import bisect
import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import NoReturn, Protocol

import grpc
import numpy as np

from scoring_service.history import HistoryMissing
from scoring_service.instants import BadInstant, checked_seconds
from scoring_service.integrity import DamagedState
from scoring_service.network_cache import NetworkCache
from scoring_service.pagination import (
    BadRequest,
    ListQuery,
    PageToken,
    after_token,
    parse_list_request,
)
from scoring_service.profiles import Profile
from scoring_service.scored_network import OwnerStates, ScoredNetwork, network_cache
from scoring_service.scorer import Scorer, score_network
from scoring_service.signals import network_figures, signals_for, summary_response
from scoring_service.store import StateStore
from scoring_service.watch import End, OwnerChanges, TooManyWatchers, WatchHub
from scoring_service.watch_scores import watch_messages, watch_scores
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc

DEFAULT_MIN_SCORE_CHANGE = 0.01
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


class Suggester(Protocol):
    """The hook for SuggestActions (scoring_service.suggestions provides one)."""

    def __call__(
        self, request: pb.SuggestActionsRequest, network: ScoredNetwork, scorer: Scorer
    ) -> pb.SuggestActionsResponse: ...


def _fail(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    context.abort(code, message)
    raise AssertionError("context.abort returned")  # abort always raises


def _require_id(context: grpc.ServicerContext, value: str, name: str) -> None:
    if not value:
        _fail(context, grpc.StatusCode.INVALID_ARGUMENT, f"{name}: required")


def _profile_fields(profile: Profile | None) -> dict[str, str]:
    if profile is None:
        return {}
    (name, _), (company, _), (position, _) = profile
    return {"contact_name": name, "contact_company": company, "contact_position": position}


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    def __init__(
        self,
        store: StateStore,
        scorer: Scorer,
        hub: WatchHub,
        suggester: Suggester | None = None,
        clock: Callable[[], float] = time.time,
        cache: NetworkCache[ScoredNetwork] | None = None,
        scoring_slots: int = SCORING_SLOTS,
        unslotted_rows: int = 0,
    ) -> None:
        """`unslotted_rows`: networks of at most this many rows are scored without
        waiting for a slot (the service passes `UNSLOTTED_ROWS`)."""
        self._store = store
        self._scoring_slots = threading.BoundedSemaphore(scoring_slots)
        self._unslotted_rows = unslotted_rows
        self._scorer = scorer
        self._hub = hub
        self._suggester = suggester
        self._clock = clock
        self._cache = network_cache() if cache is None else cache
        store.add_commit_listener(self._cache.invalidate)

    # --- helpers -------------------------------------------------------------------

    def _as_of(self, request: object, context: grpc.ServicerContext) -> float:
        as_of = self._requested_as_of(request, context)
        return self._clock() if as_of is None else as_of

    @staticmethod
    def _requested_as_of(request: object, context: grpc.ServicerContext) -> float | None:
        stamp = getattr(request, "as_of", None)
        if stamp is not None and request.HasField("as_of"):  # type: ignore[attr-defined]
            try:
                return checked_seconds(stamp, "as_of")
            except BadInstant as exc:
                _fail(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return None

    def _scored(
        self,
        context: grpc.ServicerContext,
        owner_id: str,
        as_of: float | None,
        missing: str = "owner_id: no relationships of {!r}",
    ) -> ScoredNetwork:
        """The owner's network scored at `as_of`; None means now, from the cache when fresh."""
        if as_of is not None:
            return self._network(context, owner_id, as_of, missing)
        return self._cache.get_or_compute_from(
            owner_id, lambda base: self._network(context, owner_id, self._clock(), missing, base)
        )

    def _network(
        self,
        context: grpc.ServicerContext,
        owner_id: str,
        as_of: float,
        missing: str = "owner_id: no relationships of {!r}",
        base: OwnerStates | None = None,
    ) -> ScoredNetwork:
        """`base`: the owner's committed states carried forward by the cache, if any."""
        if base is None:
            contacts, states = self._owner_states(context, owner_id, as_of)
        else:
            contacts, states = base
        if not contacts:
            _fail(context, grpc.StatusCode.NOT_FOUND, missing.format(owner_id))
        # Feature-major memory (the same values): the model reads states column by
        # column, so its transposes become plain copies (~20% of the CPU of scoring
        # 30k rows, measured), and the network carried forward keeps this layout.
        states = np.asfortranarray(states)
        small = len(contacts) <= self._unslotted_rows
        # Whole large networks one at a time: the consumer keeps a core.
        with contextlib.nullcontext() if small else self._scoring_slots:
            context, scores = score_network(self._scorer, states, as_of)
            tiers = self._scorer.tiers(scores, states)
        return ScoredNetwork(owner_id, contacts, states, scores, tiers, as_of, context)

    def _owner_states(
        self, context: grpc.ServicerContext, owner_id: str, as_of: float | None = None
    ) -> OwnerStates:
        """The owner's states as they stood at `as_of` (only events at or before it),
        the committed ones when None; damaged stored rows answer DATA_LOSS."""
        try:
            if as_of is None:
                return self._store.owner_states(owner_id)
            return self._store.owner_states_as_of(owner_id, as_of)
        except HistoryMissing as exc:
            _fail(context, grpc.StatusCode.FAILED_PRECONDITION, f"as_of: {exc}")
        except DamagedState as exc:
            _fail(context, grpc.StatusCode.DATA_LOSS, f"owner_id {owner_id!r}: {exc}")

    def _relationships(self, network: ScoredNetwork, rows: list[int]) -> list[pb.Relationship]:
        """The rows rendered; a row rendered before for this network is reused (the
        response copies it, so the stored message is never changed)."""
        memo = network.memo
        todo = [row for row in rows if ("row", row) not in memo]
        if todo:
            states = network.states[todo]
            context = None if network.context is None else network.context[todo]
            explanations = self._scorer.explain(states, network.as_of, context)
            trends = self._scorer.trend(states, network.as_of)
            known = self._store.profiles(network.owner_id, (network.contacts[r] for r in todo))
            rendered = {
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
                for i, row in enumerate(todo)
            }
            if len(memo) < MAX_RENDERED_ROWS:
                memo.update({("row", row): rel for row, rel in rendered.items()})
            return [rendered[row] if row in rendered else memo[("row", row)] for row in rows]
        return [memo[("row", row)] for row in rows]

    # --- RPCs ----------------------------------------------------------------------

    def GetRelationship(
        self, request: pb.GetRelationshipRequest, context: grpc.ServicerContext
    ) -> pb.GetRelationshipResponse:
        _require_id(context, request.owner_id, "owner_id")
        _require_id(context, request.contact_id, "contact_id")
        as_of = self._requested_as_of(request, context)
        if as_of is None and self._cache.enabled:
            # Now: the row of the cached scored network, exactly as List gives it. A
            # miss scores the whole network (~2x one row's cost) for the reads after it.
            network = self._scored(context, request.owner_id, None, "owner_id: unknown {!r}")
            row = self._row_of(context, network.contacts, request)
            return pb.GetRelationshipResponse(
                relationship=self._relationships(network, [row])[0],
                model_version=self._scorer.version,
            )
        # A score reads the owner's whole network (owner-relative features), so the
        # relationship is scored with its network's context, as ListRelationships does.
        if as_of is None:
            contacts, all_states = self._owner_states(context, request.owner_id)
        else:
            contacts, all_states = self._owner_states(context, request.owner_id, as_of)
        if not contacts:
            _fail(context, grpc.StatusCode.NOT_FOUND, f"owner_id: unknown {request.owner_id!r}")
        row = self._row_of(context, contacts, request)
        as_of = self._clock() if as_of is None else as_of
        owner_context = self._scorer.owner_context(all_states, as_of)
        states, row_context = all_states[row : row + 1], owner_context[row : row + 1]
        scores = self._scorer.score(states, as_of, row_context)
        network = ScoredNetwork(
            request.owner_id,
            [request.contact_id],
            states,
            scores,
            self._scorer.tiers(scores, states),
            as_of,
            row_context,
        )
        return pb.GetRelationshipResponse(
            relationship=self._relationships(network, [0])[0],
            model_version=self._scorer.version,
        )

    @staticmethod
    def _row_of(
        context: grpc.ServicerContext, contacts: list[str], request: pb.GetRelationshipRequest
    ) -> int:
        row = bisect.bisect_left(contacts, request.contact_id)  # contacts come sorted
        if row == len(contacts) or contacts[row] != request.contact_id:
            _fail(
                context,
                grpc.StatusCode.NOT_FOUND,
                f"contact_id: {request.contact_id!r} is not in {request.owner_id!r}'s network",
            )
        return row

    def ListRelationships(
        self, request: pb.ListRelationshipsRequest, context: grpc.ServicerContext
    ) -> pb.ListRelationshipsResponse:
        try:
            query = parse_list_request(request, self._as_of(request, context))
        except (BadRequest, BadInstant) as exc:
            _fail(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        network = self._list_network(context, request, query.as_of)
        if query.after is not None:
            return self._page(request, query, network)
        # A first page of a network is the same message every time it is asked for:
        # kept with the network, a dashboard's repeated read renders nothing (37 ->
        # a few µs per call at 1k relationships; at c32 every µs of GIL counts).
        key = ("first page", query.weakest_first, query.tiers, query.page_size)
        page: pb.ListRelationshipsResponse | None = network.memo.get(key)
        if page is None:
            page = self._page(request, query, network)
            if len(network.memo) < MAX_RENDERED_ROWS:
                network.memo[key] = page
        return page

    def _page(
        self, request: pb.ListRelationshipsRequest, query: ListQuery, network: ScoredNetwork
    ) -> pb.ListRelationshipsResponse:
        if query.after is None:  # a first page: only its rows are ranked
            page, total = network.top(query.weakest_first, query.tiers, query.page_size)
            more = total > len(page)
        else:
            order = network.order(query.weakest_first, query.tiers)
            total = len(order)
            order = after_token(order, network.scores, network.contacts, query.after)
            page = order[: query.page_size]
            more = len(order) > len(page)
        next_token = ""
        if more:
            last = page[-1]
            next_token = PageToken(
                owner_id=request.owner_id,
                as_of=network.as_of,
                weakest_first=query.weakest_first,
                tiers=query.tiers,
                last_score=float(network.scores[last]),
                last_contact=network.contacts[last],
            ).encode()
        return pb.ListRelationshipsResponse(
            relationships=self._relationships(network, page),
            next_page_token=next_token,
            total_size=total,
            model_version=self._scorer.version,
        )

    def _list_network(
        self, context: grpc.ServicerContext, request: pb.ListRelationshipsRequest, as_of: float
    ) -> ScoredNetwork:
        """A first page as of now comes from the cache; a later page too while the
        cached network is the one its token was issued from (same `as_of`)."""
        if not request.page_token and not request.HasField("as_of"):
            return self._scored(context, request.owner_id, None)
        cached = self._cache.peek(request.owner_id)
        if cached is not None and cached.as_of == as_of:
            return cached
        return self._network(context, request.owner_id, as_of)

    def GetNetworkSummary(
        self, request: pb.GetNetworkSummaryRequest, context: grpc.ServicerContext
    ) -> pb.GetNetworkSummaryResponse:
        _require_id(context, request.owner_id, "owner_id")
        network = self._scored(context, request.owner_id, self._requested_as_of(request, context))

        def compute() -> pb.GetNetworkSummaryResponse:
            figures = network_figures(network.states, network.tiers)
            return summary_response(request.owner_id, figures, self._scorer.version)

        # The same answer for every read of this scored network.
        summary: pb.GetNetworkSummaryResponse = network.once("summary", compute)
        return summary

    def SuggestActions(
        self, request: pb.SuggestActionsRequest, context: grpc.ServicerContext
    ) -> pb.SuggestActionsResponse:
        if self._suggester is None:
            _fail(context, grpc.StatusCode.UNIMPLEMENTED, "SuggestActions: no suggester configured")
        _require_id(context, request.owner_id, "owner_id")
        network = self._scored(context, request.owner_id, self._requested_as_of(request, context))
        # The answer depends on the network and the request only: kept with the network
        # (a commit that changes the owner's states or names drops the network).
        key = ("suggest", tuple(request.kinds), request.limit_per_kind)
        suggester = self._suggester

        def compute() -> pb.SuggestActionsResponse:
            response = suggester(request, network, self._scorer)
            contacts = {s.contact_id for s in response.suggestions}
            known = self._store.profiles(request.owner_id, contacts)
            for suggestion in response.suggestions:
                if suggestion.contact_id in known:
                    suggestion.contact_name = known[suggestion.contact_id][0][0]
            return response

        if key not in network.memo and len(network.memo) >= MAX_RENDERED_ROWS:
            return compute()  # not kept: the network holds enough already
        response: pb.SuggestActionsResponse = network.once(key, compute)
        return response

    def WatchRelationships(
        self, request: pb.WatchRelationshipsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchRelationshipsResponse]:
        # An owner without relationships yet may be watched: the stream reports
        # their first relationships as they arrive, hence no NOT_FOUND here.
        _require_id(context, request.owner_id, "owner_id")
        threshold = request.min_score_change
        if math.isnan(threshold) or threshold < 0 or threshold > 1:
            _fail(context, grpc.StatusCode.INVALID_ARGUMENT, "min_score_change: must be in [0, 1]")
        threshold = threshold or DEFAULT_MIN_SCORE_CHANGE
        try:
            watcher = self._hub.subscribe(request.owner_id)
        except TooManyWatchers as exc:
            _fail(context, grpc.StatusCode.RESOURCE_EXHAUSTED, f"WatchRelationships: {exc}")
        # The stream sleeps on its queue (no polling): the client going away ends it too.
        context.add_callback(lambda: watcher.end(End.CANCELLED))
        try:
            while context.is_active():
                changes = watcher.changes.get()
                if changes is End.OVERFLOWED:
                    _fail(
                        context,
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        "WatchRelationships: the client fell behind; watch again",
                    )
                if isinstance(changes, End):
                    return  # server shutting down, or the client left
                yield from self._watch_responses(changes, threshold)
        finally:
            self._hub.unsubscribe(watcher)

    def _watch_responses(
        self, changes: OwnerChanges, threshold: float
    ) -> tuple[pb.WatchRelationshipsResponse, ...]:
        """The changes' responses for `threshold`: built by the first stream of the owner
        that asks and shared by the others (scored once per commit, not per stream)."""
        with changes.lock:
            responses: tuple[pb.WatchRelationshipsResponse, ...] | None = changes.derived.get(
                ("responses", threshold)
            )
            if responses is None:
                scored = changes.derived.get("scored")
                if scored is None:
                    scored = changes.derived["scored"] = watch_scores(
                        changes, self._store, self._scorer, self._clock()
                    )
                responses = changes.derived["responses", threshold] = watch_messages(
                    changes, scored, threshold
                )
        return responses
