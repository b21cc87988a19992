"""Running a time-series experiment, through the three entry points every domain's
``experiment.py`` has:

- :func:`build` -> the patient-independent train / validation / test splits (the data's
  statistics logged first) and the method ``exp.method`` names, initialised from
  ``trainer.seed``;
- :func:`run` -> pretrain with the shared trainer, then the downstream protocol (linear probe and
  fine-tuning at each label fraction on the held-out patients; each fine-tuning is a run folder
  of its own, ``downstream/<protocol>@<fraction>/``, holding its model); writes the run folder
  (``metrics.json`` with one ``<protocol>@<fraction>_<metric>`` entry per score and the rows,
  ``plots/`` with the training curves and a t-SNE of the test patients' embeddings) and prints
  the final table;
- :func:`evaluate_checkpoint` -> the downstream protocol of a saved checkpoint.

:func:`run_supervised` is the from-scratch supervised baseline on the same splits and fractions.

    >>> exp = load_config(TimeseriesExperiment, "configs/timeseries/comet_uci_eeg.yaml", [])
    >>> method, metrics = run(exp)
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from shared.run_report import finish_run
from shared.training import Trainer, TrainResult, load_model_weights, seed_everything
from timeseries_cl.comet import COMET, AveragedEncoderMethod, SampleContrast
from timeseries_cl.config import TimeseriesExperiment
from timeseries_cl.data_io import load_source
from timeseries_cl.dataset import HierarchicalDataset
from timeseries_cl.evaluation import downstream_scores, encode
from timeseries_cl.sampler import HierarchicalBatchSampler
from timeseries_cl.splits import patient_split

log = logging.getLogger("contrast")

Splits = tuple[HierarchicalDataset, HierarchicalDataset, HierarchicalDataset]
Rows = list[dict[str, float | str]]


def describe(data: HierarchicalDataset) -> str:
    """Patients, trials, windows (length x channels) and the class balance."""
    classes = np.bincount(data.label)
    balance = ", ".join(f"class {c}: {n}" for c, n in enumerate(classes) if n)
    return (
        f"{len(np.unique(data.patient))} patients, {len(np.unique(data.trial))} trials, "
        f"{len(data)} windows of {data.length} x {data.n_channels} ({balance})"
    )


def build_method(
    exp: TimeseriesExperiment, input_dims: int, num_samples: int | None = None
) -> AveragedEncoderMethod:
    """The method ``exp.method`` names, for ``input_dims`` channels (``num_samples`` training
    windows size an objective's per-sample state)."""
    if exp.method == "comet":
        c = exp.comet
        return COMET(
            input_dims,
            exp.encoder,
            c.weights,
            c.temperature,
            pairing=c.pairing,
            contrast=exp.objective,
        )
    return SampleContrast(
        input_dims,
        exp.encoder,
        exp.sample.temperature,
        contrast=exp.objective,
        num_samples=num_samples,
    )


class _Samples(Dataset):
    def __init__(self, data: HierarchicalDataset) -> None:
        self.x = torch.from_numpy(data.x)
        self.patient = torch.from_numpy(data.patient)
        self.trial = torch.from_numpy(data.trial)

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "x": self.x[i],
            "patient": self.patient[i],
            "trial": self.trial[i],
            "index": torch.tensor(i),
        }


def hierarchical_batches(
    data: HierarchicalDataset, batch_size: int, trials_per_patient: int
) -> DataLoader:
    """Batches ``{"x", "patient", "trial", "index"}`` that keep trials and patients together
    (``index``: the windows' positions in ``data``)."""
    sampler = HierarchicalBatchSampler(data.patient, data.trial, batch_size, trials_per_patient)
    return DataLoader(_Samples(data), batch_sampler=sampler)


def splits(exp: TimeseriesExperiment) -> Splits:
    """Train / validation / test patients of ``exp.data`` (no patient in two splits), their
    statistics logged."""
    data = load_source(exp.data)
    log.info("%s: %s", exp.data.source, describe(data))
    source = f"{exp.data.source} data ({exp.data.root or 'generated'})"
    parts = patient_split(data, exp.data.split, exp.data.split_seed, source)
    for name, part in zip(("train", "validation", "test"), parts, strict=True):
        log.info("%s split: %s", name, describe(part))
    return parts


