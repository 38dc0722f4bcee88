"""Whom to nurture, meet, reconnect with, prune or answer: the posts' questions as rules.

Pure functions over the relationship state matrix (one row per contact, layout in
`features.state`), the model's scores, tiers and trends. Every rule is a boolean
mask computed for all contacts at once; only the few suggestions kept per kind
are turned into messages with their reason and evidence (docs/networker.md).

The rules, in the posts' words:

- REPLY: the contact wrote and is waiting ("PENDING_INBOUND_TIME").
- PRUNE: connected for a long time and never a real exchange from their side
  ("a contact is worth very little unless we turn it into a relationship"), or
  the owner said "I don't know them".
- MEET_IN_PERSON: a reciprocal online relationship never met ("desvirtualizar").
- RECONNECT: a history of reciprocal exchanges, silent for long.
- NURTURE: a tie in a cared-for tier past its cadence, or strong and cooling.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from scoring_service.features.state import DAY, FloatArray, S, totals_index
from scoring_service.words import days_ago, days_between
from vinculo.domain import TIER_NAMES, TREND_NAMES, Kind
from vinculo.timestamps import set_seconds
from vinculo.v1 import events_pb2 as pb
from vinculo.v1 import scoring_pb2

if TYPE_CHECKING:  # types only: the server wires this module into the servicer
    from scoring_service.scored_network import ScoredNetwork
    from scoring_service.scorer import Scorer
    from scoring_service.servicer import Suggester

BoolArray = npt.NDArray[np.bool_]
# The trends of the given rows (`Scorer.trend` of those rows: each row's trend reads
# only its own state). Only the rows a rule or a message reads them of are asked for.
TrendsOf = Callable[[npt.NDArray[np.intp]], npt.ArrayLike]
_NOT_READ = -1  # a trend not computed (no rule reads it)

ALL_KINDS: frozenset[int] = frozenset(
    {
        scoring_pb2.ACTION_KIND_REPLY,
        scoring_pb2.ACTION_KIND_NURTURE,
        scoring_pb2.ACTION_KIND_MEET_IN_PERSON,
        scoring_pb2.ACTION_KIND_RECONNECT,
        scoring_pb2.ACTION_KIND_PRUNE,
    }
)
DEFAULT_LIMIT_PER_KIND = 10


@dataclass(frozen=True, slots=True)
class Cadences:
    """How often each tier should hear from the owner, and the rules' thresholds (days)."""

    close_days: float = 14.0
    relationship_days: float = 60.0
    acquaintance_days: float = 180.0
    # Silent this long after a real history: reconnect rather than nurture.
    reconnect_after_days: float = 180.0
    # Reciprocal private exchanges (messages, calls, meetings, services) that make a history.
    reconnect_min_exchanges: int = 10
    meet_min_exchanges: int = 10
    # Connected this long without a real exchange from the contact: prune.
    prune_after_days: float = 365.0
    # An inbound message younger than this is not yet "left unanswered"; one
    # older than `reply_max_age_days` is no longer an answer anyone waits for.
    reply_after_days: float = 1.0
    reply_max_age_days: float = 90.0

    def for_tiers(self, tiers: npt.NDArray[np.int64]) -> FloatArray:
        """Cadence in days per contact; infinite for the contact tier (no cadence)."""
        table = {
            pb.TIER_CLOSE: self.close_days,
            pb.TIER_RELATIONSHIP: self.relationship_days,
            pb.TIER_ACQUAINTANCE: self.acquaintance_days,
        }
        out = np.full(tiers.shape, np.inf)
        for tier, days in table.items():
            out[tiers == tier] = days
        return out


@dataclass(frozen=True, slots=True)
class _Facts:
    """Per-contact quantities every rule reads, computed once, vectorised."""

    as_of: float
    states: FloatArray
    scores: FloatArray
    tiers: npt.NDArray[np.int64]
    trends: npt.NDArray[np.int64]  # _NOT_READ where not yet needed (`trends_of`)
    trends_of: TrendsOf | None
    silent_days: FloatArray
    sent: FloatArray  # owner's private exchanges (message class and up), outbound + mutual
    received: FloatArray  # the contact's, inbound + mutual
    messages_out: FloatArray
    messages_in: FloatArray
    meetings: FloatArray
    calls: FloatArray
    comments_in: FloatArray

    @property
    def reciprocal(self) -> BoolArray:
        return (self.sent > 0) & (self.received > 0)

    def col(self, name: str) -> FloatArray:
        return self.states[:, S[name]]

    def read_trends(self, rows: npt.NDArray[np.intp]) -> None:
        """Computes the trends of `rows` not computed yet (for their messages)."""
        missing = rows[self.trends[rows] == _NOT_READ]
        if len(missing) and self.trends_of is not None:
            self.trends[missing] = self.trends_of(missing)


