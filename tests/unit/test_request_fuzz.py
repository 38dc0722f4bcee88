"""Fuzz of the page-token and `as_of` parsing (hypothesis, bounded in time).

Whatever a client sends, parsing ends in a value the scorer can use (finite,
in range) or in the module's own bad-request error naming the field: never
another exception (which gRPC would answer UNKNOWN).
"""

from __future__ import annotations

import base64
import json
import math

from google.protobuf.timestamp_pb2 import Timestamp  # type: ignore[import-untyped]
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring_service.instants import BadInstant, checked_seconds
from scoring_service.pagination import BadPageToken, PageToken, parse_list_request
from vinculo.v1 import scoring_pb2 as pb

FUZZ = settings(max_examples=400, deadline=None)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=20,
)
token_bodies = st.fixed_dictionaries(
    {},
    optional={
        "v": st.just(1) | json_values,
        "o": st.just("ana") | json_values,
        "a": st.floats() | json_values,
        "w": st.booleans() | json_values,
        "t": st.lists(st.integers(), max_size=3) | json_values,
        "s": st.floats() | json_values,
        "c": st.text(max_size=10) | json_values,
    },
)


def encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def check_token(text: str) -> None:
    try:
        token = PageToken.decode(text)
    except BadPageToken as exc:
        assert str(exc).startswith(("page_token:", "page_token.as_of:"))
        return
    assert math.isfinite(token.as_of) and 0.0 <= token.last_score <= 1.0
    assert isinstance(token.owner_id, str) and isinstance(token.last_contact, str)
    assert all(isinstance(t, int) for t in token.tiers)


@FUZZ
@given(token_bodies)
def test_any_json_body_decodes_or_is_refused_as_a_page_token(body: dict[str, object]) -> None:
    check_token(encode(json.dumps(body).encode()))  # json.dumps writes NaN and Infinity


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=200).map(encode))
def test_any_string_decodes_or_is_refused_as_a_page_token(text: str) -> None:
    check_token(text)


@given(st.integers(min_value=1, max_value=5000))
@settings(max_examples=30, deadline=None)
def test_deep_nesting_is_refused(depth: int) -> None:
    for opener, closer in (("[", "]"), ('{"a":', "}")):
        check_token(encode((opener * depth + "1" + closer * depth).encode()))


@FUZZ
@given(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
)
def test_any_as_of_is_an_instant_or_refused_naming_the_field(seconds: int, nanos: int) -> None:
    stamp = Timestamp(seconds=seconds, nanos=nanos)
    try:
        value = checked_seconds(stamp, "as_of")
    except BadInstant as exc:
        assert str(exc).startswith("as_of: ")
        return
    assert math.isfinite(value) and 0 <= nanos < 10**9


@FUZZ
@given(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.integers(min_value=-(2**31), max_value=2**31 - 1),
    st.text(max_size=50),
)
def test_list_request_with_any_as_of_and_token_is_parsed_or_refused(
    seconds: int, nanos: int, token: str
) -> None:
    request = pb.ListRelationshipsRequest(owner_id="ana", page_token=token)
    request.as_of.seconds, request.as_of.nanos = seconds, nanos
    try:
        parse_list_request(request, 1_750_000_000.0)
    except (BadPageToken, BadInstant) as exc:
        assert str(exc).split(":")[0] in ("page_token", "page_token.as_of", "as_of")
