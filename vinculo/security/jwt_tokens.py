"""Bearer tokens that are JWTs, verified with PyJWT against a public key or a JWKS.

`VINCULO_AUTH_JWT_PUBLIC_KEY_FILE` (a PEM public key) or `VINCULO_AUTH_JWT_JWKS`
(a JWKS file, or an https URL fetched and cached by PyJWT's `PyJWKClient`)
verify the signature; `VINCULO_AUTH_JWT_ISSUER` and `VINCULO_AUTH_JWT_AUDIENCE`
must match the `iss` and `aud` claims; `exp` and `sub` are required. Only
asymmetric algorithms are accepted (RS*, PS*, ES*, EdDSA): never `none`, never
HMAC, so a public key can never be used as a shared secret.

Claims: `sub` is the caller's identity. Its role and owners come from the
policy file (`VINCULO_AUTH_POLICY_FILE`), exactly as for the other credentials,
so the identity provider says who calls and Vinculo's policy what they may do.
A token that fails any check (signature, expiry, issuer, audience, missing
claim) is UNAUTHENTICATED; the reason is logged at DEBUG without the token.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import jwt

from vinculo.settings import SettingsError

log = logging.getLogger(__name__)

ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
LEEWAY_S = 30  # clock skew tolerated on exp/nbf/iat


class JwtVerifier:
    """Answers the `sub` of a valid token, None for any invalid one."""

    @staticmethod
    def is_jwt(token: str) -> bool:
        """Shaped like a JWT (three dot-separated parts), so this verifier judges it."""
        return token.count(".") == 2

    def __init__(self, keys: _Keys, issuer: str, audience: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience

    def identity_for(self, token: str) -> str | None:
        try:
            key = self._keys.key_for(token)
            claims = jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                issuer=self._issuer,
                audience=self._audience,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.InvalidTokenError, jwt.PyJWKClientError) as exc:
            log.debug("JWT refused: %s", type(exc).__name__)
            return None
        subject = claims.get("sub")
        return subject if isinstance(subject, str) and subject else None


class _Keys:
    def key_for(self, token: str) -> Any:
        raise NotImplementedError


class _PublicKey(_Keys):
    def __init__(self, pem: bytes) -> None:
        self._key = pem

    def key_for(self, token: str) -> Any:
        return self._key


class _JwksFile(_Keys):
    def __init__(self, text: str) -> None:
        self._keys = {key.key_id: key for key in jwt.PyJWKSet.from_json(text).keys}

    def key_for(self, token: str) -> Any:
        kid = jwt.get_unverified_header(token).get("kid")
        found = self._keys.get(kid)
        if found is None:
            raise jwt.InvalidKeyError("no key with this kid in the JWKS")
        return found.key


class _JwksUrl(_Keys):
    def __init__(self, url: str) -> None:
        self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=300, timeout=5)

    def key_for(self, token: str) -> Any:
        return self._client.get_signing_key_from_jwt(token).key


def load_verifier(public_key_file: str, jwks: str, issuer: str, audience: str) -> JwtVerifier:
    """The verifier the settings describe; errors name the setting."""
    keys: _Keys
    if public_key_file:
        try:
            keys = _PublicKey(Path(public_key_file).read_bytes())
        except OSError as exc:
            raise SettingsError(
                f"VINCULO_AUTH_JWT_PUBLIC_KEY_FILE: cannot read {public_key_file}: {exc.strerror}"
            ) from exc
    elif jwks.startswith("https://") or jwks.startswith("http://"):
        keys = _JwksUrl(jwks)
    else:
        try:
            keys = _JwksFile(Path(jwks).read_text(encoding="utf-8"))
        except (OSError, jwt.PyJWKSetError, ValueError) as exc:
            raise SettingsError(f"VINCULO_AUTH_JWT_JWKS: cannot use {jwks}: {exc}") from exc
    return JwtVerifier(keys, issuer, audience)
