"""The README's API examples and configuration table match the code."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from google.protobuf import descriptor_pool, json_format, symbol_database

from ingest_service.settings import IngestSettings
from scoring_service.settings import ScoringSettings
from vinculo.security.channel import ClientSecurity
from vinculo.v1 import erasure_pb2, ingest_pb2, scoring_pb2  # noqa: F401  (registers the services)
from vinculo_apps import addresses
from vinculo_apps.commands.up import UpSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
HEREDOC = re.compile(r"-d @ \S+ (vinculo\.v1\.\w+)/(\w+) <<'EOF'\n(.*?)\nEOF", re.S)
INLINE = re.compile(r"-d '(\{.*?\})' \S+ (vinculo\.v1\.\w+)/(\w+)")


def _examples() -> list[tuple[str, str, str]]:
    found = [(s, m, body) for s, m, body in HEREDOC.findall(README)]
    found += [(s, m, body) for body, s, m in INLINE.findall(README)]
    return found


def _request_class(service: str, method: str) -> type:
    descriptor = descriptor_pool.Default().FindServiceByName(service).FindMethodByName(method)
    return symbol_database.Default().GetSymbol(descriptor.input_type.full_name)  # type: ignore[no-any-return]


def test_readme_has_examples() -> None:
    assert len(_examples()) >= 5


@pytest.mark.parametrize(("service", "method", "body"), _examples())
def test_example_bodies_parse_as_the_requests(service: str, method: str, body: str) -> None:
    message = json_format.Parse(body, _request_class(service, method)())
    assert message.ListFields(), f"{method}: the example sets no field"


def test_every_rpc_in_the_table_exists() -> None:
    for service, method in re.findall(r"\| `(\w+Service)\.(\w+)` \|", README):
        descriptor = descriptor_pool.Default().FindServiceByName(f"vinculo.v1.{service}")
        assert descriptor.FindMethodByName(method) is not None, f"{service}.{method}"


def test_every_configuration_variable_is_read_by_a_service() -> None:
    known = {
        field.metadata["env"]
        for cls in (IngestSettings, ScoringSettings, UpSettings, ClientSecurity)
        for field in dataclasses.fields(cls)
    }
    # and the client commands' addresses (vinculo_apps.addresses) and TLS/token settings
    known |= {which[0] for which in (addresses.INGEST, addresses.SCORING, addresses.KAFKA)}
    known |= {field.metadata["env"] for field in dataclasses.fields(ClientSecurity)}
    table = README.split("## Configuration", 1)[1].split("##", 1)[0]
    named = set(re.findall(r"`(VINCULO_[A-Z_]+)`", table))
    prefixes = {m.rstrip("_") for m in re.findall(r"`(_[A-Z_]+)`", table)}
    named |= {f"VINCULO_CADENCE{p}" for p in prefixes}
    assert named, "no variables found in the README's configuration table"
    assert named <= known, f"README names unknown settings: {sorted(named - known)}"
