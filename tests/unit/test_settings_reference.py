"""docs/operations.md lists every VINCULO_* setting of every settings object."""

from __future__ import annotations

import re

import pytest

from vinculo_apps.settings_reference import ROOT, TARGET, render, rows, table

# A field declared with `setting(default, "VINCULO_...", help)`, as written in the source.
_DECLARED = re.compile(r"setting\(\s*[^\n]*?\"(VINCULO_[A-Z0-9_]+)\"", re.DOTALL)
SOURCES = ("vinculo", "ingest_service", "scoring_service", "vinculo_apps")


def _declared() -> set[str]:
    found: set[str] = set()
    for package in SOURCES:
        for path in (ROOT / package).rglob("*.py"):
            found |= set(_DECLARED.findall(path.read_text()))
    return found


def test_reference_is_current() -> None:
    text = TARGET.read_text()
    assert render(text) == text, "stale: run python -m vinculo_apps.settings_reference --write"


def test_every_declared_setting_has_a_row() -> None:
    declared = _declared()
    assert len(declared) > 40  # the scan finds the settings at all
    listed = {row.env for row in rows()}
    assert declared - listed == set(), "a settings object is missing from OBJECTS"


def test_a_row_gives_flag_type_default_readers_and_meaning() -> None:
    text = table()
    assert "| `VINCULO_INGEST_OUTBOX` | `--outbox` | bool | `True` | ingest |" in text
    # One variable read by several objects is one row with each reader's default.
    bootstrap = [line for line in text.splitlines() if "`VINCULO_KAFKA_BOOTSTRAP`" in line]
    assert len(bootstrap) == 1
    assert 'ingest, scoring, export: `127.0.0.1:9092`<br>up: `""`' in bootstrap[0]
    password = next(line for line in text.splitlines() if "`VINCULO_KAFKA_SASL_PASSWORD`" in line)
    assert "| `VINCULO_KAFKA_SASL_PASSWORD` | (none) |" in password  # a secret has no flag
    port = next(line for line in text.splitlines() if "`VINCULO_INGEST_GRPC_PORT`" in line)
    assert "ingest: `--grpc-port`<br>up: `--ingest-grpc-port`" in port


def test_render_refuses_a_text_without_markers() -> None:
    with pytest.raises(ValueError, match="settings-reference:begin"):
        render("no markers here")
