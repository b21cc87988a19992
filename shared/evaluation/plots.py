"""PNG plots of a training run's curves and of embeddings (t-SNE).

Figures are drawn with matplotlib's object API on the Agg canvas, so they work headless and never
touch the global pyplot state or backend of the calling process.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from sklearn.manifold import TSNE

from shared.evaluation._inputs import ArrayLike, features
from shared.evaluation._inputs import labels as check_labels

_CSV_COLUMNS = ("epoch", "step", "split", "name", "value")


def metric_family(name: str) -> str:
    """The panel a metric is drawn in: every ``*loss*`` together, ``val_NDCG@10`` and
    ``val_NDCG@20`` under ``NDCG``, the learning rate alone, and so on."""
    base = name.removeprefix("val_").removeprefix("test_")
    if "loss" in base:
        return "loss"
    return base.split("@")[0]


_NOT_CURVES = ("epoch_time_s",)
_LINESTYLES = ("-", "--", ":", "-.")  # one per split / run in a panel; colour is the metric


def plot_training_curves(
    metrics_csv_path: str | Path, out_png: str | Path, *, names: Sequence[str] | None = None
) -> Path:
    """Draw a run's history: one panel per metric family (losses, NDCG, accuracy, learning rate,
    samples/s, ...), value against training step, with labelled axes.

    Per-step rows are drawn as a thin line, epoch and validation rows as markers on the same
    step axis (an epoch's row sits at its last step).

    Args:
        metrics_csv_path: the trainer's ``metrics.csv`` (columns epoch, step, split, name, value).
        out_png: output PNG path (parent folders are created).
        names: metric names to draw; by default every metric but the epoch wall time.

    Returns:
        The PNG path.

        >>> plot_training_curves("runs/x/metrics.csv", "runs/x/plots/training_curves.png")
    """
    path = Path(metrics_csv_path)
    series: dict[tuple[str, str], list[tuple[float, float]]] = {}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in _CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} lacks column(s) {missing}; found {reader.fieldnames}")
        for row in reader:
            name = row["name"]
            if (name in names) if names is not None else (name not in _NOT_CURVES):
                value = float(row["value"])
                if math.isfinite(value):
                    series.setdefault((row["split"], name), []).append((float(row["step"]), value))
    if not series:
        wanted = list(names) if names is not None else "any metric"
        raise ValueError(f"{path} has no finite rows for {wanted}")

    families: dict[str, list[tuple[str, str]]] = {}
    for key in sorted(series):
        families.setdefault(metric_family(key[1]), []).append(key)
    order = sorted(families, key=lambda f: (f != "loss", f in ("lr", "samples_per_s"), f))
    cols = min(3, len(order))
    rows = math.ceil(len(order) / cols)
    fig = Figure(figsize=(4.6 * cols, 3.4 * rows))
    for i, family in enumerate(order):
        ax = fig.add_subplot(rows, cols, i + 1)
        names = sorted({name for _, name in families[family]})
        splits = sorted({split for split, _ in families[family]} - {"train_step"})
        for split, name in families[family]:
            steps, values = zip(*sorted(series[(split, name)]), strict=True)
            per_step = split == "train_step"
            ax.plot(
                steps,
                values,
                color=f"C{names.index(name) % 10}",
                linestyle="-" if per_step else _LINESTYLES[splits.index(split) % 4],
                marker=None if per_step or len(steps) > 40 else "o",
                markersize=3,
                linewidth=0.8 if per_step else 1.6,
                alpha=0.5 if per_step else 1.0,
                label=f"{name} ({'per step' if per_step else split})",
            )
        ax.set_xlabel("training step")
        ax.set_ylabel(_FAMILY_LABELS.get(family, family))
        ax.set_title(_FAMILY_LABELS.get(family, family), fontsize="medium")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small")
    fig.suptitle(path.parent.name or path.name, fontsize="medium")
    return _save(fig, out_png)


_FAMILY_LABELS = {"loss": "loss", "lr": "learning rate", "samples_per_s": "samples / s"}


def plot_tsne(
    x: ArrayLike,
    labels: ArrayLike | None,
    out_png: str | Path,
    seed: int = 0,
    *,
    max_points: int = 3000,
) -> Path:
    """2-D t-SNE of embeddings coloured by label, saved as a PNG.

    Args:
        x: (N, d) embeddings.
        labels: (N,) integer labels for the colours, or None for a single colour.
        out_png: output PNG path (parent folders are created).
        seed: seed of the subsample and of t-SNE.
        max_points: a uniform random subsample of this many rows is embedded when N is larger
            (t-SNE costs O(N log N) per iteration and is slow on 2 CPU cores beyond a few
            thousand points).

    The perplexity is min(30, (n - 1) / 3), since t-SNE needs perplexity < n.
    """
    feats = features(x, "x", min_rows=4)
    y = None if labels is None else check_labels(labels, "labels", feats.shape[0])
    if max_points < 4:
        raise ValueError(f"max_points must be >= 4, got {max_points}")
    if feats.shape[0] > max_points:
        keep = np.random.default_rng(seed).choice(feats.shape[0], max_points, replace=False)
        feats = feats[keep]
        y = None if y is None else y[keep]
    perplexity = min(30.0, (feats.shape[0] - 1) / 3)
    xy = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(feats)

    fig = Figure(figsize=(5, 5))
    ax = fig.add_subplot()
    if y is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=4)
    else:
        classes = np.unique(y)
        cmap = "tab10" if classes.size <= 10 else "tab20" if classes.size <= 20 else "viridis"
        index = np.searchsorted(classes, y)
        colours = matplotlib.colormaps[cmap].resampled(max(classes.size, 2))
        ax.scatter(xy[:, 0], xy[:, 1], c=colours(index), s=4)
        if classes.size <= 20:
            handles = [
                Line2D([], [], marker="o", linestyle="", color=colours(i), label=str(c))
                for i, c in enumerate(classes)
            ]
            ax.legend(handles=handles, fontsize="small", markerscale=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    coloured = "" if y is None else ", coloured by class"
    ax.set_title(f"t-SNE of {feats.shape[0]} embeddings{coloured}")
    return _save(fig, out_png)


def _save(fig: Figure, out_png: str | Path) -> Path:
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=120)
    return out
