"""`python -m scoring_service`: the scoring service alone (as `vinculo scoring`)."""

from scoring_service.server import main

raise SystemExit(main())
