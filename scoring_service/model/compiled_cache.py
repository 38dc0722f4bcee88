"""A tree model's compiled forest cached on disk, so a scoring start needs no scikit-learn.

Loading a skops artifact imports scikit-learn and skops and parses one JSON node
per tree split: most of the two to three seconds a scoring instance spent
loading its model (measured, issue 18). What the service evaluates is the few
KB of arrays `fastpath.compile_model` makes from it. Those are saved once, as
an .npz named by a sha256 of the artifact's bytes and of everything else that
decides them (this cache's format, the feature schema, fastpath.py's own bytes,
the scikit-learn version), and read instead at later starts.

The artifact stays the source of truth: it is loaded whenever the cache has no
entry for it, and the estimator itself is loaded from it the first time
something needs it (input with missing values, `save`). Only plain tree models
that fastpath compiles are cached; anything else (a signal model) loads as
before. The entry is read with `allow_pickle=False`: data only, never code.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import zipfile
from importlib import metadata as package_metadata
from pathlib import Path
from typing import Any

import numpy as np

from scoring_service.features.features import FEATURE_SCHEMA_VERSION, model_inputs_of
from scoring_service.model import fastpath
from scoring_service.model.artifact import ScoringModel, check_schema
from scoring_service.model.fastpath import CompiledForest

log = logging.getLogger(__name__)

CACHE_FORMAT = "vinculo-compiled-model/1"
ARRAYS = ("features", "thresholds", "leaves")
SCALARS = ("depth", "baseline", "slope", "intercept")


def cache_key(artifact: Path) -> str:
    """The entry's name: changes with the artifact and with any code that compiles it."""
    digest = hashlib.sha256()
    for part in (
        CACHE_FORMAT.encode(),
        str(FEATURE_SCHEMA_VERSION).encode(),
        package_metadata.version("scikit-learn").encode(),
        Path(fastpath.__file__).read_bytes(),
        artifact.read_bytes(),
    ):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def load_serving_model(artifact: Path, cache_dir: Path | None) -> ScoringModel:
    """The model at `artifact`, from its cache entry in `cache_dir` when there is one
    (None: no cache); a miss loads the artifact and writes the entry for next time."""
    if cache_dir is None:
        return ScoringModel.load(artifact)
    entry = cache_dir / f"{cache_key(artifact)}.npz"
    if entry.exists():
        cached = _read(entry, artifact)
        if cached is not None:
            return cached
    model = ScoringModel.load(artifact)
    _write(entry, model)
    return model


def _read(entry: Path, artifact: Path) -> ScoringModel | None:
    """The cached model, or None (logged) when the entry cannot be read: it is rewritten."""
    try:
        with np.load(entry, allow_pickle=False) as data:
            about = json.loads(str(data["about"]))
            fast = CompiledForest(
                features=data["features"],
                thresholds=data["thresholds"],
                leaves=data["leaves"],
                depth=int(data["depth"]),
                baseline=float(data["baseline"]),
                slope=float(data["slope"]),
                intercept=float(data["intercept"]),
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        log.warning("model cache %s unreadable (%s): loading %s instead", entry, exc, artifact)
        return None
    if about.get("format") != CACHE_FORMAT:
        log.warning("model cache %s is not a %s entry: loading %s", entry, CACHE_FORMAT, artifact)
        return None
    version = int(about["feature_schema_version"])
    check_schema(artifact, version, about["model_features"], about["metadata"])
    return ScoringModel.from_compiled(
        fast,
        str(about["version"]),
        about["metadata"],
        version,
        lambda: ScoringModel.load(artifact).estimator,
    )


def _write(entry: Path, model: ScoringModel) -> None:
    """Save the compiled forest of a plain tree model (atomically: a reader never sees
    half an entry); a model that is not one, or metadata JSON would change, is skipped."""
    fast = model.compiled
    if fast is None or model.signal_model is not None:
        return
    about = {
        "format": CACHE_FORMAT,
        "version": model.version,
        "feature_schema_version": int(model.feature_schema_version),
        "model_features": list(model_inputs_of(model.serving_horizon_days is not None)),
        "metadata": model.metadata,
    }
    try:
        text = json.dumps(about)
    except (TypeError, ValueError):
        return  # metadata JSON cannot hold: served from the artifact every time
    if json.loads(text)["metadata"] != model.metadata:
        return
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        _save_atomically(entry, fast, text)
    except OSError as exc:  # a read-only or full cache directory: serve without one
        log.warning(
            "model cache %s not written (%s): the next start loads the artifact", entry, exc
        )
        return
    log.info("model cache written: %s", entry)


def _save_atomically(entry: Path, fast: CompiledForest, about: str) -> None:
    arrays: dict[str, Any] = {name: getattr(fast, name) for name in (*ARRAYS, *SCALARS)}
    handle, temporary = tempfile.mkstemp(dir=entry.parent, suffix=".npz.partial")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, about=np.array(about), **arrays)
        os.replace(temporary, entry)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
