"""Answer any owner on any instance: a call for an owner held elsewhere is forwarded.

A server interceptor wraps every ScoringService method whose request names an
owner: the owner's partition is located (`PartitionDirectory.locate`); held
here and caught up, the call runs here; held by another instance, the request
bytes go to that instance over gRPC with the caller's metadata and what is left
of its deadline, and the answer (or error) comes back unchanged. A forwarded
call carries `vinculo-forwarded-by`, and is never forwarded again: if the
table changed meanwhile, it waits here like any call for a moving partition,
then answers UNAVAILABLE with a retry hint in `retry-after-ms`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
from prometheus_client import CollectorRegistry, Counter

from scoring_service.routing.directory import Location, PartitionDirectory, PartitionUnavailable

log = logging.getLogger(__name__)

SERVICE_PREFIX = "/vinculo.v1.ScoringService/"
FORWARDED_BY = "vinculo-forwarded-by"
RETRY_AFTER = "retry-after-ms"
RETRY_AFTER_MS = "1000"
# Headers that belong to one hop (set again by the next channel), never copied.
_HOP_HEADERS = ("grpc-", ":", "user-agent", "content-type", "te")
DEFAULT_FORWARD_TIMEOUT_S = 30.0
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
    ) -> None:
        """credentials: TLS to the other instances (None: plaintext, as this one serves);
        peer_name: the name their certificates must hold, when not the advertised host
        (replicas that advertise their own IP address share one certificate name)."""
        self._credentials = credentials
        self._tls_options = [("grpc.ssl_target_name_override", peer_name)] if peer_name else []
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
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(handler.unary_unary, method),
                handler.request_deserializer,
                _passing_bytes(handler.response_serializer),
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._stream(handler.unary_stream, method),
                handler.request_deserializer,
                _passing_bytes(handler.response_serializer),
            )
        return handler

    # --- the wrappers ------------------------------------------------------------------

    def _unary(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            location = self._locate(request, context, method)
            if location is None or location.address is None:
                return behavior(request, context)
            self._forwarded.labels(_short(method)).inc()
            stub = self._stub(location.address, method, streaming=False)
            try:
                response, call_ = stub.with_call(
                    request.SerializeToString(), **self._call_options(context)
                )
            except grpc.RpcError as exc:
                _relay_error(exc, context)
            context.set_trailing_metadata(call_.trailing_metadata() or ())
            return response

        return call

    def _stream(self, behavior: Callable[..., Any], method: str) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            location = self._locate(request, context, method)
            if location is None or location.address is None:
                yield from behavior(request, context)
                return
            self._forwarded.labels(_short(method)).inc()
            stub = self._stub(location.address, method, streaming=True)
            responses = stub(request.SerializeToString(), **self._call_options(context))
            context.add_callback(responses.cancel)  # the caller went away: so does the hop
            try:
                yield from responses
            except grpc.RpcError as exc:
                _relay_error(exc, context)

        return call

    # --- helpers ---------------------------------------------------------------------

    def _locate(self, request: Any, context: grpc.ServicerContext, method: str) -> Location | None:
        owner_id = getattr(request, "owner_id", "")
        if not owner_id:
            return None  # the servicer names the missing field
        forwarded = any(key == FORWARDED_BY for key, _ in context.invocation_metadata())
        remaining = context.time_remaining()
        # Answer UNAVAILABLE before the caller's own deadline, so it learns why.
        wait_s = self._wait_s if remaining is None else min(self._wait_s, remaining * 0.8)
        try:
            return self._directory.locate(owner_id, max(wait_s, 0.0), here_only=forwarded)
        except PartitionUnavailable as exc:
            self._unavailable.labels(_short(method)).inc()
            context.set_trailing_metadata(((RETRY_AFTER, RETRY_AFTER_MS),))
            context.abort(grpc.StatusCode.UNAVAILABLE, f"{exc}; retry shortly")
            raise  # abort raises; this line is for the type checker

    def _call_options(self, context: grpc.ServicerContext) -> dict[str, Any]:
        metadata = [
            (key, value)
            for key, value in context.invocation_metadata()
            if not key.startswith(_HOP_HEADERS)
        ]
        metadata.append((FORWARDED_BY, self._directory.own_address))
        remaining = context.time_remaining()
        timeout = DEFAULT_FORWARD_TIMEOUT_S if remaining is None else max(remaining, 0.0)
        return {"metadata": metadata, "timeout": timeout}

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
                    grpc.insecure_channel(address)
                    if self._credentials is None
                    else grpc.secure_channel(address, self._credentials, self._tls_options)
                )
                self._channels[address] = channel
            return channel


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
    if trailing:
        context.set_trailing_metadata(trailing)
    context.abort(code, details or "")
