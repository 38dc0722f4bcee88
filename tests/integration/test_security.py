"""The pipeline over TLS with token auth, through real processes and a real broker."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest

from tests.harness import read_topic, wait_until
from tests.integration.scale_out_data import CONTACTS, owner, publish, ranking
from tests.integration.scoring_helpers import T0, contacts_of, interaction
from tests.security_files import SecureServiceProcess, SecurityFiles, make_security_files
from vinculo.security.channel import open_channel
from vinculo.topics import INTERACTIONS_TOPIC
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc, scoring_pb2, scoring_pb2_grpc
from vinculo_apps.cli import main
from vinculo_apps.commands.up import Stack, UpSettings
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


@pytest.fixture
def files(tmp_path: Path) -> SecurityFiles:
    return make_security_files(tmp_path / "pki")


def _service(
    module: str, broker: EmbeddedBroker, files: SecurityFiles, data_dir: Path
) -> Iterator[SecureServiceProcess]:
    service = SecureServiceProcess(
        module,
        data_dir,
        broker.bootstrap,
        extra_args=files.server_flags(mutual=False),
        security=files.client(),
    )
    try:
        yield service.start()
    finally:
        service.stop()


@pytest.fixture
def secure_ingest(
    broker: EmbeddedBroker, files: SecurityFiles, tmp_path: Path
) -> Iterator[SecureServiceProcess]:
    yield from _service("ingest_service", broker, files, tmp_path / "ingest")


@pytest.fixture
def secure_scoring(
    broker: EmbeddedBroker, files: SecurityFiles, tmp_path: Path
) -> Iterator[SecureServiceProcess]:
    yield from _service("scoring_service", broker, files, tmp_path / "scoring")


def test_the_pipeline_over_tls_with_tokens_serves_each_reader_only_its_owner(
    broker: EmbeddedBroker,
    secure_ingest: SecureServiceProcess,
    secure_scoring: SecureServiceProcess,
    files: SecurityFiles,
) -> None:
    denied = ingest_pb2.PublishEventsRequest(events=[interaction("x1", "ben", "zoe", T0)])
    allowed = ingest_pb2.PublishEventsRequest(events=[interaction("a1", "ana", "bea", T0)])
    with open_channel(secure_ingest.address, files.client("importer-ana")) as channel:
        publish = ingest_pb2_grpc.IngestServiceStub(channel).PublishEvents  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as raised:
            publish(denied, timeout=10)
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
        reply = publish(allowed, timeout=10)
        assert [r.status for r in reply.results] == [ingest_pb2.EVENT_STATUS_ACCEPTED]
    # Only ana's event reached the topic; the denied one was never published.
    # (One event is two records: ana's and its mirror in bea's network.) Wait for a third.
    records = read_topic(broker.bootstrap, INTERACTIONS_TOPIC, expected=3, timeout_s=5)
    assert sorted(record.key for record in records) == [b"ana", b"bea"]
    assert not [r for r in records if b"ben" in r.value or b"zoe" in r.value]

    with open_channel(secure_scoring.address, files.client("ana")) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)  # type: ignore[no-untyped-call]
        found = wait_until(lambda: contacts_of(stub, "ana"), what="ana's relationship over TLS")
        assert set(found) == {"bea"}
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetNetworkSummary(scoring_pb2.GetNetworkSummaryRequest(owner_id="bea"))
        assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with open_channel(secure_scoring.address, files.client()) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)  # type: ignore[no-untyped-call]
        with pytest.raises(grpc.RpcError) as raised:
            stub.GetNetworkSummary(scoring_pb2.GetNetworkSummaryRequest(owner_id="ana"))
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED

    for service in (secure_ingest, secure_scoring):
        url = f"http://127.0.0.1:{service.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as page:
            text = page.read().decode()
        assert "PERMISSION_DENIED" in text or "UNAUTHENTICATED" in text
        for person in ("ana", "bea", "ben", "zoe", "importer-ana"):
            assert f'"{person}"' not in text, f"{person} in {service.module}'s /metrics"
        assert "ben" not in service.log_text() and "importer-ana" not in service.log_text()


def test_a_service_refuses_to_start_with_auth_but_no_tls(
    broker: EmbeddedBroker, files: SecurityFiles, tmp_path: Path
) -> None:
    service = SecureServiceProcess(
        "ingest_service",
        tmp_path / "ingest",
        broker.bootstrap,
        extra_args=files.server_flags(mutual=False)[4:],  # tokens and policy, no certificate
    )
    with pytest.raises(RuntimeError, match="exited"):
        service.start(timeout_s=30)
    assert "auth needs TLS" in service.log_text()


def test_vinculo_up_runs_with_tls_from_the_environment(
    files: SecurityFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VINCULO_TLS_CERT", files.path("server.crt"))
    monkeypatch.setenv("VINCULO_TLS_KEY", files.path("server.key"))
    ports = dict.fromkeys(
        ("broker_port", "ingest_grpc_port", "ingest_metrics_port", "scoring_grpc_port",
         "scoring_metrics_port"), 0,
    )  # fmt: skip
    settings = UpSettings(data_dir=tmp_path / "up", **ports)
    with Stack(settings, files.client()) as stack:  # start() waited for health over TLS
        request = scoring_pb2.GetNetworkSummaryRequest(owner_id="ana")
        with open_channel(stack.scoring.address, files.client()) as channel:
            stub = scoring_pb2_grpc.ScoringServiceStub(channel)  # type: ignore[no-untyped-call]
            with pytest.raises(grpc.RpcError) as raised:  # reached the handler: nothing of ana yet
                stub.GetNetworkSummary(request, timeout=30)
            assert raised.value.code() == grpc.StatusCode.NOT_FOUND
        with open_channel(stack.scoring.address) as plaintext:
            stub = scoring_pb2_grpc.ScoringServiceStub(plaintext)  # type: ignore[no-untyped-call]
            with pytest.raises(grpc.RpcError) as raised:
                stub.GetNetworkSummary(request, timeout=10)
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_the_cli_imports_and_reports_over_tls_with_a_token(
    secure_ingest: SecureServiceProcess,
    secure_scoring: SecureServiceProcess,
    files: SecurityFiles,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text(
        '{"event_id":"e1","owner_id":"ana","contact_id":"bob","type":"message",'
        '"direction":"outbound","occurred_at":"2024-05-01T09:30:00Z","personalized":true}\n'
    )
    tls = ["--tls-ca", files.path("ca.crt")]
    importer = files.client("importer-ana").token_file
    reader = files.client("ana").token_file
    stranger = files.client("crm").token_file  # a reader: may not publish
    args = ["import", "events", str(history), "--ingest", secure_ingest.address, *tls]
    assert main([*args, "--token-file", stranger]) == 2
    assert "PERMISSION_DENIED" in capsys.readouterr().out
    assert main([*args, "--token-file", importer]) == 0
    report = ["report", "--owner", "ana", "--scoring", secure_scoring.address, *tls]

    def reported() -> bool:
        return main([*report, "--token-file", reader]) == 0

    wait_until(reported, what="ana's report over TLS")
    assert "bob" in capsys.readouterr().out
    assert main([*report, "--token-file", importer]) == 2  # a producer may not read
    assert "PERMISSION_DENIED" in capsys.readouterr().out


def test_forwarding_between_scoring_instances_runs_over_tls_with_the_callers_token(
    broker: EmbeddedBroker, files: SecurityFiles, tmp_path: Path
) -> None:
    flags = [*files.server_flags(mutual=False), "--tls-peer-ca", files.path("ca.crt")]
    instances = [
        SecureServiceProcess(
            "scoring_service", tmp_path / f"scoring-{n}", broker.bootstrap,
            extra_args=[*flags, "--consumer-group", "secure"], security=files.client(),
        )
        for n in range(2)
    ]  # fmt: skip
    with ExitStack() as stack:
        for instance in instances:
            stack.callback(instance.stop)
            instance.start()
        owners = range(40)
        sent = publish(broker.bootstrap, owners)
        wait_until(
            lambda: (
                sum(i.metric("vinculo_scoring_events_committed_total") for i in instances) == sent
            ),
            timeout_s=60,
            what="the group scored every event",
        )
        first = instances[0]
        with open_channel(first.address, files.client("ops")) as channel:
            answers = {owner(i): ranking(channel, owner(i)) for i in owners}
        assert all(isinstance(a, list) and len(a) == CONTACTS for a in answers.values()), answers
        assert first.metric("vinculo_scoring_forwarded_calls_total") > 0
        with open_channel(first.address, files.client("crm")) as channel:
            assert {ranking(channel, owner(i)) for i in owners} == {"PERMISSION_DENIED"}
