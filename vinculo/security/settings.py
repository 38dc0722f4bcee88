"""The security settings both servers share, and what they build.

Both services' settings classes inherit `ServerSecuritySettings`; by default
everything is off (plaintext, no auth), which `vinculo up` uses on loopback.
Turning auth on requires TLS: a bearer token must never cross the network in
clear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from vinculo.call_deadline import CallDeadlineInterceptor, DeadlineWatchdog
from vinculo.security.interceptor import Authenticator, AuthInterceptor
from vinculo.security.policy import Policy
from vinculo.security.tls import server_credentials
from vinculo.security.tokens import TokenStore
from vinculo.settings import SettingsError, setting


@dataclass(frozen=True)
class ServerSecuritySettings:
    tls_cert: str = setting("", "VINCULO_TLS_CERT", "server certificate (PEM); empty: plaintext")
    tls_key: str = setting("", "VINCULO_TLS_KEY", "server private key (PEM)")
    tls_client_ca: str = setting(
        "", "VINCULO_TLS_CLIENT_CA", "CA of client certificates (mutual TLS); their CN names them"
    )
    auth_tokens_file: str = setting(
        "", "VINCULO_AUTH_TOKENS_FILE", "file of '<identity> sha256:<hex>' lines (bearer tokens)"
    )
    auth_jwt_public_key_file: str = setting(
        "", "VINCULO_AUTH_JWT_PUBLIC_KEY_FILE", "PEM public key that signs bearer JWTs"
    )
    auth_jwt_jwks: str = setting(
        "", "VINCULO_AUTH_JWT_JWKS", "JWKS file or https URL with the keys that sign bearer JWTs"
    )
    auth_jwt_issuer: str = setting("", "VINCULO_AUTH_JWT_ISSUER", "required `iss` of JWTs")
    auth_jwt_audience: str = setting("", "VINCULO_AUTH_JWT_AUDIENCE", "required `aud` of JWTs")
    auth_policy_file: str = setting(
        "",
        "VINCULO_AUTH_POLICY_FILE",
        "JSON roles per identity; if set, calls need needs a credential",
    )
    grpc_max_message_mb: int = setting(
        8, "VINCULO_GRPC_MAX_MESSAGE_MB", "largest gRPC message received or sent, in MiB"
    )
    grpc_max_call_s: float = setting(
        30.0,
        "VINCULO_GRPC_MAX_CALL_S",
        "a unary call running longer is answered DEADLINE_EXCEEDED (0: no server limit)",
    )

    @property
    def auth_enabled(self) -> bool:
        return bool(self.auth_policy_file)

    def validate_security(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise SettingsError("tls_cert, tls_key: give both or neither")
        if self.tls_client_ca and not self.tls_cert:
            raise SettingsError("tls_client_ca: mutual TLS needs tls_cert and tls_key")
        jwt = bool(self.auth_jwt_public_key_file or self.auth_jwt_jwks)
        if self.auth_jwt_public_key_file and self.auth_jwt_jwks:
            raise SettingsError("auth_jwt_public_key_file, auth_jwt_jwks: give one, not both")
        if jwt and not (self.auth_jwt_issuer and self.auth_jwt_audience):
            raise SettingsError("auth_jwt_issuer, auth_jwt_audience: required with JWTs")
        has_credentials = bool(self.auth_tokens_file or self.tls_client_ca or jwt)
        if self.auth_enabled and not has_credentials:
            raise SettingsError(
                "auth_policy_file: needs auth_tokens_file, auth_jwt_* or tls_client_ca"
            )
        if has_credentials and not self.auth_enabled:
            raise SettingsError(
                "auth_tokens_file/auth_jwt_*/tls_client_ca: needs auth_policy_file (roles)"
            )
        if self.auth_enabled and not self.tls_cert:
            raise SettingsError("auth_policy_file: auth needs TLS (tls_cert, tls_key)")
        if not 1 <= self.grpc_max_message_mb <= 512:
            raise SettingsError("grpc_max_message_mb: must be in 1..512")
        if self.grpc_max_call_s < 0:
            raise SettingsError("grpc_max_call_s: must be >= 0 (0: no server limit)")


@dataclass
class ServerSecurity:
    """What ServiceServer needs: credentials (None: plaintext), interceptors, options."""

    credentials: grpc.ServerCredentials | None = None
    interceptors: list[Any] = field(default_factory=list)
    options: list[tuple[str, Any]] = field(default_factory=list)


def build_authenticator(settings: ServerSecuritySettings) -> Authenticator:
    """How callers are named: token file, JWT verifier, client certificates."""
    tokens = TokenStore.load(Path(settings.auth_tokens_file)) if settings.auth_tokens_file else None
    verifier = None
    if settings.auth_jwt_public_key_file or settings.auth_jwt_jwks:
        # Here, not at the top: PyJWT and its cryptography imports cost every
        # service start ~40 ms, and most deployments use no JWTs.
        from vinculo.security.jwt_tokens import load_verifier

        verifier = load_verifier(
            settings.auth_jwt_public_key_file,
            settings.auth_jwt_jwks,
            settings.auth_jwt_issuer,
            settings.auth_jwt_audience,
        )
    return Authenticator(tokens, bool(settings.tls_client_ca), verifier)


def build_server_security(settings: ServerSecuritySettings) -> ServerSecurity:
    """Read the files the settings name; errors name the setting at fault."""
    limit = settings.grpc_max_message_mb * 1024 * 1024
    security = ServerSecurity(
        options=[
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", limit),
        ]
    )
    if settings.grpc_max_call_s > 0:
        security.interceptors.append(
            CallDeadlineInterceptor(DeadlineWatchdog(settings.grpc_max_call_s))
        )
    if settings.tls_cert:
        security.credentials = server_credentials(
            settings.tls_cert, settings.tls_key, settings.tls_client_ca
        )
    if settings.auth_enabled:
        authenticator = build_authenticator(settings)
        security.interceptors.append(
            AuthInterceptor(authenticator, Policy.load(Path(settings.auth_policy_file)))
        )
    return security