def _total(states: FloatArray, kinds: Sequence[Kind], columns: Sequence[int]) -> FloatArray:
    idx = [totals_index(k, c) for k in kinds for c in columns]
    total: FloatArray = states[:, idx].sum(axis=1)
    return total


def _facts(
    states: FloatArray,
    scores: FloatArray,
    tiers: npt.ArrayLike,
    trends: npt.ArrayLike | TrendsOf,
    as_of: float,
) -> _Facts:
    private = (Kind.MESSAGE, Kind.CALL, Kind.MEETING, Kind.SERVICE)
    last = states[:, S["LAST_TIME"]]
    silent = np.where(last > 0, (as_of - last) / DAY, np.inf)
    tier_values = np.asarray(tiers, dtype=np.int64)
    trends_of = trends if callable(trends) else None
    if trends_of is None:
        trend_values = np.asarray(trends, dtype=np.int64)
    else:  # only NURTURE reads a trend: of a strong tie's row, and of the rows it words
        trend_values = np.full(len(states), _NOT_READ, dtype=np.int64)
        strong = np.flatnonzero(tier_values >= pb.TIER_RELATIONSHIP)
        trend_values[strong] = trends_of(strong)
    return _Facts(
        as_of=as_of,
        states=states,
        scores=np.asarray(scores, dtype=np.float64),
        tiers=tier_values,
        trends=trend_values,
        trends_of=trends_of,
        silent_days=silent,
        sent=_total(states, private, (0, 2)),
        received=_total(states, private, (1, 2)),
        messages_out=_total(states, (Kind.MESSAGE,), (0,)),
        messages_in=_total(states, (Kind.MESSAGE,), (1,)),
        meetings=_total(states, (Kind.MEETING,), (0, 1, 2)),
        calls=_total(states, (Kind.CALL,), (0, 1, 2)),
        comments_in=_total(states, (Kind.COMMENT,), (1, 2)),
    )


# --- the rules: each returns (mask, priority); higher priority first ----------


def _reply(f: _Facts, c: Cadences) -> tuple[BoolArray, FloatArray]:
    pending = f.col("PENDING_INBOUND_TIME")
    waiting = (f.as_of - pending) / DAY
    mask = (pending > 0) & (waiting >= c.reply_after_days) & (waiting <= c.reply_max_age_days)
    # Stronger ties first; among equals, whoever waits the longest.
    return mask, f.scores + np.minimum(waiting, 365.0) / 3650.0


def _prune(f: _Facts, c: Cadences) -> tuple[BoolArray, FloatArray]:
    connected_at = f.col("CONNECTED_TIME")
    since = np.where(connected_at > 0, connected_at, f.col("FIRST_TIME"))
    connected_days = np.where(since > 0, (f.as_of - since) / DAY, 0.0)
    no_exchange = (f.received == 0) & (f.comments_in == 0)
    long_connected = (f.col("CONNECTED") > 0) & (connected_days >= c.prune_after_days)
    not_known = f.col("FEEDBACK_LABEL") == pb.FEEDBACK_LABEL_NOT_KNOWN
    waiting_for_owner = f.col("PENDING_INBOUND_TIME") > 0
    mask = ((long_connected & no_exchange) | not_known) & ~waiting_for_owner
    # The weakest and longest-idle first.
    return mask, -f.scores + np.minimum(connected_days, 3650.0) / 36500.0


def _was_strong(f: _Facts, c: Cadences) -> BoolArray:
    history = np.minimum(f.sent, f.received) * 2
    return (f.reciprocal & (history >= c.reconnect_min_exchanges)) | (f.meetings > 0)


def _gone_quiet(f: _Facts, c: Cadences) -> BoolArray:
    """A real tie (a history, or a cared-for tier) silent past `reconnect_after_days`:
    reconnect, not nurture, so that one silence never reads as both."""
    real = _was_strong(f, c) | (f.tiers >= pb.TIER_ACQUAINTANCE)
    return real & (f.silent_days >= c.reconnect_after_days)


def _reconnect(f: _Facts, c: Cadences) -> tuple[BoolArray, FloatArray]:
    mask = _gone_quiet(f, c)
    history = np.log1p(np.minimum(f.sent, f.received))
    return mask, history - f.silent_days / 3650.0


