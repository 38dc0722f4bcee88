"""The token file, the policy file and the security settings: what they accept,
and errors that name the file, line or setting at fault."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vinculo.security.channel import ClientSecurity, open_channel
from vinculo.security.policy import ADMIN, PUBLISH, READ, Policy, PolicyError
from vinculo.security.settings import ServerSecuritySettings
from vinculo.security.tokens import TokenFileError, TokenStore, hash_token, new_token
from vinculo.settings import SettingsError


def test_tokens_match_only_their_hash(tmp_path: Path) -> None:
    token, other = new_token(), new_token()
    path = tmp_path / "tokens"
    path.write_text(f"# comment\n\ncrm {hash_token(token)}  # trailing comment\n")
    store = TokenStore.load(path)
    assert store.identity_for(token) == "crm"
    assert store.identity_for(other) is None and store.identity_for("") is None
    assert token not in path.read_text()


@pytest.mark.parametrize("line", ["crm", "crm sha256:abc", "crm md5:" + "0" * 64, "a b c"])
def test_a_malformed_token_line_is_named(tmp_path: Path, line: str) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"ok {hash_token('x')}\n{line}\n")
    with pytest.raises(TokenFileError, match=f"{path}:2"):
        TokenStore.load(path)


def _policy(tmp_path: Path, identities: object) -> Policy:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"identities": identities}))
    return Policy.load(path)


def test_roles_grant_actions_for_owners(tmp_path: Path) -> None:
    policy = _policy(
        tmp_path,
        {
            "ana": {"role": "reader", "owners": "self"},
            "crm": {"role": "reader", "owners": ["ana", "ben"]},
            "feed": {"role": "producer", "owners": ["ana"]},
            "all": {"role": "producer", "owners": "*"},
            "ops": {"role": "admin"},
        },
    )
    assert policy.allows("ana", READ, ["ana"]) and not policy.allows("ana", READ, ["ben"])
    assert policy.allows("crm", READ, ["ana", "ben"]) and not policy.allows(
        "crm", READ, ["ana", "x"]
    )
    assert not policy.allows("crm", PUBLISH, ["ana"])
    assert policy.allows("feed", PUBLISH, ["ana"]) and not policy.allows("feed", PUBLISH, ["ben"])
    assert not policy.allows("feed", READ, ["ana"])
    assert policy.allows("all", PUBLISH, ["anyone"]) and not policy.allows("all", ADMIN, [])
    assert policy.allows("ops", ADMIN, []) and policy.allows("ops", READ, ["x"])
    assert not policy.allows("stranger", READ, []) and policy.role_of("stranger") is None


@pytest.mark.parametrize(
    ("identities", "message"),
    [
        ({"x": {"role": "owner"}}, "'x': role must be one of"),
        ({"x": {"role": "reader", "owners": "ana"}}, "'x': owners must be"),
        ([], "needs an 'identities' object"),
    ],
)
def test_a_bad_policy_is_named(tmp_path: Path, identities: object, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        _policy(tmp_path, identities)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tls_cert": "c.pem"}, "tls_cert, tls_key: give both"),
        ({"tls_client_ca": "ca.pem"}, "tls_client_ca: mutual TLS needs"),
        ({"auth_policy_file": "p.json"}, "auth_policy_file: needs auth_tokens_file"),
        ({"auth_tokens_file": "t"}, "needs auth_policy_file"),
        ({"auth_tokens_file": "t", "auth_policy_file": "p"}, "auth needs TLS"),
        ({"grpc_max_message_mb": 0}, "grpc_max_message_mb"),
    ],
)
def test_inconsistent_server_security_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        ServerSecuritySettings(**fields).validate_security()  # type: ignore[arg-type]


def test_a_client_never_sends_a_token_in_plaintext(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="token_file: a token is only sent over TLS"):
        ClientSecurity(token_file=str(tmp_path / "t")).validate()
    with pytest.raises(SettingsError, match="token_file: a token is only sent over TLS"):
        open_channel("127.0.0.1:1", ClientSecurity(token_file=str(tmp_path / "t")))
    with pytest.raises(SettingsError, match="tls_ca: cannot read"):
        ClientSecurity(tls_ca=str(tmp_path / "missing.pem")).credentials()
