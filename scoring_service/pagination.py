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

import numpy as np

from scoring_service.features.state import FloatArray
from vinculo.timestamps import seconds_of
from vinculo.v1 import events_pb2 as events
from vinculo.v1 import scoring_pb2 as pb

TOKEN_VERSION = 1
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
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
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            body = json.loads(raw)
            if body.get("v") != TOKEN_VERSION:
                raise BadPageToken("page_token: unknown version")
            return cls(
                owner_id=str(body["o"]),
                as_of=float(body["a"]),
                weakest_first=bool(body["w"]),
                tiers=tuple(int(t) for t in body["t"]),
                last_score=float(body["s"]),
                last_contact=str(body["c"]),
            )
        except (binascii.Error, ValueError, KeyError, TypeError, AttributeError) as exc:
            if isinstance(exc, BadPageToken):
                raise
            raise BadPageToken("page_token: not a token issued by this service") from exc


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
    if request.HasField("as_of") and seconds_of(request.as_of) != token.as_of:
        raise BadPageToken("page_token: as_of must match the first request's (or be unset)")
    return ListQuery(page_size, weakest_first, tiers, token.as_of, token)
