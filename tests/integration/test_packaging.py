"""A non-editable install (the Dockerfile's path) carries the generated API and the model.

Editable installs see the source tree, so they would hide a wheel that lacks
the generated code; this builds the wheel from a clean copy of the sources.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    "pyproject.toml",
    "setup.py",
    "README.md",
    "LICENSE",
    "protos",
    "vinculo",
    "ingest_service",
    "scoring_service",
]


def test_wheel_contains_generated_code_and_default_model(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    shutil.rmtree(source / "vinculo" / "v1", ignore_errors=True)  # must be generated anew
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), "."],
        cwd=source,
        check=True,
        timeout=600,
    )
    (wheel,) = tmp_path.glob("vinculo-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ("events_pb2", "ingest_pb2_grpc", "scoring_pb2_grpc"):
        assert f"vinculo/v1/{module}.py" in names
    assert "scoring_service/model/default_model.skops" in names
    assert any(n.endswith("entry_points.txt") for n in names)
