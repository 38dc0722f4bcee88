"""The server interceptor: who is calling (authentication), may they (authorization).

Identity: a bearer token in the `authorization` metadata (a JWT, verified by
jwt_tokens.py, whose `sub` names the caller; else checked against the token
store), else the common name of a client certificate the TLS layer
verified against the client CA. A bad token is UNAUTHENTICATED even beside a
good certificate. Health and reflection need no credential (probes, grpcurl).

Authorization: each service's RPCs are one action (IngestService: publish,
ScoringService: read; any other: admin) over the owners the request names
(`owner_id`, or each event's `owner_id`). A client stream is checked message
by message before the servicer sees the message, so a denied message is
never published. Denials are logged with the method and the caller's role,
never the identity or the owner ids (they are personal data).

It runs inside the metrics interceptor, so denied calls are still counted.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

import grpc

from vinculo.grpc_aio_streams import AioBehavior, AioLookup, AioStream
from vinculo.security.policy import ADMIN, PUBLISH, READ, Policy
from vinculo.security.tokens import TokenStore

if TYPE_CHECKING:  # PyJWT loads only where JWTs are configured (settings.py)
    from vinculo.security.jwt_tokens import JwtVerifier

log = logging.getLogger("vinculo.security")

OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
# ErasureService is a reader's: a person may forget (in) their own network.
SERVICE_ACTIONS = {
    "vinculo.v1.IngestService": PUBLISH,
    "vinculo.v1.ScoringService": READ,
    "vinculo.v1.ErasureService": READ,
}


def action_of(method: str) -> str:
    service = method.lstrip("/").partition("/")[0]
    return SERVICE_ACTIONS.get(service, ADMIN)


def owners_of(message: Any) -> list[str]:
    fields = message.DESCRIPTOR.fields_by_name
    if "owner_id" in fields:
        return [message.owner_id]
    if "events" in fields:
        return [event.owner_id for event in message.events]
    return []


class Authenticator:
    def __init__(
        self, tokens: TokenStore | None, trust_client_certs: bool, jwt: JwtVerifier | None = None
    ) -> None:
        self._tokens = tokens
        self._trust_certs = trust_client_certs
        self._jwt = jwt

    def identity(self, context: grpc.ServicerContext) -> str | None:
        for key, value in context.invocation_metadata():
            if key == "authorization":
                scheme, _, token = str(value).partition(" ")
                token = token.strip()
                if scheme.lower() != "bearer":
                    return None
                if self._jwt is not None and self._jwt.is_jwt(token):
                    return self._jwt.identity_for(token)
                return self._tokens.identity_for(token) if self._tokens is not None else None
        if self._trust_certs:
            names = context.auth_context().get("x509_common_name")
            if names:
                return bytes(names[0]).decode()
        return None


class AuthInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    def __init__(self, authenticator: Authenticator, policy: Policy) -> None:
        self._authenticator = authenticator
        self._policy = policy

    def intercept_service(
        self, continuation: Callable[[Any], Any], handler_call_details: Any
    ) -> Any:
        handler = continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.startswith(OPEN_SERVICES):
            return handler
        action = action_of(method)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, method, action),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_unary(handler.unary_stream, method, action),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_stream(handler.stream_unary, method, action),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(handler.stream_stream, method, action),
            handler.request_deserializer,
            handler.response_serializer,
        )

    def intercept_aio_stream(self, continuation: AioLookup, details: Any) -> AioStream | None:
        """The same checks for a client stream served async (vinculo.grpc_aio_streams)."""
        stream = continuation(details)
        method: str = details.method
        if stream is None or method.startswith(OPEN_SERVICES):
            return stream
        action = action_of(method)
        return stream.wrapped(lambda behavior: self._wrap_aio(behavior, method, action))

    def _wrap_aio(self, behavior: AioBehavior, method: str, action: str) -> AioBehavior:
        def wrapped(requests: AsyncIterator[Any], context: Any) -> AsyncIterator[Any]:
            identity = self._caller(context)

            async def checked() -> AsyncIterator[Any]:
                async for request in requests:
                    self._check(context, identity, method, action, request)
                    yield request

            return behavior(checked(), context)

        return wrapped

    def _caller(self, context: grpc.ServicerContext) -> str:
        identity = self._authenticator.identity(context)
        if identity is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid credential is required")
        return str(identity)

    def _check(
        self, context: grpc.ServicerContext, identity: str, method: str, action: str, message: Any
    ) -> None:
        owners = owners_of(message)
        if self._policy.allows(identity, action, owners):
            return
        role = self._policy.role_of(identity) or "none"
        log.warning("denied %s to a caller with role %s (%s)", method, role, action)
        context.abort(
            grpc.StatusCode.PERMISSION_DENIED, f"the caller may not {action} for these owners"
        )

    def _wrap_unary(
        self, behavior: Callable[..., Any], method: str, action: str
    ) -> Callable[..., Any]:
        def wrapped(request: Any, context: grpc.ServicerContext) -> Any:
            identity = self._caller(context)
            self._check(context, identity, method, action, request)
            return behavior(request, context)

        return wrapped

    def _wrap_stream(
        self, behavior: Callable[..., Any], method: str, action: str
    ) -> Callable[..., Any]:
        def wrapped(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
            identity = self._caller(context)

            def checked() -> Iterator[Any]:
                for request in requests:
                    self._check(context, identity, method, action, request)
                    yield request

            return behavior(checked(), context)

        return wrapped
