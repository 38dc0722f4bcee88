"""Who may forget: an admin, or a reader of the owner; over TLS with tokens, real processes.
The `vinculo forget` command carries the same TLS and token options as the others."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from tests.integration.test_security import files, secure_scoring  # noqa: F401 (fixtures)
from tests.security_files import SecureServiceProcess, SecurityFiles
from vinculo.security.channel import ClientSecurity, open_channel
from vinculo.v1 import erasure_pb2 as pb
from vinculo.v1 import erasure_pb2_grpc
from vinculo_apps.cli import main

pytestmark = pytest.mark.integration

OWNER = pb.ForgetOwnerRequest
CONTACT = pb.ForgetContactRequest


def code_of(address: str, security: ClientSecurity, request: OWNER | CONTACT) -> grpc.StatusCode:
    with open_channel(address, security) as channel:
        stub = erasure_pb2_grpc.ErasureServiceStub(channel)  # type: ignore[no-untyped-call]
        call = stub.ForgetOwner if isinstance(request, OWNER) else stub.ForgetContact
        try:
            call(request, timeout=60)
        except grpc.RpcError as exc:
            return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def test_forget_is_for_admins_and_the_owners_readers(
    secure_scoring: SecureServiceProcess,  # noqa: F811
    files: SecurityFiles,  # noqa: F811
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    address = secure_scoring.address
    expected = [
        (None, OWNER(owner_id="ana"), grpc.StatusCode.UNAUTHENTICATED),
        ("not-in-the-tokens", OWNER(owner_id="ana"), grpc.StatusCode.UNAUTHENTICATED),
        ("ana", OWNER(owner_id="ben"), grpc.StatusCode.PERMISSION_DENIED),
        ("ana", CONTACT(owner_id="ben", contact_id="ana"), grpc.StatusCode.PERMISSION_DENIED),
        ("importer", OWNER(owner_id="ana"), grpc.StatusCode.PERMISSION_DENIED),  # a producer
        ("crm", OWNER(owner_id="zoe"), grpc.StatusCode.PERMISSION_DENIED),
        ("ana", CONTACT(owner_id="ana", contact_id="ben"), grpc.StatusCode.OK),
        ("crm", CONTACT(owner_id="ben", contact_id="cy"), grpc.StatusCode.OK),
        ("ana", OWNER(owner_id="ana"), grpc.StatusCode.OK),
        ("ops", OWNER(owner_id="zoe"), grpc.StatusCode.OK),
        ("ops", OWNER(owner_id=""), grpc.StatusCode.INVALID_ARGUMENT),
        ("ops", CONTACT(owner_id="ana", contact_id="ana"), grpc.StatusCode.INVALID_ARGUMENT),
    ]
    found = [
        (who, request, code_of(address, files.client(who), request)) for who, request, _ in expected
    ]
    assert found == expected

    tls = ["--scoring", address, "--tls-ca", files.path("ca.crt")]
    token = tmp_path / "ben.token"
    token.write_text(files.tokens["ops"])
    assert main(["forget", "--owner", "ben", *tls, "--token-file", str(token)]) == 0
    assert "forgot the person" in capsys.readouterr().out
    token.write_text(files.tokens["ana"])
    assert main(["forget", "--owner", "ben", *tls, "--token-file", str(token)]) == 2
    assert "PERMISSION_DENIED" in capsys.readouterr().err
    log = secure_scoring.log_text()
    assert "zoe" not in log and "ben" not in log  # denials and erasures name no one
