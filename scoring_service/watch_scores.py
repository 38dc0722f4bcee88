"""Scores of a commit's changed rows before and after it, and the WatchRelationships
responses they make."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from scoring_service.features.state import FloatArray
from scoring_service.scorer import Scorer
from scoring_service.store import StateStore
from scoring_service.watch import OwnerChanges
from vinculo.timestamps import timestamp
from vinculo.v1 import events_pb2 as events
from vinculo.v1 import scoring_pb2 as pb

Scored = tuple[FloatArray, FloatArray, npt.NDArray[np.integer], npt.NDArray[np.integer]]


def watch_scores(changes: OwnerChanges, store: StateStore, scorer: Scorer, now: float) -> Scored:
    """New and old scores and tiers of the changed rows (a new row: old score 0, no tier)."""
    after = np.stack(changes.after)
    is_new = np.array([b is None for b in changes.before])
    before = np.stack(
        [a if b is None else b for a, b in zip(changes.after, changes.before, strict=True)]
    )
    new_context, old_context = _contexts(changes, store, scorer, after, before, is_new, now)
    new_scores = scorer.score(after, now, new_context)
    new_tiers = scorer.tiers(new_scores, after)
    old_scores = np.where(is_new, 0.0, scorer.score(before, now, old_context))
    old_tiers = np.where(is_new, events.TIER_UNSPECIFIED, scorer.tiers(old_scores, before))
    return new_scores, old_scores, new_tiers, old_tiers


def _contexts(
    changes: OwnerChanges,
    store: StateStore,
    scorer: Scorer,
    after: FloatArray,
    before: FloatArray,
    is_new: npt.NDArray[np.bool_],
    now: float,
) -> tuple[FloatArray, FloatArray]:
    """Owner contexts of the changed rows after and before the commit: the owner's
    stored network with the changed rows set to their new (old) states, a new
    relationship left out before (its old score is not used)."""
    contacts, stored = store.owner_states(changes.owner_id)
    index = {c: i for i, c in enumerate(contacts)}
    missing = [c for c in changes.contacts if c not in index]  # not in the store (yet)
    index.update({c: len(contacts) + i for i, c in enumerate(missing)})
    network = np.vstack([stored, np.zeros((len(missing), after.shape[1]))])
    rows = np.array([index[c] for c in changes.contacts], dtype=np.intp)
    network[rows] = after
    new_context = scorer.owner_context(network, now)[rows]
    network[rows] = before
    old_context = scorer.owner_context(network, now)
    keep = np.ones(len(network), dtype=bool)
    keep[rows[is_new]] = False
    if keep.any() and is_new.any():
        old_context[keep] = scorer.owner_context(network[keep], now)
    return new_context, old_context[rows]


def watch_messages(
    changes: OwnerChanges, scored: Scored, threshold: float
) -> tuple[pb.WatchRelationshipsResponse, ...]:
    """A response per changed row whose score moved by `threshold` or whose tier changed."""
    new_scores, old_scores, new_tiers, old_tiers = scored
    moved = (np.abs(new_scores - old_scores) >= threshold) | (new_tiers != old_tiers)
    changed_at = timestamp(changes.committed_at)
    return tuple(
        pb.WatchRelationshipsResponse(
            contact_id=changes.contacts[i],
            previous_score=float(old_scores[i]),
            score=float(new_scores[i]),
            previous_tier=int(old_tiers[i]),  # type: ignore[arg-type]
            tier=int(new_tiers[i]),  # type: ignore[arg-type]
            changed_at=changed_at,
        )
        for i in np.flatnonzero(moved)
    )
