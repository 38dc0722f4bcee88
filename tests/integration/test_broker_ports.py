"""The embedded broker never passes another process's listener off as its own.

A port picked free is closed before Tansu binds it; when another process takes it
meanwhile, Tansu exits (address in use), but the port still answers: the other
process's. Tests then talked to another test's broker (seen: a topic with another
test's partition count)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from vinculo_apps.devstack import broker as broker_module
from vinculo_apps.devstack.broker import EmbeddedBroker, PortTaken, free_port
from vinculo_apps.devstack.ports import listens

pytestmark = pytest.mark.integration


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port something other than a broker listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_port_taken_before_the_broker_binds_it_is_picked_again(
    held_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    picks = iter([held_port])  # the race, made certain: the first pick is taken
    monkeypatch.setattr(broker_module, "free_port", lambda host: next(picks, free_port(host)))
    with EmbeddedBroker() as running:
        assert running.port != held_port
        assert running.process is not None and listens(running.process.pid, running.port)


def test_a_given_port_held_by_another_process_fails_the_start(held_port: int) -> None:
    with pytest.raises(PortTaken, match=f"127.0.0.1:{held_port} is held by pid"):
        EmbeddedBroker(port=held_port).start()
