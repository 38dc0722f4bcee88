"""Answer any owner on any instance: a call for an owner held elsewhere is forwarded.

A server interceptor wraps every ScoringService method whose request names an
owner: the owner's partition is located (`PartitionDirectory.locate`); held
here and caught up, the call runs here; held by another instance, the request's
bytes as received go to that instance over gRPC with the caller's metadata and
what is left of its deadline, and the answer's bytes (or the error) come back
unchanged. A forwarded call carries `vinculo-forwarded-by`, and is never
forwarded again: if the table changed meanwhile, it waits here like any call
for a moving partition, then answers UNAVAILABLE with a retry hint in
`retry-after-ms`.

It sits right after the request metrics and the request log (`ServiceServer`'s
`routing` interceptors), before the decode guard, the call deadline, auth and
the id checks: a forwarded call skips those here because the holder runs them
on the same bytes and metadata (auth checks the caller's token there; a
forwarded call's time is bounded by the caller's deadline, else by the
server's maximum call time plus a margin, so the holder's own limit answers
first). What is parsed here is only what routing needs: the request, once,
with the guarded deserializer the inner handler would use, its ids
normalised; a request that cannot be decoded or names an impossible id is
answered here by those same inner interceptors.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter

from scoring_service.request_ids import request_problem
from scoring_service.routing.directory import PartitionDirectory, PartitionUnavailable

log = logging.getLogger(__name__)

SERVICE_PREFIX = "/vinculo.v1.ScoringService/"
FORWARDED_BY = "vinculo-forwarded-by"
RETRY_AFTER = "retry-after-ms"
RETRY_AFTER_MS = "1000"
# Headers that belong to one hop (set again by the next channel), never copied.
_HOP_HEADERS = ("grpc-", ":", "user-agent", "content-type", "te")
DEFAULT_FORWARD_TIMEOUT_S = 30.0
# A forward outlives the holder's own maximum call time by this much, so that the holder's
# DEADLINE_EXCEEDED (naming VINCULO_GRPC_MAX_CALL_S) is what the caller gets.
FORWARD_MARGIN_S = 1.0
# A caller's time left above this is grpcio's "no deadline" (`_deadline_left`).
NO_DEADLINE_S = 1e15
OWNER_METHODS = (
    "GetRelationship",
    "ListRelationships",
    "GetNetworkSummary",
    "SuggestActions",
    "WatchRelationships",
)


def _identity(data: bytes) -> bytes:
    return data


class ForwardingInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(
        self,
        directory: PartitionDirectory,
        wait_s: float,
        registry: CollectorRegistry,
        credentials: grpc.ChannelCredentials | None = None,
        peer_name: str = "",
        max_call_s: float = 0.0,
    ) -> None:
        """credentials: TLS to the other instances (None: plaintext, as this one serves);
        peer_name: the name their certificates must hold, when not the advertised host
        (replicas that advertise their own IP address share one certificate name);
        max_call_s: the servers' maximum unary call time (`VINCULO_GRPC_MAX_CALL_S`, 0:
        none), which bounds a forward without a deadline of its own (plus a margin)."""
        self._unary_bound_s = (
            max_call_s + FORWARD_MARGIN_S if max_call_s > 0 else DEFAULT_FORWARD_TIMEOUT_S
        )
        self._credentials = credentials
        self._options = [("grpc.ssl_target_name_override", peer_name)] if peer_name else []
        self._directory = directory
        self._wait_s = wait_s
        self._forwarded = Counter(
            "vinculo_scoring_forwarded_calls_total",
            "Calls answered by forwarding them to the scoring instance holding the owner.",
            ["method"],
            registry=registry,
        )
        self._unavailable = Counter(
            "vinculo_scoring_partition_unavailable_total",
            "Calls answered UNAVAILABLE because the owner's partition was moving.",
            ["method"],
            registry=registry,
        )
        for name in OWNER_METHODS:  # every series exists from the start, at 0
            self._forwarded.labels(name)
            self._unavailable.labels(name)
        self._channels: dict[str, grpc.Channel] = {}
        # One callable per (address, method, streaming), made once: a forward only calls it.
        self._stubs: dict[tuple[str, str, bool], Any] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()
            self._stubs.clear()

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or not method.startswith(SERVICE_PREFIX):
            return handler
        parse = handler.request_deserializer
        serialize = _passing_bytes(handler.response_serializer)
        if parse is None:
            return handler
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, parse, method), _identity, serialize
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, parse, method), _identity, serialize
            )
        return handler

    # --- the wrappers: `raw` is the request's bytes as the caller sent them -------------

    def _unary(
        self, behavior: Callable[..., Any], parse: Callable[[bytes], Any], method: str
    ) -> Callable[..., Any]:
        forwarded = self._forwarded.labels(_short(method))

        def call(raw: bytes, context: grpc.ServicerContext) -> Any:
            request = parse(raw)
            address = self._holder(request, context, method)
            if address is None:
                return behavior(request, context)
            forwarded.inc()
            stub = self._stub(address, method, streaming=False)
            try:
                response, call_ = stub.with_call(raw, **self._call_options(context, False))
            except grpc.RpcError as exc:
                _relay_error(exc, context)
            context.set_trailing_metadata(call_.trailing_metadata() or ())
            return response

        return call

    def _stream(
        self, behavior: Callable[..., Any], parse: Callable[[bytes], Any], method: str
    ) -> Callable[..., Any]:
        forwarded = self._forwarded.labels(_short(method))

        def call(raw: bytes, context: grpc.ServicerContext) -> Iterator[Any]:
            request = parse(raw)
            address = self._holder(request, context, method)
            if address is None:
                yield from behavior(request, context)
                return
            forwarded.inc()
            stub = self._stub(address, method, streaming=True)
            responses = stub(raw, **self._call_options(context, True))
            context.add_callback(responses.cancel)  # the caller went away: so does the hop
            try:
                yield from responses
            except grpc.RpcError as exc:
                _relay_error(exc, context)

        return call

    # --- helpers ---------------------------------------------------------------------

    def _holder(self, request: Any, context: grpc.ServicerContext, method: str) -> str | None:
        """The address to forward to; None: answered here (held here, or a request the
        inner interceptors or the servicer refuse: undecodable, a missing or impossible id)."""
        owner_id = getattr(request, "owner_id", "")
        if not owner_id or request_problem(request) is not None:
            return None
        forwarded = any(key == FORWARDED_BY for key, _ in context.invocation_metadata())
        remaining = _deadline_left(context)
        # Answer UNAVAILABLE before the caller's own deadline, so it learns why.
        wait_s = self._wait_s if remaining is None else min(self._wait_s, remaining * 0.8)
        try:
            location = self._directory.locate(
                request.owner_id, max(wait_s, 0.0), here_only=forwarded
            )
        except PartitionUnavailable as exc:
            self._unavailable.labels(_short(method)).inc()
            context.set_trailing_metadata(((RETRY_AFTER, RETRY_AFTER_MS),))
            context.abort(grpc.StatusCode.UNAVAILABLE, f"{exc}; retry shortly")
            raise  # abort raises; this line is for the type checker
        return location.address

    def _call_options(self, context: grpc.ServicerContext, streaming: bool) -> dict[str, Any]:
        """The caller's metadata (less one hop's headers) and what is left of its deadline;
        without one, a unary forward is bounded by `_unary_bound_s` and a stream by nothing
        (a watch stream lives until its caller ends it)."""
        metadata = [
            (key, value)
            for key, value in context.invocation_metadata()
            if not key.startswith(_HOP_HEADERS)
        ]
        metadata.append((FORWARDED_BY, self._directory.own_address))
        remaining = _deadline_left(context)
        if not streaming:
            remaining = (
                self._unary_bound_s if remaining is None else min(remaining, self._unary_bound_s)
            )
        return {"metadata": metadata, "timeout": remaining}

    def _stub(self, address: str, method: str, streaming: bool) -> Any:
        key = (address, method, streaming)
        stub = self._stubs.get(key)
        if stub is None:
            channel = self._channel(address)
            make = channel.unary_stream if streaming else channel.unary_unary
            stub = make(method, request_serializer=_identity, response_deserializer=_identity)
            with self._lock:
                stub = self._stubs.setdefault(key, stub)
        return stub

    def _channel(self, address: str) -> grpc.Channel:
        with self._lock:
            channel = self._channels.get(address)
            if channel is None:
                channel = (
                    grpc.insecure_channel(address, self._options)
                    if self._credentials is None
                    else grpc.secure_channel(address, self._credentials, self._options)
                )
                self._channels[address] = channel
            return channel


def _deadline_left(context: grpc.ServicerContext) -> float | None:
    """Seconds left of the caller's deadline; None if it set none. grpcio's sync server
    answers `time_remaining()` with about 9.2e18 s then (its infinite future), and that
    passed on as a timeout ends the forward at once with DEADLINE_EXCEEDED (measured)."""
    remaining = context.time_remaining()
    if remaining is None or remaining > NO_DEADLINE_S:
        return None
    return max(float(remaining), 0.0)


def _short(method: str) -> str:
    return method.rsplit("/", 1)[-1]


def _passing_bytes(serializer: Callable[[Any], bytes] | None) -> Callable[[Any], bytes]:
    """The method's serializer, letting a forwarded answer's bytes through as they are."""

    def serialize(message: Any) -> bytes:
        if isinstance(message, bytes):
            return message
        assert serializer is not None
        return serializer(message)

    return serialize


def _relay_error(exc: grpc.RpcError, context: grpc.ServicerContext) -> None:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    if code == grpc.StatusCode.CANCELLED and context.is_active():
        # Our caller did not cancel: the holder is stopping (gRPC cancels the calls a
        # stopping server has not handed to a handler yet, grpc/grpc#41785). Retryable.
        code, details = grpc.StatusCode.UNAVAILABLE, f"the partition's holder stopped ({details})"
        trailing = ((RETRY_AFTER, RETRY_AFTER_MS),)
    elif code == grpc.StatusCode.UNAVAILABLE and not trailing:
        # The holder could not be reached (restarting, or gone; gRPC's own transparent
        # retry did not get through): retryable as well.
        details = f"the partition's holder is unreachable ({details})"
        trailing = ((RETRY_AFTER, RETRY_AFTER_MS),)
    if trailing:
        context.set_trailing_metadata(trailing)
    context.abort(code, details or "")
