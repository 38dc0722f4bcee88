"""WatchRelationships: an owner's committed changes as a stream, scored once per commit.

A stream sleeps on its queue (`watch.WatchHub`), with no polling; the client going
away, the server stopping or the client falling behind ends it. The responses for
one commit are built by the first stream of the owner that asks for them and shared
by the others with the same threshold.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import grpc

from scoring_service.rpc_status import fail, require_id
from scoring_service.scorer import Scorer
from scoring_service.store import StateStore
from scoring_service.watch import End, OwnerChanges, TooManyWatchers, WatchHub
from scoring_service.watch_scores import watch_messages, watch_scores
from vinculo.v1 import scoring_pb2 as pb

DEFAULT_MIN_SCORE_CHANGE = 0.01


class WatchStreams:
    def __init__(
        self,
        hub: WatchHub,
        store: StateStore,
        scorer: Scorer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._hub = hub
        self._store = store
        self._scorer = scorer
        self._clock = clock

    def stream(
        self, request: pb.WatchRelationshipsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchRelationshipsResponse]:
        # An owner without relationships yet may be watched: the stream reports
        # their first relationships as they arrive, hence no NOT_FOUND here.
        require_id(context, request.owner_id, "owner_id")
        threshold = request.min_score_change
        if math.isnan(threshold) or threshold < 0 or threshold > 1:
            fail(context, grpc.StatusCode.INVALID_ARGUMENT, "min_score_change: must be in [0, 1]")
        threshold = threshold or DEFAULT_MIN_SCORE_CHANGE
        try:
            watcher = self._hub.subscribe(request.owner_id)
        except TooManyWatchers as exc:
            fail(context, grpc.StatusCode.RESOURCE_EXHAUSTED, f"WatchRelationships: {exc}")
        # The stream sleeps on its queue (no polling): the client going away ends it too.
        context.add_callback(lambda: watcher.end(End.CANCELLED))
        try:
            while context.is_active():
                changes = watcher.changes.get()
                if changes is End.OVERFLOWED:
                    fail(
                        context,
                        grpc.StatusCode.RESOURCE_EXHAUSTED,
                        "WatchRelationships: the client fell behind; watch again",
                    )
                if isinstance(changes, End):
                    return  # server shutting down, or the client left
                yield from self.responses(changes, threshold)
        finally:
            self._hub.unsubscribe(watcher)

    def responses(
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
