"""The scoring model as an artifact: calibrated classifier + feature schema + metadata, in skops.

`score` is the one call the scoring service makes per owner: features for all
rows at once, one `predict_proba`, no Python loop over relationships.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import skops.io as sio
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from scoring_service.features.features import (
    FEATURE_SCHEMA_VERSION,
    MODEL_FEATURES,
    feature_matrix,
    model_columns,
    model_inputs_of,
)
from scoring_service.features.owner_context import contact_engaged, owner_context
from scoring_service.features.state import DAY, HALF_LIVES_DAYS, FloatArray, S, decayed_counts
from scoring_service.model.errors import ModelInputError
from scoring_service.model.fastpath import compile_model
from vinculo.v1 import events_pb2 as pb

CHUNK = 2048
DEFAULT_MODEL_PATH = Path(__file__).with_name("default_model.skops")
ARTIFACT_FORMAT = "vinculo-scoring-model/1"

# Calibrated probability that the pair interacts again in the coming window (90 days
# for the shipped default model, which takes the window length as an input)
# (docs/model.md, "Tiers"). Lower bounds of each tier.
DEFAULT_TIER_THRESHOLDS: dict[str, float] = {
    "acquaintance": 0.08,
    "relationship": 0.5,
    "close": 0.8,
}
_FEEDBACK_TIER = {
    pb.FEEDBACK_LABEL_CLOSE: pb.TIER_CLOSE,
    pb.FEEDBACK_LABEL_RELATIONSHIP: pb.TIER_RELATIONSHIP,
    pb.FEEDBACK_LABEL_ACQUAINTANCE: pb.TIER_ACQUAINTANCE,
    pb.FEEDBACK_LABEL_NOT_KNOWN: pb.TIER_CONTACT,
}
# Trend: recent rate (30-day half-life) against the tie's long-run rate (365 days).
TREND_UP, TREND_DOWN = 1.5, 0.5

# Every type a saved model may contain: loading refuses anything else (no pickle, no surprises).
TRUSTED_TYPES = [
    "builtins.dict",
    "builtins.list",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "numpy.float64",
    "numpy.int64",
    "numpy.dtype",
    "numpy.ndarray",
    "numpy.log1p",
    "numpy.random.mtrand.RandomState",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.frozen._frozen.FrozenEstimator",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._function_transformer.FunctionTransformer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.linear_model._logistic.LogisticRegression",
]


class ModelSchemaError(ModelInputError):
    """The artifact was built for a feature schema this code cannot compute."""


class ScoringModel:
    def __init__(
        self,
        estimator: Any,
        version: str,
        metadata: dict[str, Any],
        feature_schema_version: int = FEATURE_SCHEMA_VERSION,
    ) -> None:
        self.estimator = estimator
        self.version = version
        self.metadata = metadata
        self.feature_schema_version = feature_schema_version
        self.metadata.setdefault("tier_thresholds", dict(DEFAULT_TIER_THRESHOLDS))
        horizon = self.metadata.get("horizon")
        # Models trained on windows of different lengths take the length as an input;
        # the service asks for contact within `serving_days` (docs/model.md).
        self.serving_horizon_days: float | None = horizon["serving_days"] if horizon else None
        self._columns = model_columns()
        self._threads = ThreadpoolController()
        self._fast = compile_model(estimator)

    # --- scores ---------------------------------------------------------------
    def owner_context(self, states: FloatArray, as_of: float) -> FloatArray:
        """Per-row aggregates of one owner's whole network (`features.owner_context`):
        slice it with the rows to score a subset as it scores in the whole."""
        return owner_context(states, as_of)

    def score(
        self,
        states: FloatArray,
        as_of: float,
        context: FloatArray | None = None,
        horizon_days: float | None = None,
    ) -> FloatArray:
        """Calibrated strength in [0, 1] for every row of `states`, read at `as_of`.

        `context`: the rows' `owner_context`; without it the rows are one owner's
        whole network (the owner-relative features read the rest of the rows).
        `horizon_days`: for a model with a horizon input, the window to predict
        contact in (default: its serving horizon); other models ignore it.

        Blocks of `CHUNK` rows keep every pass in cache (measured 2-3x faster
        than one 10k-row pass); the trees are evaluated by `fastpath` when the
        model is the usual shallow forest (same numbers, tested), else by
        scikit-learn on one OpenMP thread: the service shares its cores, and
        oversubscribed OpenMP threads spin (measured 396 ms vs 60 ms).
        """
        if context is None:
            context = owner_context(states, as_of)
        scores = np.empty(len(states))
        for lo in range(0, len(states), CHUNK):
            hi = lo + CHUNK
            xt = feature_matrix(states[lo:hi], as_of, context[lo:hi]).T[self._columns]  # (F, rows)
            scores[lo : lo + CHUNK] = self._predict(self._with_horizon(xt, horizon_days))
        return scores

    def score_features(self, x: FloatArray) -> FloatArray:
        """Scores from `MODEL_FEATURES` columns, one row each (explanations perturb these),
        at the serving horizon."""
        return self._predict(self._with_horizon(np.ascontiguousarray(x.T), None))

    def _with_horizon(self, xt: FloatArray, horizon_days: float | None) -> FloatArray:
        if self.serving_horizon_days is None:
            return xt
        days = self.serving_horizon_days if horizon_days is None else horizon_days
        return np.vstack([xt, np.full((1, xt.shape[1]), days)])

    def _predict(self, xt: FloatArray) -> FloatArray:
        if self._fast is not None and not np.isnan(xt).any():
            return np.clip(self._fast.proba(xt), 0.0, 1.0)
        with self._threads.limit(limits=1, user_api="openmp"):
            proba = self.estimator.predict_proba(np.asfortranarray(xt.T))[:, 1]
        return np.clip(np.asarray(proba, dtype=np.float64), 0.0, 1.0)

    def tiers(self, scores: FloatArray, states: FloatArray) -> np.ndarray:
        """Proto `Tier` values from the stored thresholds, then two rules and the owner's label.

        Rules: no interaction at all -> contact; the contact never engaged (no
        inbound exchange, no call or meeting) -> at most acquaintance. The owner's
        explicit feedback overrides everything (NOT_KNOWN -> contact).
        """
        t = self.metadata["tier_thresholds"]
        tiers = np.full(len(scores), pb.TIER_CONTACT, dtype=np.int64)
        tiers[scores >= t["acquaintance"]] = pb.TIER_ACQUAINTANCE
        tiers[scores >= t["relationship"]] = pb.TIER_RELATIONSHIP
        tiers[scores >= t["close"]] = pb.TIER_CLOSE
        engaged = contact_engaged(states)
        tiers[~engaged] = np.minimum(tiers[~engaged], pb.TIER_ACQUAINTANCE)
        tiers[states[:, S["EVENT_COUNT"]] == 0] = pb.TIER_CONTACT
        label = states[:, S["FEEDBACK_LABEL"]].astype(np.int64)
        for feedback, tier in _FEEDBACK_TIER.items():
            tiers[label == feedback] = tier
        return tiers

    def trend(self, states: FloatArray, as_of: float) -> np.ndarray:
        """+1 strengthening, 0 steady, -1 cooling: the last month's rate against the last year's.

        The state cannot be read 30 days back (the last month's events are folded
        into the sums), but it holds rates at two horizons. A constant rate r
        since the tie began (age A) gives a decayed sum r * (h / ln 2) * (1 - 2^(-A/h))
        at half-life h, so dividing by that window gives an unbiased rate per
        horizon, also for ties younger than a year; a brand-new tie reads steady.
        """
        decayed = decayed_counts(states, as_of).sum(axis=(1, 2))  # (n, horizons)
        first = states[:, S["FIRST_TIME"]]
        age = np.where(first > 0, np.maximum(as_of - first, 0.0), 0.0) / DAY
        rates = []
        for days in (30.0, 365.0):
            h = HALF_LIVES_DAYS.index(days)
            window = days / math.log(2) * (1.0 - np.exp2(-age / days))
            rates.append(np.where(window > 0, decayed[:, h] / np.maximum(window, 1e-9), 0.0))
        month, year = rates
        month_count = decayed[:, HALF_LIVES_DAYS.index(30.0)]
        year_count = decayed[:, HALF_LIVES_DAYS.index(365.0)]
        trend = np.zeros(len(states), dtype=np.int64)
        trend[(month > TREND_UP * year) & (month_count >= 1.0)] = 1
        trend[(month < TREND_DOWN * year) & (year_count >= 2.0)] = -1
        return trend

    def explain(
        self, states: FloatArray, as_of: float, context: FloatArray | None = None, top: int = 3
    ) -> list[list[str]]:
        from scoring_service.model.explain import explain

        return explain(self, states, as_of, top, context)

    # --- persistence ----------------------------------------------------------
    def save(self, path: Path | str) -> None:
        payload = {
            "format": ARTIFACT_FORMAT,
            "version": self.version,
            "feature_schema_version": int(self.feature_schema_version),
            "model_features": list(model_inputs_of(self.serving_horizon_days is not None)),
            "metadata": self.metadata,
            "estimator": self.estimator,
        }
        # The schema is verbose JSON (one node per tree split): deflate shrinks it ~10x.
        sio.dump(payload, str(path), compression=zipfile.ZIP_DEFLATED, compresslevel=9)

    @classmethod
    def load(cls, path: Path | str) -> ScoringModel:
        try:
            types = sio.get_untrusted_types(file=str(path))
        except zipfile.BadZipFile:
            raise ModelInputError(f"{path}: not a skops model file (not a ZIP archive)") from None
        untrusted = [t for t in types if t not in TRUSTED_TYPES]
        if untrusted:
            raise ModelInputError(f"{path}: refusing to load untrusted types {untrusted}")
        payload = sio.load(str(path), trusted=TRUSTED_TYPES)
        if not isinstance(payload, dict) or payload.get("format") != ARTIFACT_FORMAT:
            raise ModelInputError(f"{path}: a skops file, but not a Vinculo scoring model")
        version = int(payload["feature_schema_version"])
        horizon = payload["metadata"].get("horizon") is not None
        if version != FEATURE_SCHEMA_VERSION or payload["model_features"] != list(
            model_inputs_of(horizon)
        ):
            raise ModelSchemaError(
                f"{path}: model uses feature schema version {version}, this code serves "
                f"feature schema version {FEATURE_SCHEMA_VERSION} (columns {len(MODEL_FEATURES)}); "
                "retrain with `vinculo train`"
            )
        return cls(payload["estimator"], str(payload["version"]), payload["metadata"], version)


def load_default_model() -> ScoringModel:
    """The model shipped in the package (docs/model.md says how it was built)."""
    return ScoringModel.load(DEFAULT_MODEL_PATH)
