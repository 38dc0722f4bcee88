"""Bearer JWTs against a real scoring service over TLS: who may read what, and refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.jwt_keys import AUDIENCE, ISSUER, JwtKeys, make_jwt_keys
from tests.security_files import SecureServiceProcess, SecurityFiles, make_security_files
from vinculo.security.channel import ClientSecurity, open_channel
from vinculo.v1 import scoring_pb2, scoring_pb2_grpc
from vinculo_apps.devstack.broker import EmbeddedBroker

pytestmark = pytest.mark.integration


@pytest.fixture
def files(tmp_path: Path) -> SecurityFiles:
    return make_security_files(tmp_path / "pki")


@pytest.fixture
def keys(tmp_path: Path) -> JwtKeys:
    return make_jwt_keys(tmp_path / "jwt")


@pytest.fixture
def scoring(
    broker: EmbeddedBroker, files: SecurityFiles, keys: JwtKeys, tmp_path: Path
) -> Iterator[SecureServiceProcess]:
    flags = [
        *files.server_flags(mutual=False, auth=False),
        *("--auth-policy-file", files.path("policy.json")),
        *("--auth-jwt-jwks", str(keys.jwks)),
        *("--auth-jwt-issuer", ISSUER, "--auth-jwt-audience", AUDIENCE),
    ]
    service = SecureServiceProcess(
        "scoring_service", tmp_path / "scoring", broker.bootstrap, flags, security=files.client()
    )
    try:
        yield service.start()
    finally:
        service.stop()


def _summary(address: str, files: SecurityFiles, token: str | None, owner: str) -> grpc.StatusCode:
    token_file = ""
    if token is not None:
        path = Path(files.path(f"jwt-{abs(hash(token))}.token"))
        path.write_text(token)
        token_file = str(path)
    security = ClientSecurity(tls_ca=files.path("ca.crt"), token_file=token_file)
    with open_channel(address, security) as channel:
        stub = scoring_pb2_grpc.ScoringServiceStub(channel)  # type: ignore[no-untyped-call]
        try:
            stub.GetNetworkSummary(scoring_pb2.GetNetworkSummaryRequest(owner_id=owner), timeout=10)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_jwt_callers_read_only_their_owners_and_bad_tokens_are_unauthenticated(
    scoring: SecureServiceProcess, files: SecurityFiles, keys: JwtKeys, tmp_path: Path
) -> None:
    other = make_jwt_keys(tmp_path / "other")
    address = scoring.address
    # Past authentication and authorization, ana (no events yet) has no network: NOT_FOUND.
    assert _summary(address, files, keys.token("ana"), "ana") == grpc.StatusCode.NOT_FOUND
    assert _summary(address, files, keys.token("ana"), "ben") == grpc.StatusCode.PERMISSION_DENIED
    unauthenticated = {
        "expired": keys.token("ana", expires_in=-120),
        "signed by another key": other.token("ana"),
        "another audience": keys.token("ana", aud="other-service"),
        "no credential": None,
    }
    for why, token in unauthenticated.items():
        code = _summary(address, files, token, "ana")
        assert code == grpc.StatusCode.UNAUTHENTICATED, why
