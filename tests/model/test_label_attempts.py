"""The attempts at issue 15's labels target (`label_attempts`) on a network whose
truth is one signal, time spent together."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.model import labelled_network
from vinculo_apps.training import label_attempts


def test_within_owner_is_relative_to_the_owner_and_symmetric() -> None:
    keys = [("a", "b"), ("a", "c"), ("b", "a"), ("c", "a")]
    values = np.array([np.e - 1.0, np.e**3 - 1.0, np.e - 1.0, np.e**3 - 1.0])  # log1p: 1, 3
    relative = label_attempts.within_owner(keys, values)
    # a's mean log is 2: b reads -1 from a's side, 0 from its own (its only tie): mean -0.5
    assert relative == pytest.approx([-0.5, 0.5, -0.5, 0.5])


def test_the_attempts_name_the_best_signal_and_a_refit_of_it_loses_nothing_per_fold(
    tmp_path: Path,
) -> None:
    network = labelled_network.write(tmp_path, people=24, ties=160, seed=2)
    lines: list[str] = []
    label_attempts.run([network.events], network.labels, seeds=1, folds=3, out=lines.append)
    assert "best single signal contact_seconds" in lines[0]
    rows = {line[:52].strip(): line[52:].split() for line in lines[2:]}
    assert set(rows) >= {"best signal, one-column fit", "shipped model as is (no fit)"}
    # a monotonic refit of the best signal ranks each fold's rows exactly as the signal does
    per_fold = rows["best signal, one-column fit"]
    assert per_fold[-5] in ("+0.0000", "-0.0000")
    assert all(len(fields) >= 6 for fields in rows.values())
