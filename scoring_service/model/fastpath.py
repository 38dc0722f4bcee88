"""A rows-last evaluator for the shipped gradient-boosting model: same numbers, fewer passes.

scikit-learn's tree predictor walks row by row; on a shared 2-core machine it
was the larger half of scoring 10k relationships. The fitted trees (depth ≤ 3)
are padded to complete trees, every split is compared for all rows at once on
the feature-major matrix that `feature_matrix` builds anyway, and a tree's
split outcomes (at most 7 bits at depth 3) index a table of the leaf they lead
to: one gather per tree and row (measured ~1.4x faster than walking the levels).
`compile_model` returns None for anything else (logistic regression, deeper
trees, categorical splits), and `ScoringModel` then calls `predict_proba`.
Equality with `predict_proba` is tested (tests/model/test_artifact.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from scoring_service.features.state import FloatArray

MAX_DEPTH = 3


@dataclass(frozen=True)
class CompiledForest:
    features: np.ndarray  # (trees * internal,) feature index per padded split, level order
    thresholds: FloatArray  # (trees * internal, 1): go left when x <= threshold
    leaves: FloatArray  # (trees, 2**depth)
    depth: int
    baseline: float
    slope: float  # Platt scaling: p = 1 / (1 + exp(slope * f + intercept))
    intercept: float

    @cached_property
    def _table(self) -> FloatArray:
        """Leaf value per tree and outcome code, flat: tree t's code c at t * codes + c.

        A code has bit k set when internal node k (level order) goes right; only the
        bits on the path the walk takes matter, the others are ignored."""
        internal = 2**self.depth - 1
        codes = np.arange(2**internal)
        node = np.zeros(len(codes), dtype=np.intp)
        for _ in range(self.depth):
            node = 2 * node + 1 + ((codes >> node) & 1)
        table: FloatArray = np.ascontiguousarray(self.leaves[:, node - internal]).ravel()
        return table

    @cached_property
    def _offsets(self) -> np.ndarray:
        """Where each tree's codes start in `_table`, (trees, 1)."""
        offsets: np.ndarray = np.arange(len(self.leaves), dtype=np.intp) << (2**self.depth - 1)
        return offsets[:, None]

    @cached_property
    def inputs(self) -> tuple[int, ...]:
        """The input rows some split reads (a padding split reads row 0 and always goes left)."""
        return tuple(sorted(set(self.features.tolist())))

    @cached_property
    def compact(self) -> CompiledForest:
        """The same forest reading only `inputs`, in that order: `compact.proba(xt[inputs])`
        is `proba(xt)` (the same comparisons of the same values)."""
        position = np.zeros(max(self.inputs, default=0) + 1, np.intp)
        position[list(self.inputs)] = np.arange(len(self.inputs))
        return CompiledForest(
            features=position[self.features],
            thresholds=self.thresholds,
            leaves=self.leaves,
            depth=self.depth,
            baseline=self.baseline,
            slope=self.slope,
            intercept=self.intercept,
        )

    def proba(self, xt: FloatArray) -> FloatArray:
        """Calibrated probabilities from model columns laid out feature-major, (F, n)."""
        trees, n = len(self.leaves), xt.shape[1]
        internal = 2**self.depth - 1
        right = (xt[self.features] > self.thresholds).view(np.uint8).reshape(trees, internal, n)
        raw = self.baseline + self._table[self._offsets + split_codes(right)].sum(axis=0)
        result: FloatArray = 1.0 / (1.0 + np.exp(self.slope * raw + self.intercept))
        return result


def split_codes(right: np.ndarray) -> np.ndarray:
    """Each tree's outcome code per row, (trees, n) bytes: bit k is `right[:, k]`,
    from (trees, internal, n) 0/1 bytes. Built from the last split down in bytes (an
    eighth of the memory traffic of intp); eight rows at a time as one uint64 when the
    rows fill whole words (a code has at most 7 bits, so no shift crosses into the next
    byte: the same bytes, in a ninth of the time of the byte loop per 2,048 rows)."""
    internal = right.shape[1]
    words = right.view(np.uint64) if right.shape[2] % 8 == 0 else right
    code = words[:, internal - 1].copy()
    for k in range(internal - 2, -1, -1):
        code <<= 1
        code |= words[:, k]
    codes: np.ndarray = code.view(np.uint8)
    return codes


def compile_model(estimator: Any) -> CompiledForest | None:
    """The forest of a `CalibratedClassifierCV(FrozenEstimator(HGB), method="sigmoid")`, or None."""
    try:
        (calibrated,) = estimator.calibrated_classifiers_
        (calibrator,) = calibrated.calibrators
        forest = calibrated.estimator.estimator
        predictors = [tree for (tree,) in forest._predictors]
        baseline = float(np.ravel(forest._baseline_prediction)[0])
    except (AttributeError, ValueError, TypeError):
        return None
    if calibrated.method != "sigmoid" or not predictors:
        return None
    nodes = [p.nodes for p in predictors]
    if any(n["is_categorical"].any() or n["depth"].max() > MAX_DEPTH for n in nodes):
        return None
    depth = max(1, max(int(n["depth"].max()) for n in nodes))
    padded = [_pad(n, depth) for n in nodes]
    return CompiledForest(
        features=np.concatenate([f for f, _, _ in padded]),
        thresholds=np.concatenate([t for _, t, _ in padded])[:, None],
        leaves=np.stack([v for _, _, v in padded]),
        depth=depth,
        baseline=baseline,
        slope=float(calibrator.a_),
        intercept=float(calibrator.b_),
    )


def _pad(nodes: np.ndarray, depth: int) -> tuple[np.ndarray, FloatArray, FloatArray]:
    """A complete tree of `depth` in level order; an early leaf becomes splits that
    always go left (threshold +inf) down to copies of itself."""
    internal = 2**depth - 1
    features = np.zeros(internal, dtype=np.intp)
    thresholds = np.full(internal, np.inf)
    leaves = np.zeros(2**depth)

    def fill(node: int, position: int, level: int) -> None:
        if level == depth:
            leaves[position - internal] = nodes[node]["value"]
            return
        if nodes[node]["is_leaf"]:
            fill(node, 2 * position + 1, level + 1)
            fill(node, 2 * position + 2, level + 1)
            return
        features[position] = nodes[node]["feature_idx"]
        thresholds[position] = nodes[node]["num_threshold"]
        fill(int(nodes[node]["left"]), 2 * position + 1, level + 1)
        fill(int(nodes[node]["right"]), 2 * position + 2, level + 1)

    fill(0, 0, 0)
    return features, thresholds, leaves
