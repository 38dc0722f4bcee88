"""No-regret choice on labels: nested, person-grouped cross-validation (issue 15)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from vinculo_apps.training import candidates


def _pairs(n_people: int = 60, seed: int = 0) -> tuple[list[tuple[str, str]], np.ndarray]:
    rng = np.random.default_rng(seed)
    keys = [(str(a), str(b)) for a in range(n_people) for b in range(n_people) if a != b]
    keys = [keys[i] for i in rng.choice(len(keys), 1500, replace=False)]
    return keys, rng.normal(size=len(keys))


def test_a_strong_single_signal_is_chosen_and_not_lost() -> None:
    keys, signal = _pairs()
    rng = np.random.default_rng(1)
    y = (signal + 0.5 * rng.normal(size=len(keys)) > 0.8).astype(np.int64)
    columns = {"strong": signal, **{f"noise{i}": rng.normal(size=len(keys)) for i in range(8)}}
    found = candidates.candidates(y, columns, None)
    assert list(found)[-1] == "linear" and "signal:strong" in found
    scores, chosen = candidates.nested_scores(y, keys, found, folds=5)
    assert set(chosen) <= {"signal:strong", "linear"}
    assert roc_auc_score(y, scores) >= roc_auc_score(y, signal) - 0.02


def test_two_signals_together_beat_either_alone() -> None:
    keys, a = _pairs(seed=2)
    b = np.random.default_rng(3).normal(size=len(keys))
    y = (a + b + 0.3 * np.random.default_rng(4).normal(size=len(keys)) > 1.0).astype(np.int64)
    found = candidates.candidates(y, {"a": a, "b": b}, None)
    scores, chosen = candidates.nested_scores(y, keys, found, folds=5)
    assert chosen == ["linear"] * 5
    assert roc_auc_score(y, scores) > max(roc_auc_score(y, a), roc_auc_score(y, b)) + 0.05


def test_a_backwards_signal_is_reversed_by_its_fit() -> None:
    keys, signal = _pairs(seed=5)
    y = (signal < -0.5).astype(np.int64)  # low signal, positive label
    found = candidates.candidates(y, {"backwards": signal}, None)
    scores, _ = candidates.nested_scores(y, keys, found, folds=3)
    assert roc_auc_score(y, scores) > 0.95


def test_no_outer_fold_person_takes_part_in_its_choice() -> None:
    keys, signal = _pairs(n_people=40, seed=6)
    y = (signal > 0).astype(np.int64)
    seen: list[set[str]] = []

    def spy(train: np.ndarray):  # type: ignore[no-untyped-def]
        seen.append({p for k, t in zip(keys, train, strict=True) if t for p in k})
        return lambda rows: signal[rows]

    found = {"spy": spy}
    people = sorted({p for k in keys for p in k})
    owner, _ = candidates._folds_of(keys, people, 4, 0)
    candidates.nested_scores(y, keys, found, folds=4)
    # each outer fold: INNER_FOLDS inner fits, then the refit; none sees the fold's people
    per_fold = candidates.INNER_FOLDS + 1
    for f in range(4):
        fold_people = {a for (a, _), o in zip(keys, owner, strict=True) if o == f}
        for fitted in seen[f * per_fold : (f + 1) * per_fold]:
            assert not fitted & fold_people


def test_too_few_of_an_outcome_keeps_the_shipped_order() -> None:
    keys, signal = _pairs(seed=7)
    y = np.zeros(len(keys), dtype=np.int64)
    y[np.argsort(-signal)[: candidates.MIN_CLASS_ROWS - 1]] = 1  # a perfect signal, few positives
    shipped = np.random.default_rng(8).normal(size=len(keys))
    found = candidates.candidates(y, {"strong": signal, "shipped": shipped}, None)
    everyone = np.ones(len(keys), dtype=bool)
    assert candidates.choose(y, keys, everyone, found, 0) == "shipped"
    as_is = found["shipped"](everyone)(everyone)  # the shipped scores, never refitted
    assert np.allclose(as_is, 1.0 / (1.0 + np.exp(-shipped)))
    y[np.argsort(-signal)[: candidates.MIN_CLASS_ROWS]] = 1  # enough to judge: the signal wins
    assert candidates.choose(y, keys, everyone, found, 0) == "signal:strong"
