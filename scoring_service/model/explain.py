"""Plain-word explanations: which signals raised or lowered each score the most.

Each signal group is removed in turn (set to what a tie without that signal
would show) and the row is rescored; the difference is the signal's effect.
Kind groups (calls, meetings, services) are removed from the state itself, so
their share of the pooled exchange columns goes too. All perturbed rows are
scored in one call. Monotonic constraints make each group act in one direction,
so a positive effect always reads as support and a negative one as a drag.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from scoring_service.features.features import (
    MODEL_FEATURES,
    NEVER_DAYS,
    model_input_columns,
)
from scoring_service.features.owner_context import (
    contact_engaged,
    context_after_change,
    owner_context,
)
from scoring_service.features.state import (
    DAY,
    IN,
    MEETING_EXTRA_START,
    OUT,
    STATE_SIZE,
    FloatArray,
    S,
    decayed_counts,
    decayed_index,
    totals_index,
)
from scoring_service.model.signals import DESCRIPTIONS, weights
from scoring_service.words import days_ago
from vinculo.domain import Kind
from vinculo.v1 import events_pb2 as pb

if TYPE_CHECKING:
    from scoring_service.model.artifact import ScoringModel

MIN_EFFECT = 0.005
# What a tie without the signal shows; days_since_* read never, and so does the
# owner-relative silence (never heard from, at any owner's rate: a large number).
_ABSENT = {"reply_rate": 0.5, "relative_silence": NEVER_DAYS * 100.0}
# The owner's activity elsewhere (`owner_*`) belongs to no signal of this tie.
_OWN = ("one_sided", "owner_")
_FEATURE_GROUPS: dict[str, Callable[[str], bool]] = {
    "recent": lambda n: n.endswith(("_7d", "_30d")) and not n.startswith(_OWN),
    "lasting": lambda n: (
        (n.endswith(("_90d", "_365d", "_age_days", "_weeks")) and not n.startswith(_OWN))
        or n in ("total_in", "total_mutual")
    ),
    "recency": lambda n: n.startswith("days_since") or n in ("rank_last_in", "relative_silence"),
    "one_sided": lambda n: n.startswith("one_sided") or n == "outreach_unanswered",
    "replies": lambda n: n in ("reply_rate", "replies_in"),
}
_KIND_GROUPS = {"calls": Kind.CALL, "meetings": Kind.MEETING, "services": Kind.SERVICE}
_FEEDBACK_WORDS: dict[int, str] = {
    pb.FEEDBACK_LABEL_CLOSE: "you marked them as close",
    pb.FEEDBACK_LABEL_RELATIONSHIP: "you marked this as a relationship",
    pb.FEEDBACK_LABEL_ACQUAINTANCE: "you marked them as an acquaintance",
    pb.FEEDBACK_LABEL_NOT_KNOWN: "you said you do not know them",
}


def _without_kind(states: FloatArray, kind: Kind) -> FloatArray:
    stripped = states.copy()
    lo, hi = decayed_index(kind, 0, 0), decayed_index(kind + 1, 0, 0)
    stripped[:, lo:hi] = 0.0
    stripped[:, totals_index(kind, 0) : totals_index(kind, 2) + 1] = 0.0
    if kind is Kind.CALL:
        stripped[:, S["CALL_SECONDS"]] = 0.0
    if kind is Kind.MEETING:
        stripped[:, S["MEETING_SECONDS"]] = 0.0
        stripped[:, MEETING_EXTRA_START:STATE_SIZE] = 0.0  # what their length added
    return stripped


def effects(
    model: ScoringModel, states: FloatArray, as_of: float, context: FloatArray | None = None
) -> dict[str, FloatArray]:
    """Score minus score without the group, per group: shape (k,) each.

    `context`: the rows' `owner_context` in their owner's network (default: the
    rows are the whole network); a kind removed from a row moves the owner's
    totals by that row's part only."""
    if context is None:
        context = owner_context(states, as_of)
    if model.signal_model is not None:
        return _kind_effects(model, states, as_of, context)
    base = model_input_columns(states, as_of, context).T
    variants = []
    for select in _FEATURE_GROUPS.values():
        x = base.copy()
        for j, name in enumerate(MODEL_FEATURES):
            if select(name):
                never = NEVER_DAYS if name.startswith("days_since") else 0.0
                x[:, j] = _ABSENT.get(name, never)
        variants.append(x)
    for kind in _KIND_GROUPS.values():
        stripped = _without_kind(states, kind)
        changed = context_after_change(context, states, stripped, as_of)
        variants.append(model_input_columns(stripped, as_of, changed).T)
    scores = model.score_features(np.vstack([base, *variants])).reshape(len(variants) + 1, -1)
    names = [*_FEATURE_GROUPS, *_KIND_GROUPS]
    return {name: scores[0] - scores[i + 1] for i, name in enumerate(names)}


