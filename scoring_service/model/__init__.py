"""The scoring model: artifact, training, evaluation and data loaders (docs/model.md)."""

from scoring_service.model.artifact import ModelSchemaError, ScoringModel, load_default_model
from scoring_service.model.errors import ModelInputError

__all__ = ["ModelInputError", "ModelSchemaError", "ScoringModel", "load_default_model"]
