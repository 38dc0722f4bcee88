"""The `vinculo` command: one verb per module, imported only when used.

Each command module exposes `add_arguments(parser)` and `run(args) -> int`, so
`vinculo --help` stays fast and a verb's heavy imports (scikit-learn, grpc)
cost nothing to the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from vinculo.settings import run_checked

COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("vinculo_apps.commands.up", "start the embedded broker and both services"),
    "demo": (
        "vinculo_apps.commands.demo",
        "run the pipeline on a generated network; print the report",
    ),
    "ingest": ("ingest_service.server", "run the ingest service alone"),
    "scoring": ("scoring_service.server", "run the scoring service alone"),
    "train": ("vinculo_apps.training.cli_train", "train a scoring model from event files"),
    "evaluate": ("vinculo_apps.training.cli_evaluate", "evaluate a model against baselines"),
    "import": ("vinculo_apps.commands.import_", "import history (LinkedIn export, event files)"),
    "export": ("vinculo_apps.commands.export", "write the ingested events to an event file"),
    "report": ("vinculo_apps.commands.report", "print or write a report of one person's network"),
    "forget": ("vinculo_apps.commands.forget", "erase a person, or one contact of a person"),
}


def build_parser(selected: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vinculo", description="Relationship-strength scoring.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == selected:  # only the verb being run imports its module
            importlib.import_module(module_name).add_arguments(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    selected = next((a for a in args_list if not a.startswith("-")), None)
    args = build_parser(selected if selected in COMMANDS else None).parse_args(args_list)
    module = importlib.import_module(COMMANDS[args.command][0])
    return run_checked(f"vinculo {args.command}", lambda: int(module.run(args)))


if __name__ == "__main__":
    raise SystemExit(main())
