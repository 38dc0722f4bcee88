"""Scoring cost: 10,000 relationships of one owner scored in one vectorised call.

`python -m bench.bench_scoring [--model PATH] [--rows 10000] [--repeats 50]`

Prints the median milliseconds of `ScoringModel.score` (the owner's aggregates,
features from raw state + calibrated prediction; the aggregates alone too) and,
measured in the same run on the same machine, two peers:
`LogisticRegression.predict_proba` on a matrix of the same shape (the cheapest
scikit-learn model one could ship) and a bare numpy matrix-vector product (the
floor). Ratios, not absolute numbers, travel between machines.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from scoring_service.features import fold
from scoring_service.features import state as st
from scoring_service.features.features import MODEL_FEATURES
from scoring_service.model.artifact import ScoringModel, load_default_model
from vinculo.domain import Interaction
from vinculo.v1 import events_pb2 as pb

DAY = 86_400.0
NOW = 1_750_000_000.0
TYPES = (
    pb.INTERACTION_TYPE_MESSAGE,
    pb.INTERACTION_TYPE_REPLY,
    pb.INTERACTION_TYPE_COMMENT,
    pb.INTERACTION_TYPE_REACTION,
    pb.INTERACTION_TYPE_CALL,
    pb.INTERACTION_TYPE_MEETING_IN_PERSON,
)


def owner_states(rows: int, seed: int = 0) -> np.ndarray:
    """One owner's network: most contacts barely touched, a few very active (heavy tail)."""
    rng = np.random.default_rng(seed)
    rows_of: list[int] = []
    events: list[Interaction] = []
    for i in range(rows):
        for _ in range(int(rng.pareto(1.5)) + 1):
            kind = TYPES[int(rng.integers(len(TYPES)))]
            direction = int(rng.integers(1, 4))
            when = NOW - float(rng.exponential(120.0)) * DAY
            rows_of.append(i)
            events.append(Interaction(kind, direction, when, personalized=True))
    states = np.zeros((rows, st.STATE_SIZE))
    fold.fold(states, fold.Events.of(rows_of, events))
    return states


def median_ms(call: Callable[[], object], repeats: int) -> float:
    call()  # warm caches and thread pools
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, help="model artifact (default: the shipped one)")
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    model = ScoringModel.load(args.model) if args.model else load_default_model()
    states = owner_states(args.rows)
    x = np.random.default_rng(1).random((args.rows, len(MODEL_FEATURES)))
    peer = LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int))
    weights = np.random.default_rng(2).random(len(MODEL_FEATURES))

    score_ms = median_ms(lambda: model.score(states, NOW), args.repeats)
    context_ms = median_ms(lambda: model.owner_context(states, NOW), args.repeats)
    lr_ms = median_ms(lambda: peer.predict_proba(x), args.repeats)
    matvec_ms = median_ms(lambda: x @ weights, args.repeats)
    print(
        f"model {model.version} ({model.metadata.get('family')}), "
        f"{args.rows} relationships of one owner"
    )
    print(f"ScoringModel.score               {score_ms:8.2f} ms  (target <= 20 ms)")
    print(f"  of which owner context         {context_ms:8.2f} ms  (the owner's aggregates)")
    print(f"peer LogisticRegression.predict  {lr_ms:8.2f} ms  ratio {score_ms / lr_ms:6.1f}x")
    print(
        f"peer numpy matrix @ vector       {matvec_ms:8.2f} ms  ratio {score_ms / matvec_ms:6.1f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
