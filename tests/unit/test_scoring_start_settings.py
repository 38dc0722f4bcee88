"""The scoring settings that shape a start: the group's session timeout, the model cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring_service.settings import MIN_SESSION_TIMEOUT_MS, ScoringSettings
from vinculo import settings as settings_mod
from vinculo.settings import SettingsError


def test_the_session_timeout_defaults_to_what_apache_kafka_accepts_and_refuses_too_short() -> None:
    assert settings_mod.load(ScoringSettings, environ={}).session_timeout_ms == 6000
    loaded = settings_mod.load(
        ScoringSettings, environ={"VINCULO_SCORING_SESSION_TIMEOUT_MS": "2000"}
    )
    assert loaded.session_timeout_ms == 2000
    short = str(MIN_SESSION_TIMEOUT_MS - 1)
    with pytest.raises(SettingsError, match=f"session_timeout_ms: {short}, at least 1000"):
        settings_mod.load(ScoringSettings, environ={"VINCULO_SCORING_SESSION_TIMEOUT_MS": short})


def test_the_model_cache_is_in_the_users_cache_unless_set_or_turned_off() -> None:
    default = settings_mod.load(ScoringSettings, environ={}).model_cache_path
    assert default == Path.home() / ".cache" / "vinculo" / "models"
    chosen = settings_mod.load(ScoringSettings, environ={"VINCULO_MODEL_CACHE_DIR": "/srv/c"})
    assert chosen.model_cache_path == Path("/srv/c")
    off = settings_mod.load(ScoringSettings, environ={"VINCULO_MODEL_CACHE_DIR": ""})
    assert off.model_cache_path is None
