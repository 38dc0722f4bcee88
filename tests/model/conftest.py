"""Shared fixtures: a slice of real data and a model trained on it (once per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring_service.model.artifact import ScoringModel
from vinculo_apps.training import pipeline
from vinculo_apps.training.dataset import EventLog
from vinculo_apps.training.loaders import read_snap

DATASETS = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
COLLEGE = DATASETS / "snap" / "CollegeMsg.txt.gz"
SLICE = 20_000


@pytest.fixture(scope="session")
def college_slice() -> EventLog:
    if not COLLEGE.exists():
        pytest.skip(f"real data not found at {COLLEGE} (../shared/datasets beside the repo)")
    return EventLog.from_events(read_snap(COLLEGE, limit=SLICE))


@pytest.fixture(scope="session")
def slice_model(college_slice: EventLog) -> ScoringModel:
    return pipeline.train_future(college_slice, version="test-slice")
