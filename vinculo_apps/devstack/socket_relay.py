"""The listener both broker relays share: accept, track every socket, copy bytes, close.

A subclass says what to do with one accepted connection (`_relay`, run on a
thread of its own); `close()` stops accepting and closes every relayed socket,
so a relay never outlives the stack that started it.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class SocketRelay:
    """Listens on (host, port); each accepted connection is handed to `_relay`."""

    def __init__(self, host: str, port: int, upstream: tuple[str, int], name: str) -> None:
        self.upstream = upstream
        self.server = socket.create_server((host, port))
        self.port = int(self.server.getsockname()[1])
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name=name, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop accepting and close every relayed connection."""
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()
        with self._lock:
            sockets, self._sockets = list(self._sockets), set()
        close_all(*sockets)
        self._thread.join(5.0)

    def _relay(self, client: socket.socket) -> None:
        raise NotImplementedError

    def _track(self, *sockets: socket.socket) -> None:
        """Remember sockets for close(), forgetting those already closed."""
        with self._lock:
            self._sockets = {sock for sock in self._sockets if sock.fileno() != -1}
            self._sockets.update(sockets)

    def _connect_upstream(self) -> socket.socket:
        upstream = socket.create_connection(self.upstream, timeout=5.0)
        upstream.settimeout(None)
        return upstream

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            self._track(client)
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()


def pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes from source to sink until either side ends, then close both."""
    try:
        while chunk := source.recv(65536):
            sink.sendall(chunk)
    except OSError:
        pass
    close_all(source, sink)


def close_all(*sockets: socket.socket) -> None:
    for sock in sockets:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
