"""How every shipped client opens a gRPC channel: plaintext, TLS, a bearer token.

`ClientSecurity` is a settings object (flags and `VINCULO_*` variables); the
token is read from a file, never from a flag, so it does not show in `ps`.
A token is only ever sent over TLS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from vinculo.security.bearer import AioBearerInterceptor, BearerInterceptor
from vinculo.security.tls import client_credentials
from vinculo.settings import SettingsError, setting


@dataclass(frozen=True)
class ClientSecurity:
    tls: bool = setting(False, "VINCULO_TLS", "connect with TLS (implied by --tls-ca)")
    tls_ca: str = setting("", "VINCULO_TLS_CA", "CA that signed the servers' certificates (PEM)")
    tls_client_cert: str = setting(
        "", "VINCULO_TLS_CLIENT_CERT", "client certificate for mutual TLS (PEM)"
    )
    tls_client_key: str = setting("", "VINCULO_TLS_CLIENT_KEY", "client private key (PEM)")
    token_file: str = setting("", "VINCULO_TOKEN_FILE", "file holding the bearer token to send")

    @property
    def uses_tls(self) -> bool:
        return self.tls or bool(self.tls_ca or self.tls_client_cert)

    def validate(self) -> None:
        if self.token_file and not self.uses_tls:
            raise SettingsError("token_file: a token is only sent over TLS; set tls_ca or tls")

    def token(self) -> str:
        try:
            token = Path(self.token_file).read_text().strip()
        except OSError as exc:
            raise SettingsError(
                f"token_file: cannot read {self.token_file}: {exc.strerror}"
            ) from exc
        if not token:
            raise SettingsError(f"token_file: {self.token_file} is empty")
        return token

    def credentials(self) -> grpc.ChannelCredentials | None:
        """None: plaintext."""
        self.validate()  # also when built directly, not through settings.load
        if not self.uses_tls:
            return None
        return client_credentials(self.tls_ca, self.tls_client_cert, self.tls_client_key)


PLAINTEXT = ClientSecurity()


def open_channel(
    address: str, security: ClientSecurity = PLAINTEXT, options: Sequence[tuple[str, Any]] = ()
) -> grpc.Channel:
    credentials = security.credentials()
    if credentials is None:
        return grpc.insecure_channel(address, options=options)
    channel = grpc.secure_channel(address, credentials, options=options)
    if not security.token_file:
        return channel
    return grpc.intercept_channel(channel, BearerInterceptor(security.token()))


def open_aio_channel(
    address: str, security: ClientSecurity = PLAINTEXT, options: Sequence[tuple[str, Any]] = ()
) -> grpc.aio.Channel:
    credentials = security.credentials()
    if credentials is None:
        return grpc.aio.insecure_channel(address, options=options)
    interceptors = [AioBearerInterceptor(security.token())] if security.token_file else None
    return grpc.aio.secure_channel(address, credentials, options=options, interceptors=interceptors)
