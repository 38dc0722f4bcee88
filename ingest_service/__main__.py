"""`vinculo-ingest` (or `python -m ingest_service`): the ingest service alone."""

from __future__ import annotations

import argparse

from ingest_service import server


def main() -> int:
    parser = argparse.ArgumentParser(prog="vinculo-ingest", description=server.__doc__)
    server.add_arguments(parser)
    return server.run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
