"""Keyset pagination of a ranking with an opaque page token.

The token pins what makes pages consistent: the owner, the instant scores are
computed at (`as_of`), the order and the tier filter, plus the last item
returned (score, contact). The next page starts strictly after that item in
the same order, so a relationship that changes between two calls neither
repeats an unchanged item nor makes one skip — unlike an offset, which shifts
when an earlier item moves. Tokens are base64url JSON: opaque to clients,
validated on the way in.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from scoring_service.features.state import FloatArray
from scoring_service.instants import BadInstant, checked_float_seconds, checked_seconds
from vinculo.v1 import events_pb2 as events
from vinculo.v1 import scoring_pb2 as pb

TOKEN_VERSION = 1
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# An issued token is a few hundred characters; ids (<= 256 characters each) escaped in
# JSON and base64-encoded stay well below this.
MAX_TOKEN_CHARS = 16384
_VALID_TIERS = frozenset(v for v in events.Tier.values() if v != events.TIER_UNSPECIFIED)
_VALID_ORDERS = frozenset(pb.SortOrder.values())


class BadRequest(ValueError):
    """A list request that cannot be answered; the message names the field."""


class BadPageToken(BadRequest):
    """The token is not one this service issued for this request."""


@dataclass(frozen=True, slots=True)
class PageToken:
    owner_id: str
    as_of: float
    weakest_first: bool
    tiers: tuple[int, ...]
    last_score: float
    last_contact: str

    def encode(self) -> str:
        body = {
            "v": TOKEN_VERSION,
            "o": self.owner_id,
            "a": self.as_of,
            "w": self.weakest_first,
            "t": list(self.tiers),
            "s": self.last_score,
            "c": self.last_contact,
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> PageToken:
        """The token's fields, each checked for type and range; BadPageToken otherwise.

        A forged token is refused whatever it holds: NaN or Infinity (which
        `json` accepts by default), nesting (no field is nested: the length
        bound keeps the parser's recursion shallow), wrong types or ranges.
        """
        if len(token) > MAX_TOKEN_CHARS:
            raise BadPageToken(f"page_token: longer than {MAX_TOKEN_CHARS} characters")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            body = json.loads(raw, parse_constant=_refuse_constant)
        except (binascii.Error, ValueError, RecursionError) as exc:
            raise BadPageToken("page_token: not a token issued by this service") from exc
        if not isinstance(body, dict):
            raise BadPageToken("page_token: not a token issued by this service")
        if body.get("v") != TOKEN_VERSION:
            raise BadPageToken("page_token: unknown version")
        return cls(
            owner_id=_field(body, "o", str),
            as_of=_instant(body, "a"),
            weakest_first=_field(body, "w", bool),
            tiers=_tiers(body),
            last_score=_score(body),
            last_contact=_field(body, "c", str),
        )


T = TypeVar("T")


def _refuse_constant(name: str) -> float:
    raise BadPageToken(f"page_token: holds {name}, not a number")


def _field(body: dict[str, object], key: str, kind: type[T]) -> T:
    value = body.get(key)
    if not isinstance(value, kind):
        raise BadPageToken("page_token: not a token issued by this service")
    return value


def _instant(body: dict[str, object], key: str) -> float:
    try:
        return checked_float_seconds(body.get(key), "page_token.as_of")
    except BadInstant as exc:
        raise BadPageToken(str(exc)) from exc


def _score(body: dict[str, object]) -> float:
    value = body.get("s")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadPageToken("page_token: not a token issued by this service")
    if not 0.0 <= value <= 1.0:
        raise BadPageToken("page_token: last score outside 0..1")
    return float(value)


def _tiers(body: dict[str, object]) -> tuple[int, ...]:
    tiers = _field(body, "t", list)
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in tiers):
        raise BadPageToken("page_token: not a token issued by this service")
    return tuple(tiers)


def ranking_order(scores: FloatArray, contacts: list[str], weakest_first: bool) -> list[int]:
    """Indices by score (strongest or weakest first), ties by contact id ascending.

    `contacts` must be sorted ascending (the store returns them so): a stable
    sort on the score then keeps ties in contact order without a Python key.
    """
    primary = scores if weakest_first else -scores
    order: list[int] = np.argsort(primary, kind="stable").tolist()
    return order


def after_token(
    order: list[int], scores: FloatArray, contacts: list[str], token: PageToken
) -> list[int]:
    """The part of `order` strictly after the token's last item."""
    sign = 1.0 if token.weakest_first else -1.0
    last = (sign * token.last_score, token.last_contact)
    return [i for i in order if (sign * float(scores[i]), contacts[i]) > last]


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A validated ListRelationships request."""

    page_size: int
    weakest_first: bool
    tiers: tuple[int, ...]  # sorted, no duplicates; empty means all
    as_of: float
    after: PageToken | None


def parse_list_request(request: pb.ListRelationshipsRequest, default_as_of: float) -> ListQuery:
    """Validate a request; with a page token, its order and tiers must match the token's.

    `default_as_of` is used on the first page only; later pages keep the
    token's instant so every page ranks the same scores.
    """
    if not request.owner_id:
        raise BadRequest("owner_id: required")
    page_size = request.page_size or DEFAULT_PAGE_SIZE
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise BadRequest(f"page_size: {request.page_size}, must be 1..{MAX_PAGE_SIZE} (0 = 50)")
    if request.order not in _VALID_ORDERS:
        raise BadRequest(f"order: unknown value {request.order}")
    unknown = [t for t in request.tiers if t not in _VALID_TIERS]
    if unknown:
        raise BadRequest(f"tiers: unknown value {unknown[0]}")
    weakest_first = request.order == pb.SORT_ORDER_WEAKEST_FIRST
    tiers = tuple(sorted(set(request.tiers)))
    if not request.page_token:
        return ListQuery(page_size, weakest_first, tiers, default_as_of, None)
    token = PageToken.decode(request.page_token)
    if token.owner_id != request.owner_id:
        raise BadPageToken("page_token: issued for another owner_id")
    if token.weakest_first != weakest_first or token.tiers != tiers:
        raise BadPageToken("page_token: order and tiers must match the first request's")
    if request.HasField("as_of") and checked_seconds(request.as_of, "as_of") != token.as_of:
        raise BadPageToken("page_token: as_of must match the first request's (or be unset)")
    return ListQuery(page_size, weakest_first, tiers, token.as_of, token)
