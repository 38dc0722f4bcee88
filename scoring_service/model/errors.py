"""Errors in what a user gives `vinculo train` / `evaluate` (or the service's model path).

Each message names the file (and line) or option that was wrong, so the
command line can print it as one line instead of a traceback.
"""

from __future__ import annotations


class ModelInputError(ValueError):
    """An event file, labels file, model file, option or data set that cannot be used."""
