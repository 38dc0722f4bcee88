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

import socket
import struct
import threading

from vinculo_apps.devstack.socket_relay import SocketRelay, close_all, pump

API_VERSIONS, UNSUPPORTED_VERSION = 18, 35


class ApiVersionsRelay(SocketRelay):
    """Listens on (host, port) and relays each connection to `upstream`; close() stops it."""

    def __init__(self, host: str, port: int, upstream: tuple[str, int]) -> None:
        super().__init__(host, port, upstream, name="kafka-relay")

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = self._connect_upstream()
        except OSError:
            close_all(client)
            return
        self._track(upstream)
        threading.Thread(target=pump, args=(upstream, client), daemon=True).start()
        _handshake(client, upstream)


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
        close_all(client, upstream)
        return
    pump(client, upstream)


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data
