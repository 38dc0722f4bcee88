"""The served scoring model: the artifact, its fast path and explanations (docs/model.md).

Training and evaluation live in vinculo_apps.training, which depends on this
package, never the reverse."""

from scoring_service.model.artifact import (
    DEFAULT_MODEL_PATH,
    ModelSchemaError,
    ScoringModel,
    load_default_model,
)
from scoring_service.model.errors import ModelInputError

__all__ = [
    "DEFAULT_MODEL_PATH",
    "ModelInputError",
    "ModelSchemaError",
    "ScoringModel",
    "load_default_model",
]
