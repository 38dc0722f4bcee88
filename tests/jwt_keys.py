"""Keys and JWTs for tests: an RSA key pair made here, tokens signed with it."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://id.example.test"
AUDIENCE = "vinculo"


@dataclass
class JwtKeys:
    private: rsa.RSAPrivateKey
    public_pem: Path
    jwks: Path

    def token(self, sub: str, *, expires_in: float = 300, **claims: Any) -> str:
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "exp": int(time.time() + expires_in)}
        payload.update(claims)
        return jwt.encode(payload, self.private, algorithm="RS256", headers={"kid": "k1"})


def make_jwt_keys(directory: Path) -> JwtKeys:
    directory.mkdir(parents=True, exist_ok=True)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (directory / "jwt.pub.pem").write_bytes(pem)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": "k1", "alg": "RS256", "use": "sig"})
    (directory / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
    return JwtKeys(private, directory / "jwt.pub.pem", directory / "jwks.json")
