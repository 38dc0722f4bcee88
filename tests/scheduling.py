"""Longest tests first: the order pytest-xdist hands tests to its workers.

`make test` runs with `--dist loadgroup --no-loadscope-reorder`: each worker
takes the next unit (a test, or the tests of one `xdist_group`) when it is
free, in collection order. Collected in file order, a
40-second test met last kept one worker busy while seven sat idle at the end
of the run; started first, the long tests overlap each other and the short
ones fill the gaps (longest-processing-time-first scheduling).

The expected seconds per test come from `tests/durations.json`: the tests of
a second or more in one measured run. A test it does not name counts as short.
`make test-durations` measures a run and writes the file again; a stale file
only costs some wall time, never a result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DURATIONS_FILE = Path(__file__).with_name("durations.json")
RECORDED_AT_LEAST_S = 1.0  # shorter tests are left out of the file


def expected_seconds(path: Path = DURATIONS_FILE) -> dict[str, float]:
    if not path.exists():
        return {}
    return {str(k): float(v) for k, v in json.loads(path.read_text()).items()}


def unit_of(item: pytest.Item) -> str:
    """What one worker runs in one go: the test, or its `xdist_group` (a module whose
    module- or session-scoped fixture should be built once, not once per worker)."""
    mark = item.get_closest_marker("xdist_group")
    return f"group:{mark.args[0]}" if mark is not None and mark.args else item.nodeid


def longest_first(items: list[pytest.Item], seconds: dict[str, float]) -> None:
    """Sorts in place, longest unit first, a group's tests together; deterministic, so
    that every worker collects the same order."""
    totals: dict[str, float] = {}
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        unit = unit_of(item)
        totals[unit] = totals.get(unit, 0.0) + seconds.get(item.nodeid, 0.0)
        first.setdefault(unit, index)
    items.sort(key=lambda item: (-totals[unit_of(item)], first[unit_of(item)]))


class DurationRecorder:
    """Sums setup, call and teardown seconds per test (reports reach the controller
    from every worker) and writes the tests of at least a second."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seconds: dict[str, float] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.seconds[report.nodeid] = self.seconds.get(report.nodeid, 0.0) + report.duration

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput"):  # a worker: the controller writes
            return
        kept = {
            nodeid: round(s, 1)
            for nodeid, s in sorted(self.seconds.items(), key=lambda kv: -kv[1])
            if s >= RECORDED_AT_LEAST_S
        }
        self.path.write_text(json.dumps(kept, indent=1) + "\n")
