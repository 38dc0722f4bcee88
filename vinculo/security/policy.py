"""Who may do what for which owners: roles read from a JSON policy file.

    {"identities": {
        "alice":    {"role": "reader",   "owners": "self"},
        "crm-app":  {"role": "reader",   "owners": ["alice", "bob"]},
        "importer": {"role": "producer", "owners": "*"},
        "ops":      {"role": "admin"}}}

A reader reads the networks of its owners ("self": the owner whose id is the
identity's name); a producer publishes events for its owners ("*": all); an
admin may call everything. Anything not granted is denied.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from vinculo.settings import SettingsError

READ, PUBLISH, ADMIN = "read", "publish", "admin"
_ROLE_ACTIONS = {"reader": {READ}, "producer": {PUBLISH}, "admin": {READ, PUBLISH, ADMIN}}


class PolicyError(SettingsError):
    """The policy file cannot be used; the message names the file and identity."""


@dataclass(frozen=True)
class Grant:
    role: str
    owners: frozenset[str] | None  # None: every owner

    def allows(self, identity: str, action: str, owners: Iterable[str]) -> bool:
        if action not in _ROLE_ACTIONS[self.role]:
            return False
        if self.role == "admin" or self.owners is None:
            return True
        allowed = self.owners | ({identity} if "self" in self.owners else set())
        return all(owner in allowed for owner in owners)


def _grant(path: Path, identity: str, entry: object) -> Grant:
    if not isinstance(entry, dict) or entry.get("role") not in _ROLE_ACTIONS:
        raise PolicyError(f"{path}: {identity!r}: role must be one of {sorted(_ROLE_ACTIONS)}")
    owners = entry.get("owners", [])
    if owners == "*":
        return Grant(entry["role"], None)
    if owners == "self":
        owners = ["self"]
    if not isinstance(owners, list) or not all(isinstance(o, str) for o in owners):
        raise PolicyError(f"{path}: {identity!r}: owners must be a list of ids, 'self' or '*'")
    return Grant(entry["role"], frozenset(owners))


class Policy:
    def __init__(self, grants: dict[str, Grant]) -> None:
        self._grants = grants

    @classmethod
    def load(cls, path: Path) -> Policy:
        try:
            document = json.loads(path.read_text())
        except OSError as exc:
            raise PolicyError(f"auth_policy_file: cannot read {path}: {exc.strerror}") from exc
        except json.JSONDecodeError as exc:
            raise PolicyError(f"auth_policy_file: {path} is not JSON: {exc}") from exc
        identities = document.get("identities") if isinstance(document, dict) else None
        if not isinstance(identities, dict):
            raise PolicyError(f"auth_policy_file: {path} needs an 'identities' object")
        return cls({name: _grant(path, name, entry) for name, entry in identities.items()})

    def role_of(self, identity: str) -> str | None:
        grant = self._grants.get(identity)
        return grant.role if grant else None

    def allows(self, identity: str, action: str, owners: Iterable[str]) -> bool:
        grant = self._grants.get(identity)
        return grant is not None and grant.allows(identity, action, owners)
