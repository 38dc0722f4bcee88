"""JWT bearer tokens: signature, expiry, issuer, audience and algorithm are all checked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.jwt_keys import AUDIENCE, ISSUER, JwtKeys, make_jwt_keys
from vinculo.security.jwt_tokens import load_verifier
from vinculo.settings import SettingsError

# One worker runs this module: its shared fixtures are built once (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("jwt-tokens")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> JwtKeys:
    return make_jwt_keys(tmp_path_factory.mktemp("jwt"))


@pytest.mark.parametrize("source", ["pem", "jwks"])
def test_a_valid_token_names_its_subject(keys: JwtKeys, source: str) -> None:
    pem, jwks = (str(keys.public_pem), "") if source == "pem" else ("", str(keys.jwks))
    verifier = load_verifier(pem, jwks, ISSUER, AUDIENCE)
    assert verifier.identity_for(keys.token("ana")) == "ana"


def test_every_bad_token_is_refused(keys: JwtKeys) -> None:
    verifier = load_verifier(str(keys.public_pem), "", ISSUER, AUDIENCE)
    other = JwtKeys(rsa.generate_private_key(public_exponent=65537, key_size=2048), Path(), Path())
    public = keys.public_pem.read_bytes()
    refused = {
        "expired": keys.token("ana", expires_in=-120),
        "other key": other.token("ana"),
        "issuer": keys.token("ana", iss="https://evil.example"),
        "audience": keys.token("ana", aud="someone-else"),
        "alg none": jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "sub": "ana", "exp": 2**40}, None, algorithm="none"
        ),
        "garbage": "a.b.c",
    }
    for why, token in refused.items():
        assert verifier.identity_for(token) is None, why
    # HMAC keyed with the public key (the classic algorithm confusion): refused too.
    assert verifier.identity_for(_hs256(public, {"iss": ISSUER, "aud": AUDIENCE, "sub": "ana",
                                                 "exp": 2**40})) is None  # fmt: skip


def _hs256(secret: bytes, claims: dict[str, object]) -> str:
    def part(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    signing_input = part(b'{"alg":"HS256","typ":"JWT"}') + b"." + part(json.dumps(claims).encode())
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + part(signature)).decode()


def test_unreadable_key_settings_are_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="VINCULO_AUTH_JWT_PUBLIC_KEY_FILE"):
        load_verifier(str(tmp_path / "none.pem"), "", ISSUER, AUDIENCE)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(SettingsError, match="VINCULO_AUTH_JWT_JWKS"):
        load_verifier("", str(tmp_path / "bad.json"), ISSUER, AUDIENCE)
