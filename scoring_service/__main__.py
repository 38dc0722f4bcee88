"""`vinculo-scoring` (or `python -m scoring_service`): the scoring service alone."""

from scoring_service.server import main

if __name__ == "__main__":
    raise SystemExit(main())
