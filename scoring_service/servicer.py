"""The ScoringService gRPC API: the read RPCs, and the watch stream handed on.

Reads see the last committed batch, at most `commit_interval_s` behind the
consumer. Networks are scored, cached and rendered by `read_networks`; the watch
stream is `watch_rpc`; the erasure RPCs are `erasure/servicer.py`. Reads "as of
now" share a scored network per owner for a few seconds (a read that arrives while
the owner is being rescored gets the dropped one, for at most
`VINCULO_SCORING_CACHE_STALE` after the commit: decision 15).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import grpc

from scoring_service.instants import BadInstant
from scoring_service.network_cache import NetworkCache
from scoring_service.pagination import (
    BadRequest,
    ListQuery,
    PageToken,
    after_token,
    parse_list_request,
)
from scoring_service.read_networks import (
    MAX_RENDERED_ROWS,
    SCORING_SLOTS,
    ReadNetworks,
    requested_as_of,
)
from scoring_service.rpc_status import fail, require_id
from scoring_service.scored_network import ScoredNetwork
from scoring_service.scorer import Scorer
from scoring_service.signals import network_figures, summary_response
from scoring_service.store import StateStore
from scoring_service.watch import WatchHub
from scoring_service.watch_rpc import WatchStreams
from vinculo.v1 import scoring_pb2 as pb
from vinculo.v1 import scoring_pb2_grpc


class Suggester(Protocol):
    """The hook for SuggestActions (scoring_service.suggestions provides one)."""

    def __call__(
        self, request: pb.SuggestActionsRequest, network: ScoredNetwork, scorer: Scorer
    ) -> pb.SuggestActionsResponse: ...


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
        waiting for a slot (the service passes `read_networks.UNSLOTTED_ROWS`)."""
        self._reads = ReadNetworks(store, scorer, clock, cache, scoring_slots, unslotted_rows)
        self._store = store
        self._scorer = scorer
        self._suggester = suggester
        self.watches = WatchStreams(hub, store, scorer, clock)

    def GetRelationship(
        self, request: pb.GetRelationshipRequest, context: grpc.ServicerContext
    ) -> pb.GetRelationshipResponse:
        require_id(context, request.owner_id, "owner_id")
        require_id(context, request.contact_id, "contact_id")
        reads = self._reads
        as_of = requested_as_of(request, context)
        if as_of is None and reads.cache.enabled:
            # Now: the row of the cached scored network, exactly as List gives it. A
            # miss scores the whole network (~2x one row's cost) for the reads after it.
            network = reads.scored(context, request.owner_id, None, "owner_id: unknown {!r}")
            row = _row_of(context, network.contacts, request)
            return pb.GetRelationshipResponse(
                relationship=reads.relationships(network, [row])[0],
                model_version=self._scorer.version,
            )
        # A score reads the owner's whole network (owner-relative features), so the
        # relationship is scored with its network's context, as ListRelationships does.
        contacts, all_states = reads.owner_states(context, request.owner_id, as_of)
        if not contacts:
            fail(context, grpc.StatusCode.NOT_FOUND, f"owner_id: unknown {request.owner_id!r}")
        row = _row_of(context, contacts, request)
        as_of = reads.clock() if as_of is None else as_of
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
            relationship=reads.relationships(network, [0])[0],
            model_version=self._scorer.version,
        )

    def ListRelationships(
        self, request: pb.ListRelationshipsRequest, context: grpc.ServicerContext
    ) -> pb.ListRelationshipsResponse:
        try:
            query = parse_list_request(request, self._reads.as_of(request, context))
        except (BadRequest, BadInstant) as exc:
            fail(context, grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        network = self._list_network(context, request, query.as_of)
        if query.after is not None:
            return self._page(request, query, network)
        # A first page of a network is the same message every time it is asked for:
        # kept with the network, a dashboard's repeated read renders nothing (37 ->
        # a few µs per call at 1k relationships; at c32 every µs of GIL counts).
        # Computed once (`ScoredNetwork.once`): eight readers of a network that just
        # changed ranked and explained the same first page eight times.
        key = ("first page", query.weakest_first, query.tiers, query.page_size)
        if key not in network.memo and len(network.memo) >= MAX_RENDERED_ROWS:
            return self._page(request, query, network)  # not kept: the network holds enough
        page: pb.ListRelationshipsResponse = network.once(
            key, lambda: self._page(request, query, network)
        )
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
            relationships=self._reads.relationships(network, page),
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
            return self._reads.scored(context, request.owner_id, None)
        cached = self._reads.cache.peek(request.owner_id)
        if cached is not None and cached.as_of == as_of:
            return cached
        return self._reads.network(context, request.owner_id, as_of)

    def GetNetworkSummary(
        self, request: pb.GetNetworkSummaryRequest, context: grpc.ServicerContext
    ) -> pb.GetNetworkSummaryResponse:
        require_id(context, request.owner_id, "owner_id")
        as_of = requested_as_of(request, context)
        network = self._reads.scored(context, request.owner_id, as_of)

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
            fail(context, grpc.StatusCode.UNIMPLEMENTED, "SuggestActions: no suggester configured")
        require_id(context, request.owner_id, "owner_id")
        as_of = requested_as_of(request, context)
        network = self._reads.scored(context, request.owner_id, as_of)
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
        return self.watches.stream(request, context)


def _row_of(
    context: grpc.ServicerContext, contacts: list[str], request: pb.GetRelationshipRequest
) -> int:
    row = bisect.bisect_left(contacts, request.contact_id)  # contacts come sorted
    if row == len(contacts) or contacts[row] != request.contact_id:
        fail(
            context,
            grpc.StatusCode.NOT_FOUND,
            f"contact_id: {request.contact_id!r} is not in {request.owner_id!r}'s network",
        )
    return row
