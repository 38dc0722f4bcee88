"""Feature computation: names, hand values, vectorisation, one-sided outreach, intimacy."""

from __future__ import annotations

import numpy as np
import pytest

from scoring_service.features import features as ft
from scoring_service.features import fold
from scoring_service.features import state as st
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb

DAY = 86_400.0
T0 = 1_700_000_000.0


def build(*events: Interaction) -> np.ndarray:
    s = st.new_state()
    fold.apply_events(s, events)
    return s


def ev(kind: int, direction: int, t: float, **kw: float) -> Interaction:
    return Interaction(kind, direction, t, personalized=True, **kw)  # type: ignore[arg-type]


def row(s: np.ndarray, as_of: float) -> dict[str, float]:
    return dict(zip(ft.FEATURE_NAMES, ft.feature_matrix(s[None, :], as_of)[0], strict=True))


def test_names_match_columns_and_model_features_are_known() -> None:
    x = ft.feature_matrix(np.stack([st.new_state()] * 3), T0)
    assert x.shape == (3, len(ft.FEATURE_NAMES))
    assert len(set(ft.FEATURE_NAMES)) == len(ft.FEATURE_NAMES)
    assert set(ft.MODEL_FEATURES) <= set(ft.FEATURE_NAMES)
    assert not any(n.startswith("feedback_") for n in ft.MODEL_FEATURES)


def test_hand_computed_values() -> None:
    s = build(
        ev(pb.INTERACTION_TYPE_MESSAGE, pb.DIRECTION_OUTBOUND, T0),
        ev(pb.INTERACTION_TYPE_MESSAGE, pb.DIRECTION_INBOUND, T0 + DAY),
        ev(pb.INTERACTION_TYPE_CALL, pb.DIRECTION_OUTBOUND, T0 + 2 * DAY, duration_seconds=600),
    )
    f = row(s, T0 + 9 * DAY)
    assert f["decayed_message_in_7d"] == pytest.approx(2 ** (-8 / 7))
    assert f["mutual_message_7d"] == pytest.approx(2 ** (-9 / 7))  # min(out, in)
    assert f["mutual_call_7d"] == pytest.approx(0.5)  # a call is two-way whoever dialled
    # weighted exchange: message 1.0 one side, call 2.0 on both sides
    assert f["exchange_in_7d"] == pytest.approx(2 ** (-8 / 7) + 2 * 0.5)
    assert f["exchange_out_7d"] == pytest.approx(2 ** (-9 / 7) + 2 * 0.5)
    assert f["contact_seconds"] == 600
    assert f["days_since_last_in"] == pytest.approx(8)
    assert f["tie_age_days"] == pytest.approx(9)
    assert f["reply_rate"] == pytest.approx(2 / 3)  # (1 answered + 1) / (1 sent + 2)
    assert f["intimacy_max"] == 4  # calls are class 3, +1
    # days the contact took part on: the inbound message and the call, not the outbound
    # one; each day is weighed from its start (T0 is 22:13 UTC)
    late = (T0 % DAY) / DAY
    assert f["engaged_days_7d"] == pytest.approx(2 ** (-(8 + late) / 7) + 2 ** (-(7 + late) / 7))


def test_a_meeting_counts_its_length_beside_call_seconds() -> None:
    s = build(
        ev(pb.INTERACTION_TYPE_MEETING_IN_PERSON, pb.DIRECTION_MUTUAL, T0, duration_seconds=5400),
        ev(pb.INTERACTION_TYPE_VIDEO_CALL, pb.DIRECTION_OUTBOUND, T0 + DAY, duration_seconds=600),
    )
    assert s[st.S["MEETING_SECONDS"]] == 5400
    assert s[st.S["CALL_SECONDS"]] == 600
    assert row(s, T0 + 2 * DAY)["contact_seconds"] == 6000


def test_reactions_refresh_no_conversation_recency_and_open_no_period() -> None:
    talk = [ev(pb.INTERACTION_TYPE_COMMENT, pb.DIRECTION_INBOUND, T0)]
    clicks = [ev(pb.INTERACTION_TYPE_REACTION, pb.DIRECTION_INBOUND, T0 + i * DAY) for i in (3, 9)]
    with_clicks, without = (
        row(build(*talk, *clicks), T0 + 10 * DAY),
        row(build(*talk), T0 + 10 * DAY),
    )
    for name in (
        "days_since_last_in",
        "days_since_last_engaged",
        "engaged_days_30d",
        "two_way_active_weeks",
        "active_days",
    ):
        assert with_clicks[name] == pytest.approx(without[name]), name
    assert with_clicks["days_since_last_in"] == pytest.approx(10)
    # ...but they still count at their weight in the exchange, and as the last event
    assert with_clicks["exchange_in_30d"] > without["exchange_in_30d"]
    assert with_clicks["days_since_last"] == pytest.approx(1)


def test_vectorised_rows_equal_single_rows() -> None:
    states = np.stack(
        [
            build(ev(pb.INTERACTION_TYPE_MESSAGE, pb.DIRECTION_INBOUND, T0 + i * DAY))
            for i in range(5)
        ]
    )
    batch = ft.feature_matrix(states, T0 + 30 * DAY)
    context = ft.owner_context(states, T0 + 30 * DAY)
    for i in range(5):
        # a row scored alone with its network's context reads as in the whole network
        np.testing.assert_array_equal(
            batch[i], ft.feature_matrix(states[i : i + 1], T0 + 30 * DAY, context[i : i + 1])[0]
        )


