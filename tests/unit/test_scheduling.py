"""The order `make test` hands tests to its workers (tests/scheduling.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.scheduling import DurationRecorder, expected_seconds, longest_first


@dataclass
class FakeItem:
    nodeid: str
    group: str | None = None
    marks: list[Any] = field(default_factory=list)

    def get_closest_marker(self, name: str) -> Any:
        if name == "xdist_group" and self.group is not None:
            return pytest.mark.xdist_group(self.group).mark
        return None


def test_longest_units_go_first_and_a_groups_tests_stay_together() -> None:
    items = [
        FakeItem("a::short"),
        FakeItem("m::one", group="m"),
        FakeItem("b::long"),
        FakeItem("m::two", group="m"),
        FakeItem("c::unknown"),
    ]
    seconds = {"a::short": 1.0, "m::one": 4.0, "m::two": 4.0, "b::long": 6.0}
    longest_first(items, seconds)  # type: ignore[arg-type]
    # the group's 8 s beat the single 6 s test; unknown tests count as 0 and keep their order
    assert [i.nodeid for i in items] == ["m::one", "m::two", "b::long", "a::short", "c::unknown"]


def test_recorded_seconds_sum_the_phases_and_keep_tests_of_a_second(tmp_path: Path) -> None:
    recorder = DurationRecorder(tmp_path / "durations.json")
    for nodeid, duration in [("x", 0.4), ("x", 0.7), ("y", 0.5)]:
        recorder.pytest_runtest_logreport(FakeReport(nodeid, duration))  # type: ignore[arg-type]
    recorder.pytest_sessionfinish(FakeSession())  # type: ignore[arg-type]
    assert json.loads((tmp_path / "durations.json").read_text()) == {"x": 1.1}
    assert expected_seconds(tmp_path / "durations.json") == {"x": 1.1}
    assert expected_seconds(tmp_path / "missing.json") == {}


@dataclass
class FakeReport:
    nodeid: str
    duration: float


class FakeSession:
    class config:  # the controller's config: no `workerinput`
        pass