def _kind_effects(
    model: ScoringModel, states: FloatArray, as_of: float, context: FloatArray
) -> dict[str, FloatArray]:
    """A signal model reads the state, not feature columns: only the kind groups
    (removed from the state itself) have an effect to measure, in one scoring call."""
    variants, contexts = [states], [context]
    for kind in _KIND_GROUPS.values():
        stripped = _without_kind(states, kind)
        variants.append(stripped)
        contexts.append(context_after_change(context, states, stripped, as_of))
    scores = model.score(np.vstack(variants), as_of, np.vstack(contexts))
    scores = scores.reshape(len(variants), -1)
    return {name: scores[0] - scores[i + 1] for i, name in enumerate(_KIND_GROUPS)}


def _signal_sentence(model: ScoringModel) -> list[str]:
    """What a signal model scores by, said once per explanation."""
    if model.signal_model is None:
        return []
    if model.signal_model.get("kind") == "refined":
        return ["scored by the shipped model, adjusted by your labels"]
    used = [name for name, coef in weights(model.signal_model).items() if coef != 0.0]
    if len(used) == 1:
        return [f"scored by one signal your labels chose: {DESCRIPTIONS[used[0]]}"]
    return ["scored by a mix your labels chose, led by " + DESCRIPTIONS[used[0]]]


def explain(
    model: ScoringModel,
    states: FloatArray,
    as_of: float,
    top: int,
    context: FloatArray | None = None,
) -> list[list[str]]:
    if len(states) == 0:
        return []
    by_group = effects(model, states, as_of, context)
    names = list(by_group)
    matrix = np.column_stack([by_group[n] for n in names])
    decayed = decayed_counts(states, as_of).sum(axis=1)  # (k, dirs, horizons)
    one_sided = ~contact_engaged(states) & (states[:, S["EVENT_COUNT"]] > 0)
    result = []
    for i, row in enumerate(states):  # k rows asked for explanation, not the scoring path
        words = []
        label = int(row[S["FEEDBACK_LABEL"]])
        if label in _FEEDBACK_WORDS:
            words.append(_FEEDBACK_WORDS[label])
        if one_sided[i]:  # it caps the tier (ScoringModel.tiers), so always say it
            words.append("only you write")
        words += _signal_sentence(model)
        order = np.argsort(-np.abs(matrix[i]))
        for j in order[:top]:
            sentence = _sentence(names[j], row, decayed[i], as_of)
            if abs(matrix[i, j]) >= MIN_EFFECT and sentence not in words:
                words.append(sentence)
        result.append(words or ["no exchange yet to judge this relationship by"])
    return result


def _times(n: float) -> str:
    n = round(n)
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _calls_sentence(row: FloatArray) -> str:
    """Phone and video calls share a class in the state; `VIDEO_CALLS` tells them apart,
    so a video call is never described as a phone call."""
    n = round(sum(row[totals_index(Kind.CALL, c)] for c in range(3)))
    video = min(round(row[S["VIDEO_CALLS"]]), n)
    parts = [f"on the phone {_times(n - video)}"] if n > video else []
    parts += [f"by video {_times(video)}"] if video else []
    minutes = round(row[S["CALL_SECONDS"]] / 60)
    return f"spoke {' and '.join(parts)}, {minutes} minutes in all"


def _sentence(group: str, row: FloatArray, decayed: FloatArray, as_of: float) -> str:
    total_in = sum(row[totals_index(k, 1)] + row[totals_index(k, 2)] for k in Kind)
    total_out = sum(row[totals_index(k, 0)] + row[totals_index(k, 2)] for k in Kind)
    if group == "recent":
        got, sent = round(decayed[IN, 1]), round(decayed[OUT, 1])
        if got + sent == 0:
            return "no exchange in the last month"
        them = f"about {got} from them" if got else "nothing from them"
        you = f"about {sent} from you" if sent else "nothing from you"
        return f"{them} and {you} in the last month"
    if group == "lasting":
        weeks = max(round((as_of - row[S["FIRST_TIME"]]) / (7 * DAY)), 1)
        active = min(round(row[S["ACTIVE_WEEKS"]]), weeks)
        if weeks == 1:
            return "in touch for a week"
        return f"in touch for {weeks} weeks, active in {active} of them"
    if group == "recency":  # what the recency features read: reactions refresh none of it
        if row[S["LAST_TALK_IN_TIME"]] > 0:
            return f"last heard from them {days_ago(row[S['LAST_TALK_IN_TIME']], as_of)}"
        return "only reactions from them" if row[S["LAST_IN_TIME"]] > 0 else "never heard from them"
    if group == "one_sided":
        if total_in == 0:
            return "only you write"
        return f"you write {total_out / total_in:.1f} times as much as they do"
    if group == "replies":
        sent, answered = row[S["OUTREACH_SENT"]], row[S["OUTREACH_ANSWERED"]]
        return f"they answered {round(answered)} of {round(sent)} of your messages"
    if group == "calls":
        return _calls_sentence(row)
    if group == "meetings":
        n = sum(row[totals_index(Kind.MEETING, c)] for c in range(3))
        minutes = round(row[S["MEETING_SECONDS"]] / 60)
        return f"met in person {_times(n)}" + (f", {minutes} minutes in all" if minutes else "")
    n = row[totals_index(Kind.SERVICE, 1)] + row[totals_index(Kind.SERVICE, 2)]
    return f"{round(n)} endorsements, recommendations or introductions from them"
