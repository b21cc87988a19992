"""Downstream protocol: linear probe and fine-tuning over label fractions (``shared.evaluation``).

COMET's protocol (``DL4mHealth/COMET``, ``tasks/linear_evaluation.py`` and ``tasks/fine_tuning.py``)
on patient-independent splits, with each label fraction f of the training samples:

- linear probe: frozen max-pooled representations, logistic regression
  (``shared.evaluation.linear_probe``; C chosen on the validation patients);
- fine-tuning: the pretrained encoder plus a head (Linear 320->128, BatchNorm, ReLU, Linear
  128->classes; COMET's ``ProjectionHead``) trained end to end with cross-entropy and AdamW;
- supervised: the same classifier from a random initialisation (the from-scratch baseline).

Scores are ``shared.evaluation.classification_scores`` (accuracy, macro-F1, AUROC, AUPRC) on the
test patients. Differences from the reference: the reference takes the *first* f of its shuffled
training samples, here a label-stratified random f with the run's seed (at least one sample per
class); the reference head ends in a sigmoid fed to cross-entropy for two classes, here it outputs
logits and probabilities come from a softmax.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from shared.evaluation import classification_scores, linear_probe
from shared.heads import ProjectionHead
from shared.run_report import finish_run
from shared.training import Trainer, TrainerConfig
from timeseries_cl.comet import AveragedEncoderMethod, EncoderConfig
from timeseries_cl.dataset import HierarchicalDataset
from timeseries_cl.encoder import DilatedConvEncoder, max_pool_time, observed_timestamps
from timeseries_cl.splits import label_fraction_indices

log = logging.getLogger("contrast")


@torch.no_grad()
def encode(method: AveragedEncoderMethod, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """``method.embed`` over ``x`` (n, T, C) in batches, in eval mode, on the method's device.

    Trailing all-NaN timestamps (tslearn's padding of shorter series) are cut before encoding:
    series are grouped by observed length, so a series gets the same embedding whether or not it
    was padded (the convolutions would otherwise see the padded steps).
    """
    device = next(method.parameters()).device
    was_training = method.training
    method.eval()
    observed = ~np.isnan(x).all(axis=2)
    lengths = x.shape[1] - np.argmax(observed[:, ::-1], axis=1)
    out = np.empty((x.shape[0], 0), dtype=np.float32)
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        for start in range(0, idx.size, batch_size):
            rows = idx[start : start + batch_size]
            z = method.embed(torch.from_numpy(x[rows, :length]).to(device)).cpu().numpy()
            if out.shape[1] == 0:
                out = np.empty((x.shape[0], z.shape[1]), dtype=z.dtype)
            out[rows] = z
    method.train(was_training)
    return out


class SeriesClassifier(nn.Module):
    """Encoder -> max-pool over observed timestamps -> MLP head -> class logits."""

    def __init__(self, encoder: DilatedConvEncoder, n_classes: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = ProjectionHead(encoder.output_dims, 128, n_classes)

    def embed(self, x: Tensor) -> Tensor:
        """(B, T, C) -> (B, output_dims) max-pooled encoder features."""
        return max_pool_time(self.encoder(x), observed_timestamps(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.embed(x))

    def training_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        x, y = batch
        return {"loss": F.cross_entropy(self(x), y)}


def train_classifier(
    classifier: SeriesClassifier,
    train: HierarchicalDataset,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    device: str = "auto",
    out_dir: Path | None = None,
) -> SeriesClassifier:
    """Cross-entropy training of ``classifier`` on ``train`` with the shared trainer (AdamW).

    With ``out_dir`` the stage is a run folder of its own (metrics.csv, TensorBoard, the
    fine-tuned model in last.pt, plots/, progress); without, it leaves no files.
    """
    loader = DataLoader(
        TensorDataset(torch.from_numpy(train.x), torch.from_numpy(train.label)),
        batch_size=batch_size,
        shuffle=True,
        drop_last=train.x.shape[0] > batch_size,
    )
    with tempfile.TemporaryDirectory() as tmp:
        keep = out_dir is not None
        cfg = TrainerConfig(
            epochs=epochs,
            lr=lr,
            optimizer="adamw",
            seed=seed,
            out_dir=str(out_dir if keep else Path(tmp)),
            checkpoint_every=int(keep),
            progress=keep,
            tensorboard=keep,
            device=device,
            log_every=0,
        )
        Trainer(cfg, classifier, experiment=cfg if keep else None).fit(loader)
    return classifier


@torch.no_grad()
def predict_proba(classifier: SeriesClassifier, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Softmax class probabilities (n, classes) of ``classifier`` on ``x``."""
    device = next(classifier.parameters()).device
    classifier.eval()
    out = [
        F.softmax(classifier(torch.from_numpy(x[i : i + batch_size]).to(device)), dim=1).cpu()
        for i in range(0, x.shape[0], batch_size)
    ]
    return torch.cat(out).numpy()


def _scores(y: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    return classification_scores(y, prob[:, 1] if prob.shape[1] == 2 else prob)


def downstream_scores(
    pretrained: AveragedEncoderMethod | None,
    encoder_cfg: EncoderConfig,
    train: HierarchicalDataset,
    val: HierarchicalDataset,
    test: HierarchicalDataset,
    *,
    fractions: Sequence[float],
    seed: int,
    finetune_epochs: int,
    finetune_lr: float,
    finetune_batch_size: int,
    device: str = "auto",
    out_dir: Path | None = None,
) -> list[dict[str, float | str]]:
    """One row per (fraction, protocol) with accuracy, macro_f1, auroc, auprc.

    With ``pretrained``: protocols ``linear`` and ``finetune`` (from its averaged encoder).
    Without: protocol ``supervised`` (random initialisation, same classifier and schedule).
    With ``out_dir`` each classifier training is a run folder ``out_dir/<protocol>@<fraction>``
    (see :func:`train_classifier`), and every score is logged as it is measured.
    """
    n_classes = int(max(train.label.max(), test.label.max(), val.label.max())) + 1
    rows: list[dict[str, float | str]] = []
    if pretrained is not None:
        train_z, val_z, test_z = (encode(pretrained, d.x) for d in (train, val, test))
    for fraction in fractions:
        keep = label_fraction_indices(train.label, fraction, seed)
        subset = train.subset(keep)
        if pretrained is not None:
            probe = linear_probe(
                train_z[keep],
                subset.label,
                test_z,
                test.label,
                val_x=val_z,
                val_y=val.label,
                seed=seed,
            )
            rows.append({"fraction": fraction, "protocol": "linear", **_without_c(probe)})
            log.info("linear probe, %g of the labels: %s", fraction, _shown(rows[-1]))
            averaged = pretrained.averaged.module
            assert isinstance(averaged, DilatedConvEncoder)
            encoder = copy.deepcopy(averaged).requires_grad_(True)
            protocol = "finetune"
        else:
            torch.manual_seed(seed)
            encoder = DilatedConvEncoder(
                train.n_channels,
                encoder_cfg.output_dims,
                encoder_cfg.hidden_dims,
                encoder_cfg.depth,
                encoder_cfg.dropout,
            )
            protocol = "supervised"
        classifier = train_classifier(
            SeriesClassifier(encoder, n_classes),
            subset,
            epochs=finetune_epochs,
            lr=finetune_lr,
            batch_size=finetune_batch_size,
            seed=seed,
            device=device,
            out_dir=None if out_dir is None else out_dir / f"{protocol}@{fraction:g}",
        )
        prob = predict_proba(classifier, test.x)
        rows.append({"fraction": fraction, "protocol": protocol, **_scores(test.label, prob)})
        log.info("%s, %g of the labels: %s", protocol, fraction, _shown(rows[-1]))
        if out_dir is not None:
            finish_run(
                out_dir / f"{protocol}@{fraction:g}",
                rows[-1],
                title=f"{protocol}, {fraction:.0%} of the labels: test patients",
                print_table=False,
            )
    return rows


def _shown(row: dict[str, float | str]) -> str:
    return "  ".join(
        f"{k} {v:.4f}"
        for k, v in row.items()
        if k not in ("fraction", "protocol") and isinstance(v, float)
    )


def _without_c(probe: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in probe.items() if k != "C"}
