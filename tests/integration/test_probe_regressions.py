"""Failures the outside-in probe of issue 22 found, through the services' gRPC ports.

- Profile text (contact_name, company, position) took any character: an ESC
  (terminal escape), a NUL or a right-to-left override went into reports.
- Reads did not normalise ids: "josé" typed decomposed (NFD) answered NOT_FOUND
  for the contact the ingest service stored precomposed (NFC).
- An id no event could carry was echoed back in NOT_FOUND: a 100,000-character
  owner_id overflowed the client's metadata limit (RESOURCE_EXHAUSTED at the client).
- SuggestActions took unknown `kinds` and a negative `limit_per_kind` silently.
- 40 calls whose client sent headers and half a message held all 16 ingest
  workers: PublishEvents and health timed out (slowloris).
- A LinkedIn export's unsent drafts (IS MESSAGE DRAFT = Yes) counted as sent
  messages; a position over two lines kept two spaces.
- A stored text value no longer UTF-8 (in `meta`) passed the start checks; the
  consumer then failed on every assignment, blaming the broker, never ready.
"""

from __future__ import annotations

import socket
import sqlite3
import time
import unicodedata
from contextlib import closing
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.harness import ServiceProcess, wait_until
from tests.integration.scoring_helpers import scoring_service
from tests.integration.test_ingest import ACCEPTED, REJECTED, event, publish
from tests.integration.test_scoring_damage import refused_start
from tests.integration.test_scoring_faults import all_scored, owners_batch, send_batch
from tests.unit.test_linkedin_import import write_zip
from vinculo.v1 import scoring_pb2 as spb
from vinculo.v1 import scoring_pb2_grpc
from vinculo_apps.cli import main
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

NFC = unicodedata.normalize("NFC", "josé")
NFD = unicodedata.normalize("NFD", "josé")


