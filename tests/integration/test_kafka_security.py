"""Kafka over TLS (with client certificates) and refused credentials, through real processes.

The embedded broker cannot serve TLS itself (Tansu 0.6.0; docs/kafka-security.md),
so a TLS relay (vinculo_apps.devstack.tls_relay) terminates TLS in front of it and
requires client certificates. SASL: Tansu 0.6.0 with memory storage keeps no SCRAM
credentials, so it refuses every SASL login; that is what the refused-password
tests use. A full SASL_SSL pipeline needs a broker that stores users (Apache Kafka).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.harness import ServiceProcess, start_together, wait_until
from tests.integration.scoring_helpers import T0, contacts_of, interaction
from vinculo.v1 import ingest_pb2, ingest_pb2_grpc, scoring_pb2_grpc
from vinculo_apps.cli import main
from vinculo_apps.devstack.broker import EmbeddedBroker
from vinculo_apps.devstack.pki import make_local_pki
from vinculo_apps.devstack.stack import ServiceLaunch, clean_environment

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl (Debian openssl)"),
]

# A refused credential must stop a service well within this (the check itself is 5 s).
EXIT_BOUND_S = 45.0


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    return make_local_pki(tmp_path / "pki", clients=("vinculo-kafka",))


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Path) -> Iterator[EmbeddedBroker]:
    """Reachable only over TLS with a client certificate signed by the local CA."""
    broker = EmbeddedBroker(
        log_path=tmp_path / "broker.log",
        tls_cert=pki / "server.crt",
        tls_key=pki / "server.key",
        tls_client_ca=pki / "ca.crt",
    )
    with broker:
        yield broker


def ssl_flags(pki: Path, ca: Path | None = None) -> list[str]:
    return [
        *("--kafka-security-protocol", "SSL"),
        *("--kafka-ssl-cafile", str(ca or pki / "ca.crt")),
        *("--kafka-ssl-certfile", str(pki / "vinculo-kafka.crt")),
        *("--kafka-ssl-keyfile", str(pki / "vinculo-kafka.key")),
    ]


def test_pipeline_and_export_over_kafka_ssl_with_client_certificates(
    tls_broker: EmbeddedBroker, pki: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest = ServiceProcess(
        "ingest_service", tmp_path / "ingest", tls_broker.bootstrap, ssl_flags(pki)
    )
    scoring = ServiceProcess(
        "scoring_service", tmp_path / "scoring", tls_broker.bootstrap, ssl_flags(pki)
    )
    start_together(ingest, scoring)
    try:
        events = [
            interaction("s1", "ana", "bea", T0),
            interaction("s2", "ana", "bea", T0 + 3600),
            interaction("s3", "ana", "cid", T0, owner_only=True),
        ]
        with (
            grpc.insecure_channel(ingest.address) as ingest_channel,
            grpc.insecure_channel(scoring.address) as scoring_channel,
        ):
            publish = ingest_pb2_grpc.IngestServiceStub(ingest_channel).PublishEvents
            reply = publish(ingest_pb2.PublishEventsRequest(events=events), timeout=20)
            assert [r.status for r in reply.results] == [ingest_pb2.EVENT_STATUS_ACCEPTED] * 3
            stub = scoring_pb2_grpc.ScoringServiceStub(scoring_channel)
            ana = wait_until(
                lambda: (found := contacts_of(stub, "ana")) and len(found) == 2 and found,
                timeout_s=60,
                what="ana's two relationships, consumed over TLS",
            )
            bea = wait_until(lambda: contacts_of(stub, "bea"), what="bea's mirrored relationship")
        assert set(bea) == {"ana"}
        assert [c.outbound for c in ana["bea"].signals.counts] == [2]
        out = tmp_path / "export.jsonl"
        flags = ["--kafka-bootstrap", tls_broker.bootstrap, *ssl_flags(pki)]
        capsys.readouterr()
        assert main(["export", "--out", str(out), *flags]) == 0
        assert "exported 3 events" in capsys.readouterr().out
    finally:
        ingest.stop()
        scoring.stop()


def _exits_with(launch: ServiceLaunch) -> tuple[int, float, str]:
    started = time.monotonic()
    launch.spawn()
    try:
        assert launch.process is not None
        code = launch.process.wait(timeout=EXIT_BOUND_S)
    finally:
        launch.stop()
    return code, time.monotonic() - started, launch.log_path.read_text(errors="replace")


@pytest.mark.parametrize("module", ["ingest_service", "scoring_service"])
def test_an_untrusted_broker_certificate_stops_the_service_naming_the_ca_setting(
    tls_broker: EmbeddedBroker, pki: Path, tmp_path: Path, module: str
) -> None:
    other = make_local_pki(tmp_path / "other-ca")
    launch = ServiceLaunch(
        module,
        tmp_path / module,
        tls_broker.bootstrap,
        tmp_path / f"{module}.log",
        ssl_flags(pki, ca=other / "ca.crt"),
    )
    code, took, log = _exits_with(launch)
    assert code == 2, log
    assert took < EXIT_BOUND_S
    assert "VINCULO_KAFKA_SSL_CAFILE" in log and "CERTIFICATE_VERIFY_FAILED" in log


@pytest.mark.parametrize("module", ["ingest_service", "scoring_service"])
def test_a_refused_sasl_password_stops_the_service_naming_the_setting(
    tmp_path: Path, module: str
) -> None:
    password = "not-the-password-0xC0FFEE"
    with EmbeddedBroker(log_path=tmp_path / "broker.log", authentication=True) as broker:
        launch = ServiceLaunch(
            module,
            tmp_path / module,
            broker.bootstrap,
            tmp_path / f"{module}.log",
            env={
                **clean_environment(),
                "VINCULO_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "VINCULO_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "VINCULO_KAFKA_SASL_USERNAME": "vinculo",
                "VINCULO_KAFKA_SASL_PASSWORD": password,
            },
        )
        code, took, log = _exits_with(launch)
    assert code == 2, log
    assert took < EXIT_BOUND_S
    assert "VINCULO_KAFKA_SASL_PASSWORD" in log and "'vinculo'" in log
    assert password not in log  # the secret never reaches the log
