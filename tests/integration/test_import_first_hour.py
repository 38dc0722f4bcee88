"""`vinculo import` in a new user's first hour: a closed port, rows left out by design."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.harness import ServiceProcess, free_port
from tests.unit.test_linkedin_import import ME, write_zip
from vinculo_apps.cli import main

pytestmark = pytest.mark.integration

MESSAGES = (
    "CONVERSATION ID,CONVERSATION TITLE,FROM,SENDER PROFILE URL,TO,RECIPIENT PROFILE URLS,"
    "DATE,SUBJECT,CONTENT,FOLDER\n"
    f"c1,,Ana López,https://www.linkedin.com/in/ana,Me Owner,{ME},"
    "2023-03-13 09:00:00 UTC,,hi,INBOX\n"
    f"c4,,Spammer,https://www.linkedin.com/in/spam,Me Owner,{ME},2023-05-01,,buy,SPAM\n"
)


def test_import_against_a_closed_port_fails_fast_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_zip(tmp_path / "e.zip", {"messages.csv": MESSAGES.encode()})
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    status = main(["import", "linkedin", str(export), "--owner", "me", "--ingest", address])
    seconds = time.monotonic() - started
    out = capsys.readouterr().out
    assert status == 2
    assert seconds < 3.0, seconds
    assert f"no ingest service answers at {address}" in out and "VINCULO_INGEST_ADDRESS" in out


def test_a_spam_row_left_out_is_not_an_error(
    ingest: ServiceProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_zip(tmp_path / "e.zip", {"messages.csv": MESSAGES.encode()})
    argv = ["import", "linkedin", str(export), "--owner", "me", "--ingest", ingest.address]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "1 accepted" in out and "0 rows skipped" in out, out
    assert "left out by design: message in the SPAM folder: 1" in out, out
