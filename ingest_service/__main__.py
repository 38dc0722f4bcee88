"""`python -m ingest_service --grpc-port P --metrics-port M --kafka-bootstrap B --data-dir D`."""

from __future__ import annotations

import argparse

from ingest_service import server


def main() -> int:
    parser = argparse.ArgumentParser(prog="ingest_service", description=server.__doc__)
    server.add_arguments(parser)
    return server.run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
