"""README.md and docs/operations.md list every metric the code defines, with its labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from vinculo_apps.metrics_reference import TARGETS, render, table


@pytest.mark.parametrize("path", TARGETS, ids=lambda p: p.name)
def test_reference_is_current(path: Path) -> None:
    text = path.read_text()
    assert render(text) == text, "stale: run python -m vinculo_apps.metrics_reference --write"


def test_reference_lists_grpc_and_labelled_metrics() -> None:
    text = table()
    assert "| `grpc_server_handled_total` | counter | `grpc_type`, `grpc_service`, " in text
    assert "| `vinculo_scoring_events_dead_lettered_total` | counter | `reason` |" in text