def _nurture(f: _Facts, c: Cadences) -> tuple[BoolArray, FloatArray]:
    cadence = c.for_tiers(f.tiers)
    overdue = f.silent_days > cadence
    strong = f.tiers >= pb.TIER_RELATIONSHIP
    cooling = strong & (f.trends == scoring_pb2.TREND_COOLING)
    mask = (overdue | cooling) & (f.tiers >= pb.TIER_ACQUAINTANCE) & ~_gone_quiet(f, c)
    # Only where a cadence is set: `np.where` would divide everywhere (inf / inf warns).
    ratio = np.divide(
        f.silent_days, cadence, out=np.zeros_like(f.scores), where=np.isfinite(cadence)
    )
    return mask, f.scores * (1.0 + np.minimum(ratio, 10.0))


def _meet(f: _Facts, c: Cadences) -> tuple[BoolArray, FloatArray]:
    online = np.minimum(f.sent, f.received) * 2
    strong_online = (f.tiers >= pb.TIER_RELATIONSHIP) | (online >= c.meet_min_exchanges)
    active = f.silent_days < c.reconnect_after_days
    mask = f.reciprocal & strong_online & (f.meetings == 0) & active
    return mask, f.scores + online / 1e4


_RULES: dict[int, Callable[[_Facts, Cadences], tuple[BoolArray, FloatArray]]] = {
    scoring_pb2.ACTION_KIND_REPLY: _reply,
    scoring_pb2.ACTION_KIND_NURTURE: _nurture,
    scoring_pb2.ACTION_KIND_MEET_IN_PERSON: _meet,
    scoring_pb2.ACTION_KIND_RECONNECT: _reconnect,
    scoring_pb2.ACTION_KIND_PRUNE: _prune,
}


# --- words ----------------------------------------------------------------------


