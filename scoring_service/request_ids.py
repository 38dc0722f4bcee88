"""The ids in a read or erasure request follow the ingest rules, before routing or reading.

The ingest service stores ids in Unicode normalisation form C (vinculo.identifiers),
so "josé" typed decomposed (NFD) in a read must find the contact "josé" stored
precomposed: without this, GetRelationship answered NOT_FOUND for one spelling
and the forwarding interceptor could route the two spellings of one owner to two
different partitions. So owner_id and contact_id are put in NFC in place, and an
id no event could carry (longer than 256 characters, or holding a control,
format or separator character) answers INVALID_ARGUMENT naming the field,
instead of NOT_FOUND echoing it back (a 100,000-character id used to overflow
the client's metadata limit). SuggestActions' `kinds` and `limit_per_kind` are
checked here too, like ListRelationships' `tiers` and `page_size`.

The forwarding interceptor routes by the normalised owner (it calls
`request_problem` on its parsed copy) and passes the request's bytes on as
received; the instance that answers normalises them here again. An empty id is
left to the servicer ("required").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from vinculo.identifiers import forbidden_character, nfc
from vinculo.v1 import scoring_pb2 as pb
from vinculo.validation import MAX_ID_LENGTH

_ID_FIELDS = ("owner_id", "contact_id")
_ACTION_KINDS = frozenset(pb.ActionKind.values()) - {pb.ACTION_KIND_UNSPECIFIED}


def request_problem(request: Any) -> str | None:
    """Normalise the request's ids in place; the first problem found, naming the field."""
    for name in _ID_FIELDS:
        value = getattr(request, name, None)
        if not value:
            continue
        if len(value) > MAX_ID_LENGTH:
            return f"{name}: {len(value)} characters, at most {MAX_ID_LENGTH} allowed"
        if not value.isascii():
            value = nfc(value)
            setattr(request, name, value)
        if not value.isprintable():
            bad = forbidden_character(value)
            if bad is not None:
                return f"{name}: contains {bad}, which no id may contain"
    if isinstance(request, pb.SuggestActionsRequest):
        return _suggest_problem(request)
    return None


def _suggest_problem(request: pb.SuggestActionsRequest) -> str | None:
    unknown = [kind for kind in request.kinds if kind not in _ACTION_KINDS]
    if unknown:
        return f"kinds: unknown value {unknown[0]}"
    if request.limit_per_kind < 0:
        return f"limit_per_kind: {request.limit_per_kind}, must be >= 0 (0 = 10)"
    return None


class RequestIdsInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Unary and server-streaming calls: ids normalised, impossible ids refused."""

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _checked(handler.unary_unary),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.unary_stream_rpc_method_handler(
            _checked(handler.unary_stream),
            handler.request_deserializer,
            handler.response_serializer,
        )


def _checked(behavior: Callable[..., Any]) -> Callable[..., Any]:
    def call(request: Any, context: grpc.ServicerContext) -> Any:
        problem = request_problem(request)
        if problem is not None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        return behavior(request, context)

    return call
