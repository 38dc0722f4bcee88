"""What the service needs of a scoring model, and how it gets the real one.

The service codes against `Scorer`, a structural type, so that unit tests can
score with a tiny fake and the model package (`scoring_service.model`, owned
by the model engineer) stays free to change its internals. Every method takes
all of an owner's relationships at once: (n, STATE_SIZE) in, n results out.

A score may read the rest of the owner's network (the owner-relative features:
this tie's share of the owner's exchange, its rank among the owner's ties).
`owner_context` computes those aggregates once from the owner's whole network,
one row per relationship; passing the matching rows of it to `score` and
`explain` gives a subset of rows the numbers they have in the whole network
(GetRelationship, WatchRelationships). Without it the rows given are taken as
the owner's whole network.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from scoring_service.features.state import FloatArray

log = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]


class Scorer(Protocol):
    @property
    def version(self) -> str: ...

    @property
    def feature_schema_version(self) -> int: ...

    @property
    def serving_horizon_days(self) -> float | None:
        """The window, in days, a score is the probability of contact in; None when the
        model predicts its own training data's window (docs/model.md, "Tiers")."""
        ...

    def owner_context(self, states: FloatArray, as_of: float) -> FloatArray:
        """Per-row aggregates of one owner's whole network (n rows, any columns)."""
        ...

    def score(
        self, states: FloatArray, as_of: float, context: FloatArray | None = None
    ) -> FloatArray:
        """Strength in [0, 1] per row; `context`: those rows of `owner_context`."""
        ...

    def tiers(self, scores: FloatArray, states: FloatArray) -> npt.NDArray[np.integer]:
        """A vinculo.v1 Tier value per row."""
        ...

    def explain(
        self, states: FloatArray, as_of: float, context: FloatArray | None = None
    ) -> list[list[str]]:
        """Short sentences per row on what raised or lowered the score the most."""
        ...

    def trend(self, states: FloatArray, as_of: float) -> npt.NDArray[np.integer]:
        """A vinculo.v1 Trend value per row (scoring_service.tiers.trends)."""
        ...


def score_network(
    scorer: Scorer, states: FloatArray, as_of: float
) -> tuple[FloatArray, FloatArray]:
    """`owner_context` of one owner's whole network and the scores of its rows, in one
    pass when the scorer has one (`ScoringModel.score_network`: the same numbers, each
    row's exchange computed once), else by `owner_context` and `score`."""
    whole = getattr(scorer, "score_network", None)
    if whole is not None:
        context, scores = whole(states, as_of)
        return context, scores
    context = scorer.owner_context(states, as_of)
    return context, scorer.score(states, as_of, context)


class IncompatibleModel(RuntimeError):
    """The model artifact cannot be served: missing, not a Vinculo model, or built for
    another feature schema; the message names the file and says which."""


def load_scorer(path: str, cache_dir: Path | None = None) -> Scorer:
    """The model artifact at `path`, or the default model shipped with the package;
    with `cache_dir`, through its compiled cache (scoring_service.model.compiled_cache)."""
    # Imported here: the model package is heavy, and unit tests of the service never need it.
    from scoring_service import model
    from scoring_service.model.compiled_cache import load_serving_model

    artifact = Path(path) if path else model.DEFAULT_MODEL_PATH
    try:
        scorer: Scorer = load_serving_model(artifact, cache_dir)
    except OSError as exc:
        raise IncompatibleModel(f"model {exc.filename}: {exc.strerror}") from exc
    except model.ModelInputError as exc:  # not a model, or another feature schema
        raise IncompatibleModel(str(exc)) from exc
    log.info(
        "scoring model %s loaded (feature schema version %d, horizon %s days) from %s",
        scorer.version,
        scorer.feature_schema_version,
        scorer.serving_horizon_days or "its training windows'",
        path or "the shipped default",
    )
    return scorer


if TYPE_CHECKING:
    from scoring_service.model import ScoringModel

    def _model_is_a_scorer(model: ScoringModel) -> Scorer:
        return model  # mypy checks here that the real model fits the protocol
