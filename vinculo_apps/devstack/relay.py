"""A loopback relay in front of the embedded broker, so librdkafka clients (kcat) work.

Debian's kcat links librdkafka 2.0.2, which cannot parse the ApiVersions v3
answer of the embedded broker (Tansu 0.6.0) and fails with "Read underflow".
Apache Kafka answers an ApiVersions request it finds too new with
UNSUPPORTED_VERSION, and librdkafka then retries with v0; Tansu does not. The
relay gives librdkafka exactly that answer and forwards every other byte
unchanged, both ways. Once a connection's first request other than an
ApiVersions v3 from librdkafka has passed, it only copies bytes.

`vinculo up` puts the relay on the broker port and has the broker advertise
it, so every client, the services included, reaches the broker through it (a
client that followed the broker's own address would bypass it). Production
brokers (Apache Kafka) need none of this.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

API_VERSIONS, UNSUPPORTED_VERSION = 18, 35


class ApiVersionsRelay:
    """Listens on (host, port) and relays each connection to `upstream`; close() stops it."""

    def __init__(self, host: str, port: int, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.server = socket.create_server((host, port))
        self.port = int(self.server.getsockname()[1])
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name="kafka-relay", daemon=True)
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
            try:
                upstream = socket.create_connection(self.upstream, timeout=5.0)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets = {sock for sock in self._sockets if sock.fileno() != -1}
                self._sockets.update((client, upstream))
            threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
            threading.Thread(target=_handshake, args=(client, upstream), daemon=True).start()


def _handshake(client: socket.socket, upstream: socket.socket) -> None:
    """Answer librdkafka's ApiVersions v3 requests; after the first other request, pump."""
    try:
        while True:
            size = struct.unpack(">i", _read(client, 4))[0]
            payload = _read(client, size)
            key, version, correlation = struct.unpack(">hhi", payload[:8])
            if key == API_VERSIONS and version >= 3 and b"librdkafka" in payload:
                client.sendall(struct.pack(">iih", 6, correlation, UNSUPPORTED_VERSION))
                continue
            upstream.sendall(struct.pack(">i", size) + payload)
            if key != API_VERSIONS:
                break
    except (EOFError, OSError, struct.error):
        _close(client, upstream)
        return
    _pump(client, upstream)


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


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