def test_owner_relative_columns_by_hand() -> None:
    as_of = T0 + 10 * DAY
    msg, out, inb = pb.INTERACTION_TYPE_MESSAGE, pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND
    states = np.stack(
        [
            build(ev(msg, out, T0), ev(msg, inb, T0 + DAY)),  # one round trip
            build(*[ev(msg, d, T0 + i * DAY) for i in range(4) for d in (out, inb)]),
            build(*[ev(msg, out, T0 + i * DAY) for i in range(9)]),  # only the owner writes
        ]
    )
    x = ft.feature_matrix(states, as_of)
    f = [dict(zip(ft.FEATURE_NAMES, r, strict=True)) for r in x]
    own_in = [
        ft.feature_matrix(states[i : i + 1], as_of)[0, ft.COLUMN["exchange_in_30d"]]
        for i in range(3)
    ]
    assert f[0]["share_in_30d"] == pytest.approx(own_in[0] / (own_in[0] + own_in[1]))
    assert f[0]["owner_in_30d"] == pytest.approx(own_in[1])  # the others, not the row itself
    assert f[2]["owner_in_30d"] == pytest.approx(own_in[0] + own_in[1])
    assert [r["rank_mutual_90d"] for r in f] == [0.5, 1.0, 0.0]  # of the 2 other ties
    assert [r["rank_last_in"] for r in f] == [0.5, 1.0, 0.0]
    assert [r["owner_engaged_contacts"] for r in f] == [1, 1, 2]
    # schema 3: the owner's activity relative to itself, the row still left out
    assert f[0]["owner_in_30d_per_contact"] == pytest.approx(own_in[1] / 1)
    assert f[2]["owner_in_30d_per_contact"] == pytest.approx((own_in[0] + own_in[1]) / 2)
    mutual = [
        ft.feature_matrix(states[i : i + 1], as_of)[
            0, [ft.COLUMN["exchange_mutual_30d"], ft.COLUMN["exchange_mutual_365d"]]
        ]
        for i in range(3)
    ]
    assert f[2]["owner_mutual_30d_of_365d"] == pytest.approx(
        (mutual[0][0] + mutual[1][0]) / (mutual[0][1] + mutual[1][1])
    )
    assert f[0]["owner_mutual_30d_of_365d"] == pytest.approx(mutual[1][0] / mutual[1][1])
    assert f[2]["share_mutual_30d"] == 0.0 and f[2]["share_in_30d"] == 0.0
    # groups: the same rows as two owners' networks give each owner's own aggregates
    ctx = ft.owner_context(states, as_of, np.array(["a", "a", "b"]))
    alone = ft.feature_matrix(states, as_of, ctx)
    assert alone[2, ft.COLUMN["owner_in_30d"]] == 0.0
    assert alone[2, ft.COLUMN["owner_mutual_30d_of_365d"]] == 0.0  # no one else: 0, not NaN
    assert alone[2, ft.COLUMN["owner_in_30d_per_contact"]] == 0.0
    assert alone[0, ft.COLUMN["owner_in_30d"]] == pytest.approx(own_in[1])


def test_the_owners_outreach_elsewhere_moves_no_owner_column() -> None:
    as_of = T0 + 10 * DAY
    msg, out, inb = pb.INTERACTION_TYPE_MESSAGE, pb.DIRECTION_OUTBOUND, pb.DIRECTION_INBOUND
    tie = build(ev(msg, out, T0), ev(msg, inb, T0 + DAY))
    quiet = build(ev(msg, out, T0 + 2 * DAY))
    spammed = build(*[ev(msg, out, T0 + i * DAY) for i in range(9)])
    before = ft.feature_matrix(np.stack([tie, quiet]), as_of)[0]
    after = ft.feature_matrix(np.stack([tie, spammed]), as_of)[0]
    owner = [ft.COLUMN[n] for n in ft.OWNER_FEATURES]
    np.testing.assert_array_equal(before[owner], after[owner])


def test_one_sided_outreach_moves_only_columns_that_lower_strength() -> None:
    as_of = T0 + 40 * DAY
    few = build(ev(pb.INTERACTION_TYPE_MESSAGE, pb.DIRECTION_OUTBOUND, T0))
    many = build(
        *[ev(pb.INTERACTION_TYPE_MESSAGE, pb.DIRECTION_OUTBOUND, T0 + i * DAY) for i in range(30)]
    )
    a, b = row(few, as_of), row(many, as_of)
    for name, sign in ft.MONOTONIC.items():
        change = b[name] - a[name]
        assert change * sign <= 0, f"{name} would raise the score of one-sided outreach"
    assert b["one_sided_30d"] > a["one_sided_30d"]


def test_unset_times_read_as_never_and_feedback_is_one_hot() -> None:
    s = st.new_state()
    fold.apply_event(
        s,
        Interaction(pb.INTERACTION_TYPE_FEEDBACK, 0, T0, feedback_label=pb.FEEDBACK_LABEL_CLOSE),
    )
    f = row(s, T0)
    assert f["days_since_last_in"] == ft.NEVER_DAYS
    assert f["feedback_close"] == 1 and f["feedback_not_known"] == 0
