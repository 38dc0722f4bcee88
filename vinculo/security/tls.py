"""gRPC credentials from PEM files: the server's, and a client's."""

from __future__ import annotations

from pathlib import Path

import grpc

from vinculo.settings import SettingsError


class TlsConfigError(SettingsError):
    """A TLS file is missing or unreadable; the message names the setting."""


def read_pem(path: str, setting: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"{setting}: cannot read {path!r}: {exc.strerror}") from exc
    if b"-----BEGIN" not in data:
        raise TlsConfigError(f"{setting}: {path!r} is not a PEM file")
    return data


def server_credentials(cert: str, key: str, client_ca: str = "") -> grpc.ServerCredentials:
    """TLS with the server's certificate chain and key.

    With `client_ca`, every client must present a certificate signed by that CA
    (mutual TLS), health probes included; its common name names the caller.
    (gRPC Python cannot request a client certificate without requiring it.)
    """
    pair = (read_pem(key, "tls_key"), read_pem(cert, "tls_cert"))
    if not client_ca:
        return grpc.ssl_server_credentials([pair])
    return grpc.ssl_server_credentials(
        [pair], root_certificates=read_pem(client_ca, "tls_client_ca"), require_client_auth=True
    )


def client_credentials(ca: str, cert: str = "", key: str = "") -> grpc.ChannelCredentials:
    """TLS trusting `ca` (empty: the system's roots), with a client certificate if given."""
    if bool(cert) != bool(key):
        raise TlsConfigError("tls_client_cert, tls_client_key: give both or neither")
    return grpc.ssl_channel_credentials(
        root_certificates=read_pem(ca, "tls_ca") if ca else None,
        private_key=read_pem(key, "tls_client_key") if key else None,
        certificate_chain=read_pem(cert, "tls_client_cert") if cert else None,
    )
