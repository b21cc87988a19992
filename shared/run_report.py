"""The end of every stage of every run: the files a person looks at and the table they read.

:func:`finish_run` writes into the stage's ``out_dir``

- ``metrics.json``: the final numbers (atomic write);
- ``plots/training_curves.png``: the history in ``metrics.csv``, one panel per metric family;
- ``plots/tsne.png``: a t-SNE of frozen embeddings coloured by class, when the domain has labels;
- the final metrics and the experiment's hyper-parameters as TensorBoard hparams;

and prints a short table of the final metrics and where the files are. The trainer has already
written ``config.yaml``, ``metrics.csv``, TensorBoard scalars and the checkpoints there.

    >>> finish_run(Path("runs/x"), {"probe_accuracy": 0.83}, title="GRACE on Cora", experiment=exp)
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shared.config import to_dict

log = logging.getLogger("contrast")

_RUN_FILES = ("config.yaml", "metrics.csv", "metrics.json", "best.pt", "last.pt")


def finish_run(
    out_dir: Path,
    metrics: Mapping[str, Any],
    *,
    title: str,
    experiment: Any = None,
    embeddings: Any = None,
    labels: Any = None,
    tensorboard: bool = True,
    print_table: bool = True,
) -> Path:
    """Write the stage's final files into ``out_dir`` and print its table; returns
    ``out_dir/metrics.json``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = write_metrics_json(out_dir / "metrics.json", metrics)
    plots = out_dir / "plots"
    if (out_dir / "metrics.csv").is_file():
        from shared.evaluation.plots import plot_training_curves

        try:
            plot_training_curves(out_dir / "metrics.csv", plots / "training_curves.png")
        except ValueError as err:  # a run with no finite rows yet
            log.warning("no training curves drawn: %s", err)
    if embeddings is not None and labels is not None:
        from shared.evaluation.plots import plot_tsne

        plot_tsne(embeddings, labels, plots / "tsne.png")
    if tensorboard and experiment is not None:
        write_hparams(out_dir / "tensorboard", experiment, metrics)
    if print_table:
        print(format_final_table(title, metrics, out_dir))
    return path


def write_metrics_json(path: Path, metrics: Mapping[str, Any]) -> Path:
    """``metrics`` as sorted JSON, written to a temp file and renamed over ``path``."""
    text = json.dumps(_plain(metrics), indent=2, sort_keys=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_hparams(log_dir: Path, experiment: Any, metrics: Mapping[str, float]) -> None:
    """The experiment's scalar settings and the final metrics in TensorBoard's HPARAMS tab."""
    from torch.utils.tensorboard import SummaryWriter

    config = to_dict(experiment) if dataclasses.is_dataclass(experiment) else dict(experiment)
    hparams = {
        k: v
        for k, v in flatten(config).items()
        if isinstance(v, bool | int | float | str) and not k.startswith("trainer.out_dir")
    }
    finals = {
        f"final/{k}": float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        writer.add_hparams(hparams, finals, run_name="hparams")
    finally:
        writer.close()


def format_final_table(title: str, metrics: Mapping[str, Any], out_dir: Path) -> str:
    """The short table every run ends with: metric | value, then where the files are."""
    numbers = {
        k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    width = max([len(k) for k in numbers] + [6])
    lines = [f"\n{title}", f"  {'metric':<{width}}  value", f"  {'-' * width}  ----------"]
    lines += [f"  {k:<{width}}  {_number(v)}" for k, v in sorted(numbers.items())]
    present = [name for name in _RUN_FILES if (out_dir / name).exists()]
    present += [f"{d}/" for d in ("tensorboard", "plots") if (out_dir / d).is_dir()]
    lines.append(f"run folder: {out_dir}  ({', '.join(present)})")
    return "\n".join(lines)


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level of dotted keys (sequences become their text)."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = str(list(value))
        else:
            flat[name] = value
    return flat


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