def test_profile_text_with_control_characters_is_rejected_and_the_rest_tidied(
    ingest: ServiceProcess, scoring: ServiceProcess
) -> None:
    forbidden = {"\x1b": "U+001B", "\x00": "U+0000", "\x7f": "U+007F", "\x9b": "U+009B"}
    events = []
    for i, (char, _) in enumerate(forbidden.items()):
        field = ("contact_name", "contact_company", "contact_position")[i % 3]
        e = event(f"p-{i}", contact=f"c{i}")
        setattr(e, field, f"Ana{char}Ruiz")
        events.append((field, e))
    kept = event("p-ok", contact="ck")
    # Line breaks become spaces, a bidi override goes, a zero-width joiner stays.
    kept.contact_name, kept.contact_company = "Zoë\u200dRuiz", "Acme\nInc\u202e\t"
    results = publish(ingest, [e for _, e in events] + [kept])
    for (field, _), result, code in zip(events, results, forbidden.values(), strict=False):
        assert result.status == REJECTED, (field, result)
        assert result.reason_code == f"bad_{field}"
        assert result.reason.startswith(f"{field}: contains {code}")
    assert results[-1].status == ACCEPTED
    with grpc.insecure_channel(scoring.address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        request = spb.GetRelationshipRequest(owner_id="ana", contact_id="ck")
        found = wait_until(
            lambda: (
                _found(lambda: stub.GetRelationship(request, timeout=10))
                and stub.GetRelationship(request, timeout=10).relationship
            ),
            timeout_s=60,
            what="the kept event scored",
        )
    assert (found.contact_name, found.contact_company) == ("Zoë\u200dRuiz", "Acme Inc")


def test_reads_find_an_id_typed_in_either_normalisation_form(
    ingest: ServiceProcess, scoring: ServiceProcess
) -> None:
    assert publish(ingest, [event("j-1", owner="own", contact=NFD)])[0].status == ACCEPTED
    with grpc.insecure_channel(scoring.address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)

        def relationship(owner: str, contact: str) -> spb.GetRelationshipResponse:
            request = spb.GetRelationshipRequest(owner_id=owner, contact_id=contact)
            return stub.GetRelationship(request, timeout=10)

        wait_until(
            lambda: _found(lambda: relationship("own", NFC)), timeout_s=60, what="josé scored"
        )
        assert relationship("own", NFD).relationship.contact_id == NFC
        # the mirrored copy makes josé an owner too: either spelling reads the network
        for spelling in (NFC, NFD):
            summary = stub.GetNetworkSummary(
                spb.GetNetworkSummaryRequest(owner_id=spelling), timeout=10
            )
            assert summary.total_contacts == 1


def _found(read: object) -> bool:
    try:
        read()  # type: ignore[operator]
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.NOT_FOUND:
            return False
        raise
    return True


IMPOSSIBLE_REQUESTS: list[tuple[object, str]] = [
    (spb.GetRelationshipRequest(owner_id="x" * 100_000, contact_id="k"), "owner_id"),
    (spb.GetRelationshipRequest(owner_id="own", contact_id="k\u202e"), "contact_id"),
    (spb.GetNetworkSummaryRequest(owner_id="own\x00"), "owner_id"),
    (spb.SuggestActionsRequest(owner_id="own", kinds=[77]), "kinds"),  # type: ignore[list-item]
    (spb.SuggestActionsRequest(owner_id="own", limit_per_kind=-3), "limit_per_kind"),
]


def test_impossible_request_fields_answer_invalid_argument_naming_the_field(
    scoring: ServiceProcess,
) -> None:
    with grpc.insecure_channel(scoring.address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        for request, field in IMPOSSIBLE_REQUESTS:  # one service for all: each start costs
            method = type(request).__name__.removesuffix("Request")
            with pytest.raises(grpc.RpcError) as caught:
                getattr(stub, method)(request, timeout=10)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
            assert caught.value.details().startswith(f"{field}:")
            assert len(caught.value.details()) < 200


def test_a_text_value_damaged_in_any_table_stops_the_start_naming_the_fix(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    # A flipped byte in `meta` (the log id) passed quick_check; the consumer then
    # failed on every partition assignment, blamed the broker and was never ready.
    data_dir = tmp_path / "scoring"
    batch = owners_batch("t", owners=3, per_owner=2)
    with scoring_service(broker, data_dir) as service:
        send_batch(broker.bootstrap, batch)
        wait_until(lambda: all_scored(service, batch), timeout_s=60, what="state")
    store = data_dir / "scoring.sqlite3"
    with closing(sqlite3.connect(store, isolation_level=None)) as db:
        (key,) = db.execute("SELECT key FROM meta LIMIT 1").fetchone()
        db.execute("UPDATE meta SET value = CAST(X'61ff62' AS TEXT) WHERE key = ?", (key,))
    output = refused_start(broker, data_dir)
    assert "table meta holds a text value that is not UTF-8" in output
    assert "--rebuild-state" in output
    with scoring_service(broker, data_dir, "--rebuild-state", "true") as service:
        wait_until(lambda: all_scored(service, batch), timeout_s=60, what="rebuilt state")


def _frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return (
        len(payload).to_bytes(3, "big") + bytes([kind, flags]) + stream.to_bytes(4, "big") + payload
    )


def _half_sent_calls(address: str, connections: int, per_connection: int) -> list[socket.socket]:
    """HTTP/2 connections, each with calls whose headers arrived and whose message never
    does (a slowloris client): grpcio's synchronous server holds a thread for each."""
    path = b"/vinculo.v1.IngestService/PublishEvents"
    headers = b"".join(
        b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value  # HPACK literal
        for name, value in (
            (b":method", b"POST"),
            (b":scheme", b"http"),
            (b":path", path),
            (b":authority", b"x"),
            (b"content-type", b"application/grpc"),
            (b"te", b"trailers"),
        )
    )
    host, port = address.rsplit(":", 1)
    opened = []
    for _ in range(connections):
        sock = socket.create_connection((host, int(port)))
        data = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + _frame(4, 0, 0, b"")  # preface, SETTINGS
        for stream in range(1, 2 * per_connection, 2):
            # END_HEADERS, then 5 bytes of a message announced as 100 bytes long
            data += _frame(1, 4, stream, headers) + _frame(0, 0, stream, b"\x00\x00\x00\x00\x64")
        sock.sendall(data + _frame(6, 0, 0, b"probe-01"))  # PING: answered after the above
        _await_ping_ack(sock)
        opened.append(sock)
    return opened


def _await_ping_ack(sock: socket.socket) -> None:
    """Read the server's frames until it acknowledges the PING (it read all before it)."""
    sock.settimeout(10)
    buffer = b""
    while True:
        while len(buffer) < 9:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection"
            buffer += chunk
        length = int.from_bytes(buffer[:3], "big")
        while len(buffer) < 9 + length:
            buffer += sock.recv(65536)
        kind, flags = buffer[3], buffer[4]
        buffer = buffer[9 + length :]
        if kind == 6 and flags & 1:
            return


def test_half_sent_calls_do_not_stop_publish_and_health(ingest: ServiceProcess) -> None:
    # 40 such calls (more than the 16 workers) made PublishEvents and health time out.
    sockets = _half_sent_calls(ingest.address, connections=20, per_connection=5)
    try:
        with grpc.insecure_channel(ingest.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            grpc.channel_ready_future(channel).result(timeout=10)
            started = time.monotonic()
            request = health_pb2.HealthCheckRequest(service="readiness")
            assert health.Check(request, timeout=5).status == health_pb2.HealthCheckResponse.SERVING
            assert publish(ingest, [event("slow-1")])[0].status == ACCEPTED
            assert time.monotonic() - started < 1.0
    finally:
        for sock in sockets:
            sock.close()


def test_a_linkedin_export_with_drafts_and_multiline_positions_imports_what_was_sent(
    ingest: ServiceProcess, scoring: ServiceProcess, tmp_path: Path
) -> None:
    # Written the way LinkedIn writes it: notes before the header, CRLF, a BOM, a
    # quoted position over two lines, and newer exports' unsent drafts.
    me, luis, ana = (f"https://www.linkedin.com/in/{slug}" for slug in ("me", "luis-g", "ana-r"))
    connections = (
        '\ufeffNotes:\r\n"When exporting your connection data, you may notice that some of'
        ' the email addresses are missing."\r\n\r\n'
        "First Name,Last Name,URL,Email Address,Company,Position,Connected On\r\n"
        f'Luis,García,{luis},,Acme,"Head of\r\nSales",15 Nov 2023\r\n'
        f"Ana,Ruiz,{ana},,Bar,Dev,03 Jan 2024\r\n"
    )
    messages = (
        "CONVERSATION ID,CONVERSATION TITLE,FROM,SENDER PROFILE URL,TO,"
        "RECIPIENT PROFILE URLS,DATE,SUBJECT,CONTENT,FOLDER,IS MESSAGE DRAFT\r\n"
        f"2-a==,,Me Myself,{me},Luis García,{luis},2024-11-20 09:30:12 UTC,,"
        '"Hola,\r\nLuis",INBOX,No\r\n'
        f"2-b==,,Me Myself,{me},Ana Ruiz,{ana},2024-11-21 12:00:00 UTC,,unsent,DRAFT,Yes\r\n"
    )
    export = write_zip(
        tmp_path / "export.zip",
        {
            "Profile.csv": b"First Name,Last Name,Maiden Name,Headline\r\nMe,Myself,,\r\n",
            "Connections.csv": connections.encode(),
            "messages.csv": messages.encode(),
        },
    )
    argv = ["import", "linkedin", str(export), "--owner", "me", "--ingest", ingest.address]
    assert main(argv) == 0
    with grpc.insecure_channel(scoring.address) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)
        request = spb.ListRelationshipsRequest(owner_id="me")

        def scored() -> list[spb.Relationship] | None:
            if not _found(lambda: stub.ListRelationships(request, timeout=10)):
                return None
            found = list(stub.ListRelationships(request, timeout=10).relationships)
            messages = [c for r in found for c in r.signals.counts if c.kind == "message"]
            return found if len(found) >= 2 and messages else None

        network = wait_until(scored, timeout_s=60, what="the connections and the message")
    by_id = {r.contact_id: r for r in network}
    assert set(by_id) == {"linkedin:luis-g", "linkedin:ana-r"}
    assert by_id["linkedin:luis-g"].contact_position == "Head of Sales"
    sent = {
        r.contact_id: sum(c.outbound for c in r.signals.counts if c.kind == "message")
        for r in network
    }
    assert sent == {"linkedin:luis-g": 1, "linkedin:ana-r": 0}  # the draft was never sent
