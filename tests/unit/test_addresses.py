"""One setting per address, read the same way by import, report and export."""

from __future__ import annotations

import pytest

from vinculo_apps import addresses
from vinculo_apps.cli import main


def test_each_address_from_flag_then_its_variable_then_the_port_up_was_given() -> None:
    moved = {"VINCULO_SCORING_GRPC_PORT": "60052", "VINCULO_INGEST_GRPC_PORT": "60051"}
    assert addresses.resolve(addresses.SCORING, None, moved) == "127.0.0.1:60052"
    assert addresses.resolve(addresses.INGEST, None, moved) == "127.0.0.1:60051"
    assert addresses.resolve(addresses.KAFKA, None, {"VINCULO_BROKER_PORT": "19092"}) == (
        "127.0.0.1:19092"
    )
    both = {**moved, "VINCULO_SCORING_ADDRESS": "h:1"}
    assert addresses.resolve(addresses.SCORING, None, both) == "h:1"
    assert addresses.resolve(addresses.SCORING, "f:2", both) == "f:2"
    assert addresses.resolve(addresses.SCORING, None, {}) == "127.0.0.1:50052"


def test_report_follows_a_stack_moved_with_the_up_port_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("VINCULO_SCORING_GRPC_PORT", "1")  # nothing listens on port 1
    monkeypatch.delenv("VINCULO_SCORING_ADDRESS", raising=False)
    assert main(["report", "--owner", "me"]) == 2
    out = capsys.readouterr().out
    assert "scoring at 127.0.0.1:1" in out, out
