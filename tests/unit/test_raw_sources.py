"""The raw-topic source map: file errors name the setting; sources from both CloudEvent modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest_service.raw_sources import SourceGate, cloudevent_source, load_sources, source_gate
from ingest_service.settings import IngestSettings
from vinculo import settings as settings_mod
from vinculo.security.policy import Grant, Policy
from vinculo.settings import SettingsError
from vinculo.v1 import events_pb2 as pb


def test_the_source_comes_from_the_header_or_the_envelope() -> None:
    assert cloudevent_source(b"{}", [("ce_source", b"crm")]) == "crm"
    assert cloudevent_source(json.dumps({"source": "cal"}).encode(), []) == "cal"
    assert cloudevent_source(b"not json", []) is None


@pytest.mark.parametrize("text", ["[]", '{"sources": {"a": 1}}', '{"sources": {"": "x"}}', "{"])
def test_a_bad_sources_file_is_refused_naming_the_setting(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sources.json"
    path.write_text(text)
    with pytest.raises(SettingsError, match="VINCULO_RAW_SOURCES_FILE"):
        load_sources(path)


def test_sources_must_name_identities_of_the_policy(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"identities": {"crm": {"role": "producer", "owners": "*"}}}))
    sources = tmp_path / "sources.json"
    sources.write_text(json.dumps({"sources": {"crm-sync": "nobody"}}))
    with pytest.raises(SettingsError, match="nobody"):
        source_gate(str(policy), str(sources))
    assert source_gate("", "") is None  # auth off: every source passes


def test_a_sources_file_needs_a_policy(tmp_path: Path) -> None:
    environ = {"VINCULO_RAW_SOURCES_FILE": str(tmp_path / "s.json")}
    with pytest.raises(SettingsError, match="raw_sources_file"):
        settings_mod.load(IngestSettings, environ=environ)


def test_the_gate_checks_the_owner_of_each_event() -> None:
    gate = SourceGate(Policy({"crm": Grant("producer", frozenset({"ana"}))}), {"crm-sync": "crm"})
    headers = [("ce_source", b"crm-sync")]
    assert gate.check(b"", headers, pb.InteractionEvent(owner_id="ana")) is None
    denied = gate.check(b"", headers, pb.InteractionEvent(owner_id="ben"))
    assert denied is not None and denied.code == "permission_denied"
    assert "ben" not in denied.message
    unknown = gate.check(b"", [("ce_source", b"x")], pb.InteractionEvent(owner_id="ana"))
    assert unknown is not None and unknown.code == "unknown_source"