def build(exp: TimeseriesExperiment) -> tuple[Splits, AveragedEncoderMethod]:
    """The splits and a freshly initialised method (seeded by ``trainer.seed``)."""
    data = splits(exp)
    seed_everything(exp.trainer.seed)
    return data, build_method(exp, data[0].n_channels, num_samples=len(data[0]))


def pretrain(
    exp: TimeseriesExperiment, method: AveragedEncoderMethod, train: HierarchicalDataset
) -> TrainResult:
    """Pretrain ``method`` on ``train`` with the shared trainer."""
    batches = hierarchical_batches(train, exp.batch_size, exp.trials_per_patient)
    return Trainer(exp.trainer, method, experiment=exp).fit(batches)


def downstream(
    exp: TimeseriesExperiment, method: AveragedEncoderMethod | None, data: Splits
) -> Rows:
    """The downstream protocol for a pretrained ``method`` (None: the supervised baseline)."""
    train, val, test = data
    rows = downstream_scores(
        method,
        exp.encoder,
        train,
        val,
        test,
        fractions=exp.eval.fractions,
        seed=exp.trainer.seed,
        finetune_epochs=exp.eval.finetune_epochs,
        finetune_lr=exp.eval.finetune_lr,
        finetune_batch_size=exp.eval.finetune_batch_size,
        device=exp.trainer.device,
        out_dir=Path(exp.trainer.out_dir) / "downstream",
    )
    name = exp.method if method is not None else "supervised"
    return [{"method": name, "seed": exp.trainer.seed, **row} for row in rows]


def scores_of(rows: Rows, data: Splits) -> dict[str, object]:
    """``metrics.json``: ``<protocol>@<fraction>_<metric>`` numbers, the rows and the split's
    patients."""
    flat: dict[str, object] = {}
    for row in rows:
        key = f"{row['protocol']}@{float(row['fraction']):g}"
        for metric in ("accuracy", "macro_f1", "auroc", "auprc"):
            flat[f"{key}_{metric}"] = row[metric]
    flat["rows"] = rows
    flat["patients"] = {
        split: sorted(np.unique(d.patient).tolist())
        for split, d in zip(("train", "val", "test"), data, strict=True)
    }
    return flat


def run(exp: TimeseriesExperiment) -> tuple[AveragedEncoderMethod, dict[str, object]]:
    """Pretrain, evaluate, write the run folder; returns the method and ``metrics.json``."""
    data, method = build(exp)
    result = pretrain(exp, method, data[0])
    metrics = scores_of(downstream(exp, method, data), data)
    test = data[2]
    finish_run(
        Path(exp.trainer.out_dir),
        metrics,
        title=f"{exp.method} on {exp.data.source} ({result.epochs_run} epochs): test patients",
        experiment=exp,
        embeddings=encode(method, test.x),
        labels=test.label,
        tensorboard=exp.trainer.tensorboard,
    )
    return method, metrics


def run_supervised(exp: TimeseriesExperiment) -> dict[str, object]:
    """The from-scratch supervised baseline on the splits and fractions of ``exp``."""
    data = splits(exp)
    metrics = scores_of(downstream(exp, None, data), data)
    finish_run(
        Path(exp.trainer.out_dir),
        metrics,
        title=f"supervised from scratch on {exp.data.source}: test patients",
        experiment=exp,
        tensorboard=exp.trainer.tensorboard,
    )
    return metrics


def evaluate_checkpoint(exp: TimeseriesExperiment, checkpoint: Path) -> dict[str, object]:
    """The downstream protocol of a trainer checkpoint (``best.pt`` / ``last.pt``) of ``exp``."""
    data, method = build(exp)
    load_model_weights(method, checkpoint)
    return scores_of(downstream(exp, method, data), data)
