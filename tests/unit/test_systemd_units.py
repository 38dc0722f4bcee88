"""deploy/systemd/: the units systemd itself accepts, with the supervision they promise."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
NAMES = ("vinculo-ingest.service", "vinculo-scoring.service")


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNITS / name)
    return parser


@pytest.mark.parametrize("name", NAMES)
def test_unit_restarts_on_failure_with_a_limit_as_a_non_root_user(name: str) -> None:
    unit = _unit(name)
    service = unit["Service"]
    assert service["Restart"] == "on-failure" and service["RestartSec"] == "2s"
    assert int(unit["Unit"]["StartLimitBurst"]) >= 1
    assert int(unit["Unit"]["StartLimitIntervalSec"]) > 0
    assert service["User"] not in ("", "root")
    assert service["EnvironmentFile"] == "/etc/vinculo/vinculo.env"
    module = name.removeprefix("vinculo-").removesuffix(".service")
    assert service["ExecStart"].endswith(f"/vinculo-{module}")
    assert service["Environment"] == f"VINCULO_DATA_DIR=/var/lib/vinculo/{module}"


def test_the_env_file_sets_only_known_settings() -> None:
    from vinculo_apps.settings_reference import rows

    known = {row.env for row in rows()}
    lines = (UNITS / "vinculo.env").read_text().splitlines()
    names = {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}
    assert names and names <= known, names - known


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (Debian package systemd)"
)
def test_systemd_analyze_verify_accepts_both_units(tmp_path: Path) -> None:
    # The units name the installed console scripts; here, this venv's.
    bin_dir = Path(sys.executable).parent
    for name in NAMES:
        text = (UNITS / name).read_text().replace("/opt/vinculo/venv/bin", str(bin_dir))
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / n) for n in NAMES)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "vinculo" not in done.stderr, done.stderr  # no warning about our units either
