"""Bearer tokens verified against a file of their SHA-256 hashes.

The file holds one `<identity> sha256:<hex>` per line (`#` starts a comment),
so it reveals no token. Tokens are random (`new_token`: 256 bits), so a plain
SHA-256 is enough: there is nothing to brute-force, unlike a password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

from vinculo.settings import SettingsError

PREFIX = "sha256:"


class TokenFileError(SettingsError):
    """The tokens file cannot be used; the message names the file and line."""


def new_token() -> str:
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return PREFIX + hashlib.sha256(token.encode()).hexdigest()


def _parse_line(path: Path, number: int, line: str) -> tuple[str, str] | None:
    text = line.split("#", 1)[0].strip()
    if not text:
        return None
    parts = text.split()
    if len(parts) != 2 or not parts[1].startswith(PREFIX) or len(parts[1]) != len(PREFIX) + 64:
        raise TokenFileError(f"{path}:{number}: expected '<identity> sha256:<64 hex digits>'")
    return parts[1], parts[0]


class TokenStore:
    """Maps a presented token to its identity, or None."""

    def __init__(self, hashes: dict[str, str]) -> None:
        self._identities = hashes  # hash -> identity

    @classmethod
    def load(cls, path: Path) -> TokenStore:
        try:
            lines = path.read_text().splitlines()
        except OSError as exc:
            raise TokenFileError(f"auth_tokens_file: cannot read {path}: {exc.strerror}") from exc
        hashes: dict[str, str] = {}
        for number, line in enumerate(lines, start=1):
            entry = _parse_line(path, number, line)
            if entry is not None:
                hashes[entry[0]] = entry[1]
        return cls(hashes)

    def identity_for(self, token: str) -> str | None:
        digest = hash_token(token)
        for known, identity in self._identities.items():
            if hmac.compare_digest(known, digest):
                return identity
        return None
