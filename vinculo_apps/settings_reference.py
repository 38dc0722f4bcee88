"""The settings reference, generated from the settings objects themselves.

`python -m vinculo_apps.settings_reference --write` rewrites the table between
the markers in docs/operations.md; tests/unit/test_settings_reference.py fails
when it is stale or when a settings object is missing from `OBJECTS`.

One row per `VINCULO_*` variable: its flag, type, default, where it is read
and its meaning. A variable read by several objects (the services, `vinculo
up`, `vinculo export`) is one row; a default that differs between them is
shown per reader.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest_service.settings import IngestSettings
from scoring_service.settings import ScoringSettings
from vinculo.security.channel import ClientSecurity
from vinculo_apps.commands.export import ExportSettings
from vinculo_apps.commands.up import UpSettings
from vinculo_apps.generated_docs import replace_marked

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- settings-reference:begin -->", "<!-- settings-reference:end -->"
TARGET = ROOT / "docs" / "operations.md"

# Every settings object, with the name of what reads it (the column "read by").
OBJECTS: tuple[tuple[str, type[Any]], ...] = (
    ("ingest", IngestSettings),
    ("scoring", ScoringSettings),
    ("up", UpSettings),
    ("export", ExportSettings),
    ("clients", ClientSecurity),
)


@dataclass
class Row:
    env: str
    kind: str
    meaning: str
    flags: dict[str, str] = dataclasses.field(default_factory=dict)  # reader -> its flag
    defaults: dict[str, str] = dataclasses.field(default_factory=dict)  # reader -> default


def _default(value: Any) -> str:
    if value == "":
        return '`""`'
    return f"`{value}`"


def rows() -> list[Row]:
    """One row per variable, in the order the objects declare them."""
    found: dict[str, Row] = {}
    for reader, cls in OBJECTS:
        types = typing.get_type_hints(cls)
        for field in dataclasses.fields(cls):
            env = field.metadata["env"]
            row = found.setdefault(
                env, Row(env, types[field.name].__name__, str(field.metadata["help"]))
            )
            # A secret (repr=False) has no flag: a flag shows in the process list.
            flag = "`--" + field.name.replace("_", "-") + "`" if field.repr else "(none)"
            row.flags[reader] = flag
            row.defaults[reader] = _default(field.default)
    return list(found.values())


def _per_reader(values: dict[str, str]) -> str:
    """One value if all readers agree, else each value with the readers that use it."""
    readers: dict[str, list[str]] = {}
    for reader, value in values.items():
        readers.setdefault(value, []).append(reader)
    if len(readers) == 1:
        return next(iter(readers))
    return "<br>".join(f"{', '.join(names)}: {value}" for value, names in readers.items())


def table() -> str:
    lines = [
        "| variable | flag | type | default | read by | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows():
        meaning = row.meaning.replace("|", "\\|")
        cells = (_per_reader(row.flags), row.kind, _per_reader(row.defaults))
        readers = ", ".join(row.defaults)
        lines.append(f"| `{row.env}` | {' | '.join(cells)} | {readers} | {meaning} |")
    return "\n".join(lines)


def render(text: str) -> str:
    return replace_marked(text, BEGIN, END, table())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite docs/operations.md")
    args = parser.parse_args(argv)
    if args.write:
        TARGET.write_text(render(TARGET.read_text()))
    else:
        print(table())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
