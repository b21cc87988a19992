"""Patient-level k-fold cross-validation of COMET against its baselines, as one summary table.

Protocol (``contrast timeseries crossval --config ...``): the patients are split into
``crossval.folds`` stratified test folds (:func:`~timeseries_cl.splits.patient_folds`; every
patient is a test patient exactly once, one patient per class of the next fold validates). In
every fold and for every seed of ``crossval.seeds``:

- COMET and the sample-level baseline are pretrained on the training patients (``trainer``
  settings, ``comet:`` / ``sample:`` sections) and scored by a linear probe on their frozen
  representations;
- the supervised baseline trains the same encoder + head from scratch
  (``eval.finetune_epochs`` / ``finetune_lr`` / ``finetune_batch_size``);
- the raw-input probe is the same linear probe on the flattened input windows (what the
  representation has to beat);

each at every label fraction of ``eval.fractions`` (stratified, drawn with the seed), scored on
the fold's test patients. The table gives mean ± std over folds x seeds, and the paired
difference COMET - baseline: per fold the mean over seeds, then mean ± std over folds and the
number of folds COMET wins. Fine-tuning of the pretrained encoders is left out to keep the
protocol affordable on a CPU.

Seeds run outer and folds inner, so every finished seed has scored all patients. After every
fold the run rewrites ``<trainer.out_dir>/crossval.json`` (every row so far, the per-epoch
pretraining losses), ``crossval.md`` (the table) and a plot of the pretraining loss curves,
``plots/pretraining_loss.png``, so an interrupted run keeps what it finished. An ``objective:``
section applies to both pretrained methods (COMET's sample and observation levels, the
baseline's contrast) and is checked before any data is read.

    >>> exp = load_config(TimeseriesExperiment, "configs/timeseries/crossval_uci_eeg.yaml", [])
    >>> summary = run_crossval(exp)
    >>> print(summary["table"])
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Literal

import numpy as np

from shared.evaluation import format_mean_std, linear_probe, markdown_table, mean_std
from shared.training import Trainer, seed_everything
from timeseries_cl.comet import AveragedEncoderMethod
from timeseries_cl.config import TimeseriesExperiment
from timeseries_cl.data_io import load_source
from timeseries_cl.dataset import HierarchicalDataset
from timeseries_cl.evaluation import downstream_scores, encode
from timeseries_cl.experiment import build_method, hierarchical_batches
from timeseries_cl.splits import label_fraction_indices, patient_folds

log = logging.getLogger("contrast")

METRICS = ("accuracy", "macro_f1", "auroc", "auprc")
METHODS = ("comet", "sample", "supervised", "raw_probe")
PRETRAINED: tuple[Literal["comet", "sample"], ...] = ("comet", "sample")
Row = dict[str, float | int | str]


def run_crossval(exp: TimeseriesExperiment) -> dict[str, object]:
    """The protocol of the module docstring; returns ``{"rows", "losses", "table"}``."""
    for name in PRETRAINED:  # an objective that does not fit fails before any work
        build_method(dataclasses.replace(exp, method=name), 1, num_samples=1)
    data = load_source(exp.data)
    source = f"{exp.data.source} data ({exp.data.root or 'embedded'})"
    folds = patient_folds(data, exp.crossval.folds, exp.data.split_seed, source)
    out = Path(exp.trainer.out_dir)
    rows: list[Row] = []
    losses: dict[str, list[list[float]]] = defaultdict(list)
    for seed in exp.crossval.seeds:
        for fold, (train, val, test) in enumerate(folds):
            tag = {"fold": fold, "seed": seed}
            log.info(
                "crossval fold %d seed %d: test patients %s",
                fold,
                seed,
                np.unique(test.patient).tolist(),
            )
            for name in PRETRAINED:
                method, curve = _pretrain(
                    exp, name, train, seed, out / f"fold{fold}_seed{seed}" / name
                )
                losses[name].append(curve)
                z = [encode(method, d.x) for d in (train, val, test)]
                rows += _probe_rows(name, z, (train, val, test), exp.eval.fractions, seed, tag)
            flat = [np.nan_to_num(d.x.reshape(len(d), -1)) for d in (train, val, test)]
            rows += _probe_rows(
                "raw_probe", flat, (train, val, test), exp.eval.fractions, seed, tag
            )
            supervised = downstream_scores(
                None,
                exp.encoder,
                train,
                val,
                test,
                fractions=exp.eval.fractions,
                seed=seed,
                finetune_epochs=exp.eval.finetune_epochs,
                finetune_lr=exp.eval.finetune_lr,
                finetune_batch_size=exp.eval.finetune_batch_size,
                device=exp.trainer.device,
            )
            rows += [{"method": "supervised", **tag, **_metrics(r)} for r in supervised]
            table = _write(out, rows, losses)
    print(table)
    return {"rows": rows, "losses": dict(losses), "table": table}


def _write(out: Path, rows: list[Row], losses: dict[str, list[list[float]]]) -> str:
    """Rewrite the summary files with every (seed, fold) done so far; returns the table."""
    table = summary_table(rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "crossval.json").write_text(json.dumps({"rows": rows, "losses": losses}, indent=1))
    (out / "crossval.md").write_text(table + "\n")
    _plot_losses(losses, out / "plots" / "pretraining_loss.png")
    return table


def _pretrain(
    exp: TimeseriesExperiment,
    name: Literal["comet", "sample"],
    train: HierarchicalDataset,
    seed: int,
    out_dir: Path,
) -> tuple[AveragedEncoderMethod, list[float]]:
    seed_everything(seed)
    method = build_method(
        dataclasses.replace(exp, method=name), train.n_channels, num_samples=len(train)
    )
    trainer_cfg = dataclasses.replace(exp.trainer, seed=seed, out_dir=str(out_dir))
    batches = hierarchical_batches(train, exp.batch_size, exp.trials_per_patient)
    result = Trainer(trainer_cfg, method).fit(batches)
    return method, [float(epoch["loss"]) for epoch in result.history]


def _probe_rows(
    name: str,
    features: list[np.ndarray],
    parts: tuple[HierarchicalDataset, ...],
    fractions: tuple[float, ...],
    seed: int,
    tag: dict[str, int],
) -> list[Row]:
    train, val, test = parts
    rows: list[Row] = []
    for fraction in fractions:
        keep = label_fraction_indices(train.label, fraction, seed)
        probe = linear_probe(
            features[0][keep],
            train.label[keep],
            features[2],
            test.label,
            val_x=features[1],
            val_y=val.label,
            seed=seed,
        )
        rows.append({"method": name, **tag, "fraction": fraction, **_metrics(probe)})
    return rows


def _metrics(row: dict) -> Row:
    out: Row = {m: float(row[m]) for m in METRICS}
    if "fraction" in row:
        out["fraction"] = float(row["fraction"])
    return out


def summary_table(rows: list[Row]) -> str:
    """Mean ± std (%) over folds x seeds per method and label fraction, then the paired
    COMET - sample baseline difference (per-fold mean over seeds; mean ± std over folds; folds
    won)."""
    groups: dict[tuple[str, float], list[Row]] = defaultdict(list)
    for row in rows:
        groups[(str(row["method"]), float(row["fraction"]))].append(row)
    fractions = sorted({f for _, f in groups}, reverse=True)
    lines = []
    for fraction in fractions:
        for method in METHODS:
            runs = groups.get((method, fraction))
            if not runs:
                continue
            stats = mean_std([{m: float(r[m]) for m in METRICS} for r in runs])
            line: dict[str, object] = {
                "labels": f"{fraction:.0%}",
                "method": method,
                "runs": len(runs),
            }
            line.update({m: format_mean_std(*stats[m], scale=100) for m in METRICS})
            lines.append(line)
        lines.append(_paired(groups, fraction))
    return markdown_table(lines, ["labels", "method", "runs", *METRICS])


def _paired(groups: dict[tuple[str, float], list[Row]], fraction: float) -> dict[str, object]:
    """COMET - sample per (fold, seed), averaged over seeds within a fold, spread over folds."""
    comet = {(r["fold"], r["seed"]): r for r in groups.get(("comet", fraction), [])}
    sample = {(r["fold"], r["seed"]): r for r in groups.get(("sample", fraction), [])}
    per_fold: dict[object, list[dict[str, float]]] = defaultdict(list)
    for key in sorted(set(comet) & set(sample)):
        per_fold[key[0]].append({m: float(comet[key][m]) - float(sample[key][m]) for m in METRICS})
    fold_means = [
        {m: float(np.mean([d[m] for d in diffs])) for m in METRICS} for diffs in per_fold.values()
    ]
    line: dict[str, object] = {
        "labels": f"{fraction:.0%}",
        "method": "COMET - sample (paired, per fold)",
        "runs": len(fold_means),
    }
    if fold_means:
        stats = mean_std(fold_means)
        for m in METRICS:
            wins = sum(d[m] > 0 for d in fold_means)
            line[m] = f"{format_mean_std(*stats[m], scale=100)} ({wins}/{len(fold_means)} won)"
    return line


def _plot_losses(losses: dict[str, list[list[float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(losses), figsize=(5 * len(losses), 3.5), squeeze=False)
    for ax, (name, curves) in zip(axes[0], losses.items(), strict=True):
        for curve in curves:
            ax.plot(range(1, len(curve) + 1), curve, color="tab:blue", alpha=0.3)
        ax.plot(range(1, len(curves[0]) + 1), np.mean(curves, axis=0), color="black", label="mean")
        ax.set(
            title=f"{name} pretraining ({len(curves)} runs)", xlabel="epoch", ylabel="training loss"
        )
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
