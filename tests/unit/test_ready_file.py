"""The ready file a service writes once serving: whole or absent, never half written."""

from __future__ import annotations

import os
from pathlib import Path

from vinculo.ready import ReadyPorts, read_ready_file, remove_ready_file, write_ready_file


def test_the_ports_written_are_the_ports_read(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ready.json"
    write_ready_file(path, 50123, 9123)
    assert read_ready_file(path) == ReadyPorts(50123, 9123, os.getpid())


def test_no_file_yet_reads_as_none_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    path = tmp_path / "ready.json"
    assert read_ready_file(path) is None
    write_ready_file(path, 1, 2)
    write_ready_file(path, 3, 4)  # a rewrite replaces the file in one step
    assert [p.name for p in tmp_path.iterdir()] == ["ready.json"]
    assert read_ready_file(path) == ReadyPorts(3, 4, os.getpid())
    remove_ready_file(path)
    remove_ready_file(path)  # removing what is gone is not an error
    assert read_ready_file(path) is None
