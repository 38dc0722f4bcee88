"""No secret in any file of the repository, and the container runs as a non-root user."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRIVATE_KEY = "PRIVATE " + "KEY-----"  # split, so this file does not match itself
# A password-like setting given a literal value (a *_FILE setting names a file instead).
LITERAL_SECRET = re.compile(
    r"(?i)\b\w*(password|passwd|secret|api_key)\b\s*[:=]\s*[\"']?(?!/|\$|\{|\"?$)[^\s\"']{4,}"
)

K8S_LITERAL = re.compile(r"name:\s*\w*(PASSWORD|SECRET)\b\s*\n\s*value:")


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    files = [ROOT / name.decode() for name in names if name]
    return [f for f in files if f.is_file() and f.stat().st_size < 2_000_000]


def test_no_private_key_is_tracked() -> None:
    found = [
        str(f.relative_to(ROOT))
        for f in tracked_text_files()
        if PRIVATE_KEY in f.read_text(errors="ignore")
    ]
    assert found == []


def test_deploy_files_give_no_secret_a_literal_value() -> None:
    deploy = [f for f in tracked_text_files() if f.relative_to(ROOT).parts[0] == "deploy"]
    found = []
    for path in deploy:
        for number, line in enumerate(path.read_text(errors="ignore").splitlines(), 1):
            if LITERAL_SECRET.search(line.split("#", 1)[0]):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
    for manifest in (ROOT / "deploy" / "kubernetes").glob("*.yaml"):
        # A Kubernetes env entry: `- name: X_PASSWORD` with a `value:` on the next line.
        assert not K8S_LITERAL.search(manifest.read_text()), manifest.name


def test_the_container_runs_as_a_non_root_user() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("\nFROM ", 1)[1]
    users = re.findall(r"^USER\s+(\S+)", final_stage, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