def _date(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d")


def _ago(f: _Facts, t: float) -> str:
    return f"{_date(t)} ({days_ago(t, f.as_of)})"


def _last_seen(f: _Facts, i: int) -> str:
    last = float(f.col("LAST_TIME")[i])
    return f"last interaction {_ago(f, last)}" if last > 0 else "no interaction recorded"


def _count(n: float, noun: str, plural: str = "") -> str:
    """'1 call', '3 calls'."""
    return f"{int(n)} {noun if int(n) == 1 else plural or noun + 's'}"


def _exchanges(f: _Facts, i: int) -> str:
    return (
        f"{_count(f.messages_out[i], 'message')} sent, {int(f.messages_in[i])} received; "
        f"{_count(f.calls[i], 'call')}, {_count(f.meetings[i], 'meeting')} in person"
    )


def _words(kind: int, f: _Facts, c: Cadences, i: int) -> tuple[str, list[str]]:
    tier = TIER_NAMES.get(int(f.tiers[i]), "unknown")
    if kind == scoring_pb2.ACTION_KIND_REPLY:
        since = float(f.col("PENDING_INBOUND_TIME")[i])
        return "They wrote to you and are waiting for an answer.", [
            f"unanswered since {_ago(f, since)}",
            _exchanges(f, i),
        ]
    if kind == scoring_pb2.ACTION_KIND_PRUNE:
        if f.col("FEEDBACK_LABEL")[i] == pb.FEEDBACK_LABEL_NOT_KNOWN:
            return "You said you do not know this person.", [_last_seen(f, i)]
        since = float(f.col("CONNECTED_TIME")[i] or f.col("FIRST_TIME")[i])
        sent = int(f.col("OUTREACH_SENT")[i])
        return "Connected for a long time, never a real exchange from their side.", [
            f"connected since {_ago(f, since)}",
            f"0 messages, calls or meetings from them; {_count(sent, 'outreach attempt')} of yours",
        ]
    if kind == scoring_pb2.ACTION_KIND_MEET_IN_PERSON:
        return "A real online relationship you have never met: time to meet in person.", [
            _exchanges(f, i),
            _last_seen(f, i),
            f"tier {tier}, score {f.scores[i]:.2f}",
        ]
    if kind == scoring_pb2.ACTION_KIND_RECONNECT:
        return "You used to be in regular touch; it has gone quiet.", [
            _exchanges(f, i),
            f"silent for {_count(days_between(f.col('LAST_TIME')[i], f.as_of), 'day')}; "
            f"{_last_seen(f, i)}",
        ]
    cadence = c.for_tiers(f.tiers[i : i + 1])[0]
    cooling = f.trends[i] == scoring_pb2.TREND_COOLING
    trend = " and cooling" if cooling else ""
    return f"A {tier} tie past its cadence{trend}: get in touch before it fades.", [
        f"{_last_seen(f, i)}; cadence for {tier}: every {cadence:g} days",
        f"score {f.scores[i]:.2f}, trend {TREND_NAMES.get(int(f.trends[i]), 'steady')}",
    ]


def _suggestion(
    kind: int, f: _Facts, c: Cadences, i: int, contact_id: str
) -> scoring_pb2.Suggestion:
    reason, evidence = _words(kind, f, c, i)
    out = scoring_pb2.Suggestion(
        kind=kind,  # type: ignore[arg-type]
        contact_id=contact_id,
        reason=reason,
        evidence=evidence,
        score=float(f.scores[i]),
        tier=int(f.tiers[i]),  # type: ignore[arg-type]
    )
    last = float(f.col("LAST_TIME")[i])
    if last > 0:
        set_seconds(out.last_interaction, last)
    return out


def suggest(
    contact_ids: Sequence[str],
    states: FloatArray,
    scores: npt.ArrayLike,
    tiers: npt.ArrayLike,
    trends: npt.ArrayLike | TrendsOf,
    as_of: float,
    cadences: Cadences,
    kinds: set[int] | None = None,
    limit_per_kind: int = DEFAULT_LIMIT_PER_KIND,
) -> list[scoring_pb2.Suggestion]:
    """Suggestions for one owner's contacts, grouped by kind (REPLY first), best first.

    `kinds` None or empty means all; `limit_per_kind` <= 0 means the default (10).
    `trends`: one per contact, or a function giving those of some rows (`TrendsOf`):
    then only the rows the rules read are computed (the same suggestions, tested).
    """
    if len(contact_ids) == 0:
        return []
    facts = _facts(np.asarray(states, dtype=np.float64), scores, tiers, trends, as_of)  # type: ignore[arg-type]
    wanted = ALL_KINDS if not kinds else frozenset(kinds) & ALL_KINDS
    limit = limit_per_kind if limit_per_kind > 0 else DEFAULT_LIMIT_PER_KIND
    result: list[scoring_pb2.Suggestion] = []
    for kind, rule in _RULES.items():
        if kind not in wanted:
            continue
        mask, priority = rule(facts, cadences)
        order = best_first(np.flatnonzero(mask), priority, limit)
        if kind == scoring_pb2.ACTION_KIND_NURTURE:  # the one message with a trend
            facts.read_trends(order)
        result.extend(_suggestion(kind, facts, cadences, int(i), contact_ids[i]) for i in order)
    return result


def best_first(
    chosen: npt.NDArray[np.intp], priority: FloatArray, limit: int
) -> npt.NDArray[np.intp]:
    """The first `limit` of `chosen` by descending priority, ties in the order given:
    `chosen[np.argsort(-priority[chosen], kind="stable")][:limit]`, the same rows, with
    only the candidates up to the limit-th key sorted (a rule may choose most of a 30k
    network: five full sorts were ~2.8 ms of a SuggestActions read)."""
    keys = -priority[chosen]
    if len(keys) > limit > 0:
        kth = np.partition(keys, limit - 1)[limit - 1]
        if not np.isnan(kth):  # NaN keys sort last; with them in the first `limit`, sort all
            chosen, keys = chosen[keys <= kth], keys[keys <= kth]
    ordered: npt.NDArray[np.intp] = chosen[np.argsort(keys, kind="stable")][:limit]
    return ordered


def make_suggester(cadences: Cadences) -> Suggester:
    """The servicer's SuggestActions hook with these cadences (from the service's settings)."""

    def suggest_actions(
        request: scoring_pb2.SuggestActionsRequest, network: ScoredNetwork, scorer: Scorer
    ) -> scoring_pb2.SuggestActionsResponse:
        def trends_of(rows: npt.NDArray[np.intp]) -> npt.ArrayLike:
            return scorer.trend(network.states[rows], network.as_of)

        suggestions = suggest(
            network.contacts,
            network.states,
            network.scores,
            network.tiers,
            trends_of,
            network.as_of,
            cadences,
            set(request.kinds),
            request.limit_per_kind,
        )
        return scoring_pb2.SuggestActionsResponse(
            suggestions=suggestions, model_version=scorer.version
        )

    return suggest_actions
