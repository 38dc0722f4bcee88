"""`vinculo evaluate`: the model against single-signal baselines, same rows, same run.

Without --labels: the future-interaction task (train on the earlier cuts unless
--model is given; test on features before 80% of the events, labels after).
With --validation: the model-selection window (train on cuts 10-40%, features
before 60%, labels 60-80%), so choices never read the test window.
With --labels: the labels task, person-grouped cross-validation (or --model scored as is).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from scoring_service.model.artifact import ScoringModel
from scoring_service.model.errors import ModelInputError
from vinculo_apps.arguments import positive_int
from vinculo_apps.training import pipeline
from vinculo_apps.training.cli_common import (
    add_event_arguments,
    as_of,
    fold_count,
    input_errors,
    load_log,
    require_directory,
)

METRICS = ("auc", "ndcg_at_10", "ece", "accuracy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_event_arguments(parser)
    parser.add_argument(
        "--model", type=Path, metavar="MODEL", help="score with this model instead of training"
    )
    parser.add_argument(
        "--folds", type=fold_count, default=5, help="labels task: person-grouped folds (at least 2)"
    )
    parser.add_argument(
        "--validation",
        action="store_true",
        help="future task: the model-selection window instead of the test window "
        "(train on cuts 10-40%%, features before 60%%, labels 60-80%%)",
    )
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=1,
        help="also fit with seeds 1..N-1 and show how much the model's metrics move with "
        "the fit's random splits (labels task: the deal of people into folds; not with --model)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the metrics as JSON")
    parser.add_argument("--reliability-png", type=Path, metavar="FILE", help="reliability diagram")
    parser.add_argument(
        "--comparison-png", type=Path, metavar="FILE", help="model vs baselines chart"
    )


def run(args: argparse.Namespace) -> int:
    with input_errors("evaluate"):
        result = _evaluate(args)
    print(render(result))
    if args.json:
        args.json.write_text(json.dumps(public(result), indent=2) + "\n", encoding="utf-8")
    if args.reliability_png or args.comparison_png:
        from vinculo_apps.training import plots

        if args.reliability_png:
            plots.reliability_png(result, args.reliability_png)
        if args.comparison_png:
            plots.comparison_png(result, args.comparison_png)
    return 0


def _evaluate(args: argparse.Namespace) -> dict[str, Any]:
    require_directory("--json", args.json)
    require_directory("--reliability-png", args.reliability_png)
    require_directory("--comparison-png", args.comparison_png)
    if args.seeds > 1 and args.model:
        raise ModelInputError("--seeds: only when evaluate trains the model itself")
    log = load_log(args)
    model = ScoringModel.load(args.model) if args.model else None
    if args.labels:
        return pipeline.evaluate_labels(
            log, args.labels, as_of(args, log), model, args.folds, args.directed, args.seeds
        )
    return pipeline.evaluate_future(log, model, validation=args.validation, seeds=args.seeds)


def public(result: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema of the issue (task, split, model and baseline metrics), and each
    margin over the best baseline with its bootstrap interval."""
    return {
        "task": result["task"],
        "split": result["split"],
        "model": {k: result["model"][k] for k in (*METRICS, "ece_note") if k in result["model"]},
        "baselines": {
            name: {k: m[k] for k in METRICS if k in m} for name, m in result["baselines"].items()
        },
        **({"margins": result["margins"]} if "margins" in result else {}),
    }


def _cell(value: float | None) -> str:
    return f"{value:8.4f}" if value is not None else "       -"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    return str(value)


def _seeds(spread: dict[str, list[float]]) -> str:
    """Each metric over the fit seeds, and its mean and range."""
    parts = []
    for metric, values in spread.items():
        mean = sum(values) / len(values)
        listed = " ".join(f"{v:.4f}" for v in values)
        parts.append(f"{metric} {listed} (mean {mean:.4f}, range {max(values) - min(values):.4f})")
    return "; ".join(parts)


def _margins(result: dict[str, Any]) -> list[str]:
    """Model minus the best baseline per metric, with its bootstrap interval over people:
    what the targets in docs/model.md read."""
    lines = []
    for metric, m in result.get("margins", {}).items():
        interval = (
            f"{m['level']:.0%} interval {m['low']:+.4f} to {m['high']:+.4f} "
            f"over {m['resamples']} resamples of people"
        )
        name = f"{m['baseline']}, reversed" if m.get("reversed") else m["baseline"]
        lines.append(f"model - best baseline, {metric}: {m['margin']:+.4f} ({name}; {interval})")
    return lines


def render(result: dict[str, Any]) -> str:
    lines = [f"task: {result['task']}"]
    lines += [
        f"  {key}: {_seeds(value) if key == 'fit_seeds' else _value(value)}"
        for key, value in result["split"].items()
    ]
    lines += ["", f"{'':12}" + "".join(f"{m:>12}" for m in METRICS)]
    rows = {"model": result["model"], **result["baselines"]}
    for name, values in rows.items():
        lines.append(f"{name:12}" + "".join(f"    {_cell(values.get(m))}" for m in METRICS))
    if "ece_note" in result["model"]:
        lines += ["", f"ECE note: {result['model']['ece_note']}"]
    lines += ["", *_margins(result)]
    lines += [
        "",
        "reliability (model):",
        f"{'bin':>12} {'count':>8} {'predicted':>10} {'observed':>10}",
    ]
    for r in result["model"].get("reliability", []):
        lines.append(
            f"{r['low']:5.1f}-{r['high']:<6.1f} {r['count']:8d} "
            f"{r['predicted']:10.4f} {r['observed']:10.4f}"
        )
    return "\n".join(lines)
