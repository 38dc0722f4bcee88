"""`vinculo train`: fit a scoring model on event files and save it as skops.

Without --labels: the future-interaction task on the latest windows of the log
(features before 50, 55, ... 80% of the events, labels from the next 20%), so the
model learns from the freshest behaviour. `--holdout` trains on the earlier
windows instead (30-60%), leaving the last 20% unseen for `vinculo evaluate`.
With --labels: the labels task (features before --as-of), feedback events merged in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vinculo_apps.arguments import positive_int
from vinculo_apps.training import no_regret, pipeline
from vinculo_apps.training.cli_common import (
    add_event_arguments,
    as_of,
    fold_count,
    input_errors,
    load_log,
    require_directory,
)

LATEST_CUTS = tuple(round(c + 0.2, 2) for c in pipeline.TRAIN_CUTS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_event_arguments(parser)
    parser.add_argument(
        "--out", type=Path, required=True, metavar="MODEL", help="where to write model.skops"
    )
    parser.add_argument(
        "--version", default="", help="model version string (default from the data span)"
    )
    parser.add_argument(
        "--holdout",
        action="store_true",
        help="train on the earlier windows, keep the last 20%% for evaluate",
    )
    parser.add_argument(
        "--folds",
        type=fold_count,
        default=5,
        help="labels task: outer person-grouped folds of the nested choice (at least 2)",
    )
    parser.add_argument(
        "--seeds",
        type=positive_int,
        default=1,
        help="labels task: deal people into folds again with seeds 1..N-1 and print the "
        "nested choice's AUC per seed",
    )


def run(args: argparse.Namespace) -> int:
    with input_errors("train"):
        require_directory("--out", args.out)
        log = load_log(args)
        if args.labels:
            model = no_regret.train_labels(
                log,
                args.labels,
                as_of(args, log),
                args.version,
                args.directed,
                args.folds,
                args.seeds,
            )
        else:
            cuts = pipeline.TRAIN_CUTS if args.holdout else LATEST_CUTS
            model = pipeline.train_future(log, args.version, cuts=cuts)
        model.save(args.out)
    no_regret.print_summary(model)
    meta = model.metadata
    print(
        f"wrote {args.out}: version {model.version}, family {meta['family']} "
        f"(selection AUC {meta['family_selection_auc']}), {meta['rows']} rows",
        file=sys.stderr,
    )
    if "label_window_days" in meta:
        low, high = meta["label_window_days"]
        print(
            f"its scores are the chance of contact within about {low:.0f}-{high:.0f} days "
            "(the next 20% of your events, as in its training windows)",
            file=sys.stderr,
        )
    return 0
