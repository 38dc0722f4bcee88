"""The scoring model: artifact, training, evaluation and data loaders (docs/model.md)."""

from scoring_service.model.artifact import ModelSchemaError, ScoringModel, load_default_model

__all__ = ["ModelSchemaError", "ScoringModel", "load_default_model"]
