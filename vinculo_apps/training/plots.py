"""PNG charts for `vinculo evaluate` (optional extra `plots`: matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only, no display needed
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SystemExit(
            "PNG charts need matplotlib: pip install 'vinculo[plots]' (the optional extra 'plots')"
        ) from exc
    return plt


def reliability_png(result: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    table = result["model"]["reliability"]
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(
        [r["predicted"] for r in table], [r["observed"] for r in table], marker="o", label="model"
    )
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.set_title(f"Reliability (ECE {result['model']['ece']:.3f})")
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def comparison_png(result: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    names = ["model", *result["baselines"]]
    rows = [result["model"], *result["baselines"].values()]
    metrics = [m for m in ("auc", "ndcg_at_10") if m in result["model"]]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(metrics)
    for i, metric in enumerate(metrics):
        xs = [j + i * width for j in range(len(names))]
        ax.bar(xs, [r.get(metric, 0.0) for r in rows], width, label=metric)
    ax.set_xticks([j + width * (len(metrics) - 1) / 2 for j in range(len(names))], names)
    ax.set_ylim(0, 1)
    ax.set_title(f"Model vs baselines ({result['task']} task)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
