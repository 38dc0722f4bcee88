"""Page tokens and list-request validation."""

from __future__ import annotations

import numpy as np
import pytest

from scoring_service.pagination import (
    BadPageToken,
    BadRequest,
    PageToken,
    after_token,
    parse_list_request,
    ranking_order,
)
from vinculo.v1 import events_pb2 as events
from vinculo.v1 import scoring_pb2 as pb

NOW = 1_750_000_000.5


def token(**changes: object) -> PageToken:
    fields: dict[str, object] = {
        "owner_id": "ana",
        "as_of": NOW,
        "weakest_first": False,
        "tiers": (events.TIER_CLOSE,),
        "last_score": 0.25,
        "last_contact": "bo",
    }
    fields.update(changes)
    return PageToken(**fields)  # type: ignore[arg-type]


def test_token_round_trips_and_is_opaque() -> None:
    original = token()
    encoded = original.encode()
    assert "ana" not in encoded
    assert PageToken.decode(encoded) == original


@pytest.mark.parametrize("bad", ["", "!!!", "bm90IGpzb24", "e30", "eyJ2Ijo5OX0"])
def test_garbage_tokens_are_rejected_naming_the_field(bad: str) -> None:
    with pytest.raises(BadPageToken, match=r"^page_token:"):
        PageToken.decode(bad)


def test_ranking_breaks_ties_by_contact_and_resumes_after_the_token() -> None:
    contacts = ["a", "b", "c", "d"]
    scores = np.array([0.5, 0.9, 0.5, 0.1])
    strongest = ranking_order(scores, contacts, weakest_first=False)
    assert strongest == [1, 0, 2, 3]
    assert ranking_order(scores, contacts, weakest_first=True) == [3, 0, 2, 1]
    after_a = after_token(strongest, scores, contacts, token(last_score=0.5, last_contact="a"))
    assert after_a == [2, 3]
    # The item after the token moved up meanwhile: it is not repeated.
    moved = np.array([0.5, 0.9, 0.95, 0.1])
    resumed = after_token(
        ranking_order(moved, contacts, False),
        moved,
        contacts,
        token(last_score=0.5, last_contact="a"),
    )
    assert resumed == [3]


def request(**fields: object) -> pb.ListRelationshipsRequest:
    return pb.ListRelationshipsRequest(owner_id="ana", **fields)  # type: ignore[arg-type]


def test_first_page_defaults() -> None:
    query = parse_list_request(request(), NOW)
    assert (query.page_size, query.weakest_first, query.tiers, query.as_of) == (50, False, (), NOW)
    assert query.after is None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"owner_id": ""}, "owner_id"),
        ({"page_size": -1}, "page_size"),
        ({"page_size": 1001}, "page_size"),
        ({"tiers": [7]}, "tiers"),
        ({"tiers": [events.TIER_UNSPECIFIED]}, "tiers"),
        ({"order": 9}, "order"),
        ({"page_token": "nope"}, "page_token"),
    ],
)
def test_bad_requests_name_the_field(fields: dict[str, object], field: str) -> None:
    with pytest.raises(BadRequest, match=f"^{field}:"):
        parse_list_request(pb.ListRelationshipsRequest(**{"owner_id": "ana", **fields}), NOW)  # type: ignore[arg-type]


def test_next_pages_keep_the_tokens_instant_and_must_match_its_filter() -> None:
    encoded = token().encode()
    query = parse_list_request(
        request(page_token=encoded, tiers=[events.TIER_CLOSE]), default_as_of=NOW + 999
    )
    assert query.as_of == NOW and query.after == token()
    with pytest.raises(BadPageToken, match="tiers"):
        parse_list_request(request(page_token=encoded), NOW)
    with pytest.raises(BadPageToken, match="owner_id"):
        parse_list_request(
            pb.ListRelationshipsRequest(
                owner_id="bo", page_token=encoded, tiers=[events.TIER_CLOSE]
            ),
            NOW,
        )
