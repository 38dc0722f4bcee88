"""Authentication and per-owner authorization of ServiceServer: real servers on
port 0 over TLS, real clients; only the servicers behind the interceptor are stand-ins."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry

from tests.security_files import SecurityFiles, make_security_files
from vinculo.grpc_server import ServiceServer
from vinculo.security.channel import ClientSecurity, open_channel
from vinculo.security.settings import ServerSecuritySettings, build_server_security
from vinculo.v1 import (
    events_pb2,
    ingest_pb2,
    ingest_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
)

# One worker runs this module: its shared fixtures are built once (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("security-server")


class _Ingest(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self) -> None:
        self.published: list[str] = []  # owner ids of the events that reached the servicer

    def PublishEvents(
        self, request: ingest_pb2.PublishEventsRequest, context: grpc.ServicerContext
    ) -> ingest_pb2.PublishEventsResponse:
        self.published.extend(event.owner_id for event in request.events)
        return ingest_pb2.PublishEventsResponse()

    def StreamEvents(
        self, requests: Iterable[ingest_pb2.StreamEventsRequest], context: grpc.ServicerContext
    ) -> ingest_pb2.StreamEventsResponse:
        for request in requests:
            self.published.extend(event.owner_id for event in request.events)
        return ingest_pb2.StreamEventsResponse()


class _Scoring(scoring_pb2_grpc.ScoringServiceServicer):
    def GetNetworkSummary(
        self, request: scoring_pb2.GetNetworkSummaryRequest, context: grpc.ServicerContext
    ) -> scoring_pb2.GetNetworkSummaryResponse:
        return scoring_pb2.GetNetworkSummaryResponse(owner_id=request.owner_id)


@dataclass
class Served:
    address: str
    files: SecurityFiles
    registry: CollectorRegistry
    ingest: _Ingest
    channels: list[grpc.Channel] = field(default_factory=list)

    def channel(self, security: ClientSecurity) -> grpc.Channel:
        channel = open_channel(self.address, security)
        self.channels.append(channel)
        return channel

    def scoring(self, security: ClientSecurity) -> Any:
        return scoring_pb2_grpc.ScoringServiceStub(self.channel(security))  # type: ignore[no-untyped-call]

    def ingest_stub(self, security: ClientSecurity) -> Any:
        return ingest_pb2_grpc.IngestServiceStub(self.channel(security))  # type: ignore[no-untyped-call]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> SecurityFiles:
    return make_security_files(tmp_path_factory.mktemp("pki"))


@contextmanager
def _serve(files: SecurityFiles, mutual: bool) -> Iterator[Served]:
    settings = ServerSecuritySettings(
        tls_cert=files.path("server.crt"),
        tls_key=files.path("server.key"),
        tls_client_ca=files.path("ca.crt") if mutual else "",
        auth_tokens_file=files.path("tokens"),
        auth_policy_file=files.path("policy.json"),
    )
    settings.validate_security()
    registry = CollectorRegistry()
    server = ServiceServer(registry, max_workers=4, security=build_server_security(settings))
    ingest = _Ingest()
    server.add(
        ingest_pb2_grpc.add_IngestServiceServicer_to_server, ingest, "vinculo.v1.IngestService"
    )
    server.add(
        scoring_pb2_grpc.add_ScoringServiceServicer_to_server,
        _Scoring(),
        "vinculo.v1.ScoringService",
    )
    port = server.start("127.0.0.1", 0)
    result = Served(f"127.0.0.1:{port}", files, registry, ingest)
    try:
        yield result
    finally:
        for channel in result.channels:
            channel.close()
        server.stop(0)


@pytest.fixture
def served(files: SecurityFiles) -> Iterator[Served]:
    """Bearer tokens over TLS."""
    with _serve(files, mutual=False) as running:
        yield running


@pytest.fixture
def mutual(files: SecurityFiles) -> Iterator[Served]:
    """Mutual TLS: client certificates required; tokens still accepted on top."""
    with _serve(files, mutual=True) as running:
        yield running


def _events(*owners: str) -> list[events_pb2.InteractionEvent]:
    return [
        events_pb2.InteractionEvent(event_id=f"e{i}", owner_id=owner, contact_id="zoe")
        for i, owner in enumerate(owners)
    ]


def _code(call: Any, *args: Any) -> grpc.StatusCode:
    try:
        result = call(*args, timeout=10)
        if hasattr(result, "__next__"):
            list(result)
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def _every_rpc(served: Served, security: ClientSecurity) -> dict[str, grpc.StatusCode]:
    """Each RPC of both services, called once with a valid-looking request."""
    codes: dict[str, grpc.StatusCode] = {}
    channel = served.channel(security)
    for module in (ingest_pb2, scoring_pb2):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                path = f"/{service.full_name}/{method.name}"
                request = (
                    _request_class(method.input_type.full_name)(owner_id="ana")
                    if ("owner_id" in method.input_type.fields_by_name)
                    else _request_class(method.input_type.full_name)(events=_events("ana"))
                )
                serialize = type(request).SerializeToString
                if method.client_streaming:
                    call = channel.stream_unary(path, request_serializer=serialize)
                    codes[path] = _code(call, iter([request]))
                elif method.server_streaming:
                    call = channel.unary_stream(path, request_serializer=serialize)
                    codes[path] = _code(call, request)
                else:
                    codes[path] = _code(
                        channel.unary_unary(path, request_serializer=serialize), request
                    )
    return codes


def _request_class(full_name: str) -> Any:
    name = full_name.rsplit(".", 1)[1]
    return getattr(ingest_pb2, name, None) or getattr(scoring_pb2, name)


def test_every_rpc_without_a_credential_is_unauthenticated(served: Served) -> None:
    codes = _every_rpc(served, served.files.client())
    assert len(codes) == 3 + 5  # IngestService's 3 RPCs, ScoringService's 5
    assert set(codes.values()) == {grpc.StatusCode.UNAUTHENTICATED}, codes
    assert served.ingest.published == []
    counted = served.registry.get_sample_value(
        "grpc_server_handled_total",
        {"grpc_type": "unary", "grpc_service": "vinculo.v1.ScoringService",
         "grpc_method": "GetNetworkSummary", "grpc_code": "UNAUTHENTICATED"},
    )  # fmt: skip
    assert counted == 1


def test_a_bad_token_is_unauthenticated_even_with_a_good_certificate(mutual: Served) -> None:
    codes = _every_rpc(mutual, mutual.files.client("stranger", cert="cert-reader"))
    assert set(codes.values()) == {grpc.StatusCode.UNAUTHENTICATED}, codes


def test_health_needs_no_credential(served: Served) -> None:
    stub = health_pb2_grpc.HealthStub(served.channel(served.files.client()))
    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_plaintext_clients_cannot_talk_to_a_tls_server(served: Served) -> None:
    stub = served.scoring(ClientSecurity())
    request = scoring_pb2.GetNetworkSummaryRequest(owner_id="ana")
    assert _code(stub.GetNetworkSummary, request) == grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("identity", "cert", "owner", "expected"),
    [
        ("ana", None, "ana", grpc.StatusCode.OK),
        ("ana", None, "ben", grpc.StatusCode.PERMISSION_DENIED),
        ("crm", None, "ben", grpc.StatusCode.OK),
        ("crm", None, "cleo", grpc.StatusCode.PERMISSION_DENIED),
        ("importer", None, "ana", grpc.StatusCode.PERMISSION_DENIED),  # producers do not read
        ("ops", None, "cleo", grpc.StatusCode.OK),
    ],
)
def test_readers_read_only_their_owners(
    served: Served, identity: str | None, cert: str | None, owner: str, expected: grpc.StatusCode
) -> None:
    stub = served.scoring(served.files.client(identity, cert=cert))
    request = scoring_pb2.GetNetworkSummaryRequest(owner_id=owner)
    assert _code(stub.GetNetworkSummary, request) == expected


def test_a_producer_for_ana_publishing_for_ben_is_denied_and_nothing_is_published(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    stub = served.ingest_stub(served.files.client("importer-ana"))
    mixed = ingest_pb2.PublishEventsRequest(events=_events("ana", "ben"))
    with caplog.at_level(logging.INFO):
        assert _code(stub.PublishEvents, mixed) == grpc.StatusCode.PERMISSION_DENIED
    assert served.ingest.published == []
    assert "denied" in caplog.text
    assert "ben" not in caplog.text and "importer-ana" not in caplog.text  # no personal ids
    own = ingest_pb2.PublishEventsRequest(events=_events("ana"))
    assert _code(stub.PublishEvents, own) == grpc.StatusCode.OK
    assert served.ingest.published == ["ana"]


def test_a_denied_stream_message_never_reaches_the_servicer(served: Served) -> None:
    stub = served.ingest_stub(served.files.client("importer-ana"))
    requests = [ingest_pb2.StreamEventsRequest(events=_events(owner)) for owner in ("ana", "ben")]
    assert _code(stub.StreamEvents, iter(requests)) == grpc.StatusCode.PERMISSION_DENIED
    assert served.ingest.published == ["ana"]


def test_producers_for_all_and_admins_publish_for_anyone(served: Served) -> None:
    for identity in ("importer", "ops"):
        stub = served.ingest_stub(served.files.client(identity))
        request = ingest_pb2.PublishEventsRequest(events=_events("cleo"))
        assert _code(stub.PublishEvents, request) == grpc.StatusCode.OK
    assert served.ingest.published == ["cleo", "cleo"]


@pytest.mark.parametrize(
    ("identity", "cert", "owner", "expected"),
    [
        (None, "cert-reader", "ana", grpc.StatusCode.OK),  # the certificate's CN is the identity
        (None, "cert-reader", "ben", grpc.StatusCode.PERMISSION_DENIED),
        ("crm", "cert-reader", "ben", grpc.StatusCode.OK),  # a token names the caller first
        ("crm", None, "ana", grpc.StatusCode.UNAVAILABLE),  # no certificate: no connection
    ],
)
def test_mutual_tls_identities(
    mutual: Served, identity: str | None, cert: str | None, owner: str, expected: grpc.StatusCode
) -> None:
    stub = mutual.scoring(mutual.files.client(identity, cert=cert))
    request = scoring_pb2.GetNetworkSummaryRequest(owner_id=owner)
    assert _code(stub.GetNetworkSummary, request) == expected
