"""`vinculo demo` as `make demo` runs it, on a smaller network: the report, then nothing left.

The demo starts the embedded broker and both services, feeds a generated
network through gRPC, and ends with the focal owner's report (terminal and
HTML). Its children are recorded from /proc while it runs, so the test can
check that every one of them is gone afterwards, and kill them if not.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.harness import alive, children_of
from vinculo_apps import demo_network

pytestmark = pytest.mark.integration

SEED, PEOPLE, CONTACTS = 3, 10, 60
ROW = re.compile(r"^│\s*(\d+) │ (\S.*?)\s*│\s*([\d.]+) │ (\w+)\s*│")


def mentioning(text: str) -> list[str]:
    """Command lines of running processes that contain `text`."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if text in cmdline and alive(int(entry.name)):
            out.append(cmdline)
    return out


def ranking(output: str, title: str) -> list[tuple[int, str, float, str]]:
    """(rank, contact, score, tier) rows of the rich table after `title`."""
    section = output.split(title, 1)[1]
    rows = []
    for line in section.splitlines()[4:]:
        if line.startswith("└"):
            break
        if match := ROW.match(line):
            rank, contact, score, tier = match.groups()
            rows.append((int(rank), contact, float(score), tier))
    return rows


def test_demo_prints_the_report_writes_html_and_leaves_nothing_running(tmp_path: Path) -> None:
    data_dir, html = tmp_path / "data", tmp_path / "report.html"
    args = [
        *(sys.executable, "-m", "vinculo_apps.cli", "demo", "--seed", str(SEED)),
        *("--people", str(PEOPLE), "--contacts", str(CONTACTS), "--timeout", "60"),
        *("--data-dir", str(data_dir), "--html", str(html)),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VINCULO_")}
    env["COLUMNS"] = "200"  # rich wraps at 80 columns when not on a terminal
    out_path, err_path = tmp_path / "demo.out", tmp_path / "demo.err"
    children: set[int] = set()
    started = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        demo = subprocess.Popen(args, stdout=out, stderr=err, env=env, cwd=tmp_path)
    try:
        while demo.poll() is None and time.monotonic() - started < 120:
            children |= children_of(demo.pid)
            time.sleep(0.1)
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(20)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
        left = [pid for pid in children if alive(pid)]
        for pid in left:  # never leave a process behind, pass or fail
            os.kill(pid, signal.SIGKILL)
    elapsed = time.monotonic() - started
    output, log = out_path.read_text(), err_path.read_text()

    assert demo.returncode == 0, f"{output}\n{log}"
    assert len(children) >= 3, (children, log)  # broker, ingest, scoring (seen at least)
    assert not left, f"left running: {left}"
    assert not mentioning(str(data_dir)), "a service of the demo is still running"
    broker = re.search(r"broker\s+(127\.0\.0\.1:\d+)", log)
    assert broker is not None, log
    assert not mentioning(f"tcp://{broker.group(1)}"), "the demo's broker is still running"

    # The focal owner's ranking: their real contacts, strongest first, strong ties on top.
    network = demo_network.generate(seed=SEED, people=PEOPLE, focal_contacts=CONTACTS)
    owner = network.focal
    assert f"Network of {owner}" in output
    # The report shows names; the generator gave each person a distinct one.
    person = {name: person_id for person_id, name in network.names.items()}
    top = [(r, person[name], s, t) for r, name, s, t in ranking(output, "Strongest 10")]
    bottom = [(r, person[name], s, t) for r, name, s, t in ranking(output, "Weakest 10")]
    assert [rank for rank, *_ in top] == list(range(1, 11)), output
    assert len(bottom) == 10, output
    contacts = demo_network.contacts_of(network, owner)
    assert {contact for _, contact, _, _ in top + bottom} <= contacts
    scores = [score for *_, score, _ in top + bottom]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[-1]

    def archetype(contact: str) -> str:
        pairs = network.archetypes
        return pairs.get((owner, contact)) or pairs[(contact, owner)]

    strong = {"core", "cooling"}  # the generator's long, reciprocal ties (demo_network)
    # Never a real exchange: these must not rank among the strongest.
    never_engaged = {"dormant", "spammer", "cold_outreach"}
    assert archetype(top[0][1]) in strong, top
    assert not {archetype(c) for _, c, _, _ in top[:5]} & never_engaged, top
    assert not {archetype(c) for _, c, _, _ in bottom} & strong, bottom

    # The summary and the suggestions, each once (the demo's own tables are gone).
    assert output.count("Strongest 10") == 1
    assert f"{len(contacts)} contacts" in output
    assert "By tier: close" in output
    assert "From contact to relationship" in output
    assert "Reply rate to your personalised messages" in output
    assert "does not offer suggestions" not in output
    headings = re.findall(r"^(Reply|Nurture|Meet in person|Reconnect|Prune) \(\d+\)", output, re.M)
    assert headings, output

    # The HTML page, and where it is.
    page = html.read_text()
    assert f"Network of {owner}" in page and 'id="strength-histogram"' in page
    assert str(html) in output.replace("\n", "")
    assert "Wall time" in output
    assert elapsed < 60, f"demo took {elapsed:.0f} s"
