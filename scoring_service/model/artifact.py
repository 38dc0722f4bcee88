"""The scoring model as an artifact: calibrated classifier + feature schema + metadata, in skops.

`score` is the one call the scoring service makes per owner: features for all
rows at once, one `predict_proba`, no Python loop over relationships.
"""

from __future__ import annotations

import threading
import zipfile
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from scoring_service.features.features import (
    FEATURE_SCHEMA_VERSION,
    MODEL_FEATURES,
    input_rows,
    model_input_columns,
    model_inputs_of,
)
from scoring_service.features.owner_context import network_context, owner_context
from scoring_service.features.state import FloatArray
from scoring_service.model.errors import ModelInputError
from scoring_service.model.fastpath import CompiledForest, compile_model
from scoring_service.model.signals import is_signal_model, predict_signals
from scoring_service.tiers import DEFAULT_TIER_THRESHOLDS, assign_tiers, trends

CHUNK = 2048
DEFAULT_MODEL_PATH = Path(__file__).with_name("default_model.skops")
ARTIFACT_FORMAT = "vinculo-scoring-model/1"

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
        self._describe(version, metadata, feature_schema_version)
        self._estimator: Any = estimator
        self._load_estimator: Callable[[], Any] | None = None
        # A signal model (scoring_service.model.signals) is a dict; the trees it may
        # read (the shipped model's, as one input) are its `base`.
        self.signal_model: dict[str, Any] | None = estimator if is_signal_model(estimator) else None
        self._fast = compile_model(self._trees) if self._trees is not None else None

    @classmethod
    def from_compiled(
        cls,
        fast: CompiledForest,
        version: str,
        metadata: dict[str, Any],
        feature_schema_version: int,
        load_estimator: Callable[[], Any],
    ) -> ScoringModel:
        """A tree model served from its compiled forest (model.compiled_cache); the
        estimator is loaded by `load_estimator` the first time it is needed (input with
        missing values, `save`), so scikit-learn is not imported before then."""
        model = cls.__new__(cls)
        model._describe(version, metadata, feature_schema_version)
        model._estimator = None
        model._load_estimator = load_estimator
        model.signal_model = None
        model._fast = fast
        return model

    def _describe(self, version: str, metadata: dict[str, Any], schema_version: int) -> None:
        self.version = version
        self.metadata = metadata
        self.feature_schema_version = schema_version
        self.metadata.setdefault("tier_thresholds", dict(DEFAULT_TIER_THRESHOLDS))
        horizon = self.metadata.get("horizon")
        # Models trained on windows of different lengths take the length as an input;
        # the service asks for contact within `serving_days` (docs/model.md).
        self.serving_horizon_days: float | None = horizon["serving_days"] if horizon else None
        self._threads = ThreadpoolController()
        self._estimator_lock = threading.Lock()

    @property
    def estimator(self) -> Any:
        with self._estimator_lock:
            if self._estimator is None and self._load_estimator is not None:
                self._estimator = self._load_estimator()
            return self._estimator

    @property
    def compiled(self) -> CompiledForest | None:
        """The forest fastpath evaluates, or None when scikit-learn predicts."""
        return self._fast

    @property
    def _trees(self) -> Any:
        return self.estimator if self.signal_model is None else self.signal_model.get("base")

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
            return self.score_network(states, as_of, horizon_days)[1]
        return self._score(states, as_of, context, None, horizon_days)

    def score_network(
        self, states: FloatArray, as_of: float, horizon_days: float | None = None
    ) -> tuple[FloatArray, FloatArray]:
        """`owner_context` of one owner's whole network and the scores of all its rows:
        the same numbers as `score(states, as_of, owner_context(states, as_of))`, with
        each row's exchange computed once for both (~a sixth of a 30k read's CPU)."""
        context, volumes = network_context(states, as_of)
        return context, self._score(states, as_of, context, volumes, horizon_days)

    def _score(
        self,
        states: FloatArray,
        as_of: float,
        context: FloatArray,
        volumes: FloatArray | None,
        horizon_days: float | None,
    ) -> FloatArray:
        scores = np.empty(len(states))
        for lo in range(0, len(states), CHUNK):
            hi = lo + CHUNK
            part = None if volumes is None else volumes[:, lo:hi]
            scores[lo:hi] = self._score_chunk(
                states[lo:hi], as_of, context[lo:hi], part, horizon_days
            )
        return scores

    def _score_chunk(
        self,
        states: FloatArray,
        as_of: float,
        context: FloatArray,
        volumes: FloatArray | None,
        horizon_days: float | None,
    ) -> FloatArray:
        days = self._days(horizon_days)

        def trees() -> FloatArray:
            if self._fast is not None:  # only the inputs its splits read
                inputs = self._fast_inputs
                xt = input_rows(states, as_of, inputs, context, days, volumes)
                if not np.isnan(xt).any():
                    return np.clip(self._fast.compact.proba(xt), 0.0, 1.0)
            xt = model_input_columns(states, as_of, context, days, volumes)
            return self._predict(xt)

        if self.signal_model is None:
            return trees()
        return predict_signals(self.signal_model, states, as_of, trees)

    @cached_property
    def _fast_inputs(self) -> tuple[str, ...]:
        """The names of the inputs the compiled forest's splits read."""
        assert self._fast is not None
        names = model_inputs_of(self.serving_horizon_days is not None)
        return tuple(names[i] for i in self._fast.inputs)

    def score_features(self, x: FloatArray) -> FloatArray:
        """Scores from `MODEL_FEATURES` columns, one row each (explanations perturb these),
        at the serving horizon. A signal model reads states, not these columns."""
        if self.signal_model is not None:
            raise TypeError("a signal model scores states (score), not feature columns")
        return self._predict(self._with_horizon(np.ascontiguousarray(x.T), None))

    def _days(self, horizon_days: float | None) -> float | None:
        """The horizon input to give the model: None for a model without one."""
        if self.serving_horizon_days is None:
            return None
        return self.serving_horizon_days if horizon_days is None else horizon_days

    def _with_horizon(self, xt: FloatArray, horizon_days: float | None) -> FloatArray:
        days = self._days(horizon_days)
        if days is None:
            return xt
        return np.vstack([xt, np.full((1, xt.shape[1]), days)])

    def _predict(self, xt: FloatArray) -> FloatArray:
        if self._fast is not None and not np.isnan(xt).any():
            return np.clip(self._fast.proba(xt), 0.0, 1.0)
        with self._threads.limit(limits=1, user_api="openmp"):
            proba = self._trees.predict_proba(np.asfortranarray(xt.T))[:, 1]
        return np.clip(np.asarray(proba, dtype=np.float64), 0.0, 1.0)

    def tiers(self, scores: FloatArray, states: FloatArray) -> np.ndarray:
        """Proto `Tier` values: the product's rules (scoring_service.tiers) on this model's
        thresholds."""
        return assign_tiers(scores, states, self.metadata["tier_thresholds"])

    def trend(self, states: FloatArray, as_of: float) -> np.ndarray:
        """Proto `Trend` values (scoring_service.tiers.trends): the same for every model."""
        return trends(states, as_of)

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
        import skops.io as sio  # imported late: serving from model.compiled_cache needs no skops

        # The schema is verbose JSON (one node per tree split): deflate shrinks it ~10x.
        sio.dump(payload, str(path), compression=zipfile.ZIP_DEFLATED, compresslevel=9)

    @classmethod
    def load(cls, path: Path | str) -> ScoringModel:
        import skops.io as sio  # imported late, as in save

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
        check_schema(path, version, payload["model_features"], payload["metadata"])
        return cls(payload["estimator"], str(payload["version"]), payload["metadata"], version)


def check_schema(
    path: Path | str, version: int, model_features: list[str], metadata: dict[str, Any]
) -> None:
    """Raise ModelSchemaError unless the model's inputs are the columns this code computes."""
    horizon = metadata.get("horizon") is not None
    if version != FEATURE_SCHEMA_VERSION or model_features != list(model_inputs_of(horizon)):
        raise ModelSchemaError(
            f"{path}: model uses feature schema version {version}, this code serves "
            f"feature schema version {FEATURE_SCHEMA_VERSION} (columns {len(MODEL_FEATURES)}); "
            "retrain with `vinculo train`"
        )


def load_default_model() -> ScoringModel:
    """The model shipped in the package (docs/model.md says how it was built)."""
    return ScoringModel.load(DEFAULT_MODEL_PATH)
