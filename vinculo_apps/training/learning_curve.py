"""How many labels it takes for a labels model to beat the shipped model (issue 15).

    python -m vinculo_apps.training.learning_curve --events FILE... --labels FILE

People are dealt into five folds; one fold's people are the test (their rows),
pairs with neither person in it are the pool. From the pool, `n` labelled pairs
are drawn (both directions of a pair kept together), the candidates of
`candidates` without the boosted trees choose on inner folds of the draw, and
the chosen one scores the test rows. Each `n` is drawn with every seed and every
test fold; the shipped model is scored on the same test rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from scoring_service.model.artifact import load_default_model
from vinculo_apps.training import candidates
from vinculo_apps.training.dataset import EventLog, unordered
from vinculo_apps.training.evaluation import auc
from vinculo_apps.training.pipeline import labelled_rows, snapshot_context

SIZES = (25, 50, 100, 200, 400, 800, 1600)


def curve(
    events: list[Path],
    labels: Path,
    seeds: int = 3,
    folds: int = 5,
    sizes: tuple[int, ...] = SIZES,
) -> list[tuple[int, float, float]]:
    """(labelled pairs, mean AUC margin of the labels model over the shipped model,
    share of draws where it is ahead) per size the pool can give."""
    log = EventLog.read(events)
    as_of = log.span[1] + 1.0
    rows = labelled_rows(log, labels, as_of)
    states, keys, y = rows.snapshot.states, rows.snapshot.keys, rows.y
    shipped = load_default_model().score(states, as_of, snapshot_context(rows.snapshot))
    found = candidates.candidates(y, candidates.signals(states, as_of, shipped), None)
    ids: dict[tuple[str, str], int] = {}
    pair = np.array([ids.setdefault(unordered(*k), len(ids)) for k in keys])
    people = sorted({p for k in keys for p in k})
    result = []
    for n in sizes:
        margins = []
        for seed in range(seeds):
            owner, contact = candidates._folds_of(keys, people, folds, seed)
            for f in range(folds):
                pool, test = (owner != f) & (contact != f), owner == f
                pairs = np.unique(pair[pool])
                if len(pairs) < n:
                    continue
                drawn = np.random.default_rng(seed).choice(pairs, n, replace=False)
                train = pool & np.isin(pair, drawn)
                if len(np.unique(y[train])) < 2:
                    continue
                name = candidates.choose(y, keys, train, found, seed)
                model_auc = auc(y[test], found[name](train)(test))
                shipped_auc = auc(y[test], shipped[test])
                if model_auc is not None and shipped_auc is not None:
                    margins.append(model_auc - shipped_auc)
        if margins:
            result.append((n, float(np.mean(margins)), float(np.mean(np.array(margins) > 0))))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=Path, nargs="+", required=True)
    parser.add_argument("--labels", type=Path, required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args()
    print(f"{'pairs':>6} {'margin':>8} {'ahead':>6}")
    for n, margin, ahead in curve(
        list(args.events), args.labels, args.seeds, sizes=tuple(args.sizes)
    ):
        print(f"{n:6d} {margin:+8.4f} {ahead:6.0%}")


if __name__ == "__main__":
    main()
