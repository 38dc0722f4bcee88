"""`vinculo-ingest` (or `python -m ingest_service`): the ingest service alone."""

from __future__ import annotations

import argparse

from ingest_service import server
from vinculo.settings import run_checked


def main() -> int:
    parser = argparse.ArgumentParser(prog="vinculo-ingest", description=server.__doc__)
    server.add_arguments(parser)
    args = parser.parse_args()
    return run_checked("ingest_service", lambda: server.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
