"""Typed settings from defaults, `VINCULO_*` environment variables and flags.

Each service declares one frozen dataclass whose fields use `setting(...)`;
`add_flags` turns it into argparse flags and `load` builds it with the
precedence flags > environment > defaults. Nothing reads the environment
anywhere else, and the object is passed in, never global.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def setting(default: Any, env: str, help: str) -> Any:
    """A settings field: its default, its environment variable, its help text."""
    return dataclasses.field(default=default, metadata={"env": env, "help": help})


def _flag(field: dataclasses.Field[Any]) -> str:
    return "--" + field.name.replace("_", "-")


def _field_types(cls: type[Any]) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def parse_value(raw: str, kind: Any, name: str) -> Any:
    """Convert one raw string to the field's type; the error names the setting."""
    try:
        if kind is bool:
            lowered = raw.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError("expected true/false")
        if kind is Path:
            return Path(raw)
        return kind(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}: cannot read {raw!r} as {kind.__name__}: {exc}") from exc


class SettingsError(ValueError):
    """A setting's value is not valid; the message names the setting."""


def run_checked(prog: str, command: Callable[[], int]) -> int:
    """Run a command that loads its settings: an invalid one ends it with the message
    that names the setting and exit code 2 (argparse's code for bad usage), not with a
    traceback."""
    try:
        return command()
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2


def add_flags(parser: argparse.ArgumentParser, cls: type[Any]) -> None:
    types = _field_types(cls)
    for field in dataclasses.fields(cls):
        if not field.repr:  # a secret: only from the environment or a file, never a flag
            continue  # (a flag shows in the process list)
        env = field.metadata["env"]
        parser.add_argument(
            _flag(field),
            dest=field.name,
            default=None,
            metavar=types[field.name].__name__.upper(),
            help=f"{field.metadata['help']} [env {env}, default {field.default}]",
        )


def load(
    cls: type[T],
    args: argparse.Namespace | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    environ = os.environ if environ is None else environ
    types = _field_types(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        env = field.metadata["env"]
        raw = getattr(args, field.name, None) if args is not None else None
        source = _flag(field)
        if raw is None and env in environ:
            raw, source = environ[env], env
        if raw is not None:
            values[field.name] = parse_value(str(raw), types[field.name], source)
    settings = cls(**values)
    validate = getattr(settings, "validate", None)
    if callable(validate):
        validate()
    return settings
