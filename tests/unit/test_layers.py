"""The import direction the folder layout promises (docs/architecture.md).

The contract (`vinculo`) imports nothing of the project above it; each service
imports only the contract and itself; the applications (`vinculo_apps`) and
`bench` may import anything. A test reads every module's imports, including
those inside functions, so a late import cannot hide an upward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("vinculo", "vinculo_apps", "ingest_service", "scoring_service", "bench", "tests")
ALLOWED: dict[str, set[str]] = {
    "vinculo": {"vinculo"},
    "ingest_service": {"vinculo", "ingest_service"},
    "scoring_service": {"vinculo", "scoring_service"},
}


def imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif _is_import_module_call(node):
            found.add(str(node.args[0].value))  # type: ignore[attr-defined]
    return {name.split(".")[0] for name in found if name.split(".")[0] in PROJECT}


def _is_import_module_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and getattr(node.func, "attr", "") == "import_module"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
    )


def modules_of(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "v1" not in p.parts)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_the_layers_below_it(package: str) -> None:
    modules = modules_of(package)
    assert modules, f"no modules under {package}/"
    upward = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) - ALLOWED[package])
        for path in modules
    }
    assert {k: v for k, v in upward.items() if v} == {}


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from vinculo_apps.cli import main\n    return main\n")
    assert imported_packages(module) == {"vinculo_apps"}
