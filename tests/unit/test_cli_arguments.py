"""Shared argument types, and `vinculo report` refusing bad options before it connects."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from vinculo_apps.arguments import instant, positive_int
from vinculo_apps.cli import main


def test_instant_reads_rfc3339_with_a_zone_or_seconds() -> None:
    assert instant("2024-06-01T00:00:00Z") == 1717200000.0
    assert instant("2024-06-01T02:00:00+02:00") == 1717200000.0
    assert instant("1717200000") == 1717200000.0


@pytest.mark.parametrize("text", ["yesterday", "2024-06-01T00:00:00", ""])
def test_instant_refuses_text_without_a_zone_or_a_date(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="expected RFC 3339 with a zone"):
        instant(text)


def test_positive_int() -> None:
    assert positive_int("3") == 3
    for bad, why in (("0", "at least 1"), ("-2", "at least 1"), ("many", "whole number")):
        with pytest.raises(argparse.ArgumentTypeError, match=why):
            positive_int(bad)


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--as-of", "yesterday", "argument --as-of: 'yesterday': expected RFC 3339"),
        ("--top", "0", "argument --top: 0: must be at least 1"),
    ],
)
def test_report_options_are_usage_errors(
    option: str, value: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["report", "--owner", "ana", option, value])
    assert stop.value.code == 2
    assert said in capsys.readouterr().err


def test_report_names_a_missing_html_directory_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = tmp_path / "missing" / "report.html"
    # port 1 is never a scoring service: reaching it would print a connection error instead
    code = main(["report", "--owner", "ana", "--scoring", "127.0.0.1:1", "--html", str(page)])
    assert code == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"--html {page}: no directory {page.parent}" in out
    assert "UNAVAILABLE" not in out
