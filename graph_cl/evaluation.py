"""The two node-classification protocols and the clustering scores of the graph literature, on top
of ``shared.evaluation``.

- Random splits (GRACE, gCooL): ``num_splits`` random train / validation / test partitions
  (10% / 10% / 80%); a logistic-regression probe is fit on the frozen embeddings of the training
  nodes, its regularisation chosen on the validation nodes, and scored on the test nodes;
  mean and standard deviation over the splits.
- Public split (Planetoid: 140 / 500 / 1000 on Cora): the same probe on the fixed masks.
- GRACE's own script (``grace_protocol_splits``; ``eval.py`` of github.com/CRIPAC-DIG/GRACE, the
  protocol behind GRACE's published numbers and reused by gCooL's tables): ``num_splits`` random
  10% train / 90% test partitions, L2-normalised embeddings, one-vs-rest liblinear logistic
  regression on the one-hot label matrix with C in {2^-10, ..., 2^9} chosen by 5-fold
  cross-validation of the training nodes (unshuffled folds, exact-match accuracy of the one-hot
  predictions, as sklearn's ``GridSearchCV`` scores a multilabel target); the test prediction is the
  argmax of the per-class probabilities. There is no validation split, and C is chosen on far
  fewer nodes per fold than the validation set of the random-split protocol gives.
- Validation curve (``validation_curve``, read during training every ``trainer.eval_every``
  epochs): the probe fit on the training nodes of the first random split with C = 1 and scored on
  that split's validation nodes; the test nodes are never read.
- Collapse diagnostic (always reported, ``embedding_mean_cosine``): the mean cosine similarity
  over all node pairs, (1/N^2) sum_ij <u_i, u_j> = ||sum_i u_i||^2 / N^2 with u_i the L2-normalised
  embeddings, in O(N d). Near 1 the embeddings share one direction; GRACE's script (L2-normalised
  inputs, C <= 2^9) then underfits and reads close to the majority-class share while the
  standardised random-split probe still separates the classes (RESULTS 2, Amazon-Photo).
- Clustering: k-means NMI / ARI / accuracy (Hungarian-matched, the ACC of clustering papers) of
  the embeddings against the labels, and the same scores of a given partition (DeCA's
  communities, SCGC's DEC clusters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import normalize
from torch import Tensor
from torch_geometric.data import Data

from shared.evaluation import cluster_scores, linear_probe, mean_std, partition_scores
from shared.training.progress import EpochProgress

_GRACE_C_GRID = 2.0 ** np.arange(-10, 10)
_GRACE_CV_FOLDS = 5


@dataclass
class EvalConfig:
    """Which protocols to run and their seeds.

    ``random_splits``: number of 10/10/80 splits (0: off); ``public_split``: the data set's own
    masks; ``grace_protocol_splits``: number of splits of GRACE's evaluation script (0: off; the
    Cora configs use 20); ``clustering``: k-means NMI / ARI; ``validation_curve``: record the
    probe's validation accuracy during training (every ``trainer.eval_every`` epochs, as
    ``val_accuracy`` in ``metrics.csv``); ``seed``: seed of every split.
    """

    random_splits: int = 20
    train_fraction: float = 0.1
    val_fraction: float = 0.1
    public_split: bool = True
    grace_protocol_splits: int = 0
    clustering: bool = True
    validation_curve: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("random_splits", "grace_protocol_splits"):
            if getattr(self, name) < 0:
                raise ValueError(f"eval.{name} must be >= 0, got {getattr(self, name)}")
        if not (
            0 < self.train_fraction
            and 0 < self.val_fraction
            and self.train_fraction + self.val_fraction < 1
        ):
            raise ValueError("eval.train_fraction and eval.val_fraction must be > 0 with sum < 1")


def random_splits(
    num_nodes: int, num_splits: int, train_fraction: float, val_fraction: float, seed: int
) -> list[tuple[Tensor, Tensor, Tensor]]:
    """``num_splits`` disjoint (train, val, test) node index triples covering all nodes."""
    gen = torch.Generator().manual_seed(seed)
    n_train, n_val = int(num_nodes * train_fraction), int(num_nodes * val_fraction)
    splits = []
    for _ in range(num_splits):
        perm = torch.randperm(num_nodes, generator=gen)
        splits.append((perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]))
    return splits


def probe_random_splits(
    embeddings: Tensor, labels: Tensor, cfg: EvalConfig
) -> dict[str, tuple[float, float]]:
    """Linear-probe accuracy and macro-F1 as (mean, std) over ``cfg.random_splits`` splits."""
    splits = random_splits(
        len(labels), cfg.random_splits, cfg.train_fraction, cfg.val_fraction, cfg.seed
    )
    progress = _splits_progress(splits, "evaluation: random-split probe")
    runs = []
    for i, (train, val, test) in enumerate(progress):
        runs.append(_probe(embeddings, labels, train, val, test, cfg.seed + i))
    return mean_std(runs)


def _splits_progress(splits: Sequence[Any], desc: str) -> EpochProgress:
    """A long evaluation (minutes on Computers / CS) reports its splits with an ETA."""
    return EpochProgress(splits, desc=desc, enabled=True, unit="split")


def _probe(
    embeddings: Tensor, labels: Tensor, train: Tensor, val: Tensor, test: Tensor, seed: int
) -> dict[str, float]:
    """Accuracy and macro-F1 of the linear probe on one (train, val, test) node split."""
    scores = linear_probe(
        embeddings[train],
        labels[train],
        embeddings[test],
        labels[test],
        val_x=embeddings[val],
        val_y=labels[val],
        seed=seed,
    )
    return {"accuracy": scores["accuracy"], "macro_f1": scores["macro_f1"]}


def mean_pairwise_cosine(embeddings: Tensor) -> float:
    """Mean cosine similarity over all ordered node pairs, self-pairs included, in O(N d)."""
    unit = torch.nn.functional.normalize(embeddings.detach().double(), dim=1)
    return float(unit.sum(dim=0).pow(2).sum() / unit.shape[0] ** 2)


def validation_accuracy(embeddings: Tensor, labels: Tensor, cfg: EvalConfig) -> float:
    """Accuracy on the validation nodes of the first random split of a probe fit on its training
    nodes with C = 1 (one point of the validation curve; the test nodes are never read)."""
    train, val, _ = random_splits(len(labels), 1, cfg.train_fraction, cfg.val_fraction, cfg.seed)[0]
    emb = embeddings.detach().cpu()
    scores = linear_probe(
        emb[train], labels[train], emb[val], labels[val], c_grid=(1.0,), seed=cfg.seed
    )
    return scores["accuracy"]


def probe_public_split(embeddings: Tensor, data: Data, seed: int = 0) -> dict[str, float]:
    """Linear probe on the data set's own train / val / test masks (Planetoid public split).

    Masks of shape (N, S) hold S splits (WikiCS: 20 train / validation masks, one test mask);
    the scores are then the means over the splits.
    """
    if getattr(data, "train_mask", None) is None:
        raise ValueError("this graph has no public split (train_mask / val_mask / test_mask)")
    masks = [data.train_mask, data.val_mask, data.test_mask]
    num_splits = max(m.shape[1] if m.dim() == 2 else 1 for m in masks)
    if any(m.dim() == 2 and m.shape[1] != num_splits for m in masks):
        shapes = [tuple(m.shape) for m in masks]
        raise ValueError(f"the train / val / test masks hold different numbers of splits: {shapes}")
    runs = []
    for i in range(num_splits):
        train, val, test = (m[:, i] if m.dim() == 2 else m for m in masks)
        runs.append(_probe(embeddings, data.y, train, val, test, seed + i))
    return {name: mean for name, (mean, _) in mean_std(runs).items()}


def probe_grace_protocol(
    embeddings: Tensor, labels: Tensor, num_splits: int, seed: int
) -> dict[str, tuple[float, float]]:
    """GRACE's evaluation script (module docstring): accuracy (= micro-F1) and macro-F1 as
    (mean, std) over ``num_splits`` random 10% / 90% splits."""
    x = normalize(embeddings.numpy().astype(np.float64))
    y = labels.numpy()
    classes = np.unique(y)
    onehot = y[:, None] == classes[None, :]
    n_train = int(len(y) * 0.1)
    if n_train < _GRACE_CV_FOLDS:
        raise ValueError(
            f"GRACE's protocol trains on 10% of the nodes with {_GRACE_CV_FOLDS}-fold "
            f"cross-validation; {len(y)} nodes give only {n_train} training nodes"
        )
    gen = torch.Generator().manual_seed(seed)
    runs = []
    for _ in _splits_progress(range(num_splits), "evaluation: GRACE's script"):
        perm = torch.randperm(len(y), generator=gen).numpy()
        train, test = perm[:n_train], perm[n_train:]
        search = GridSearchCV(
            OneVsRestClassifier(LogisticRegression(solver="liblinear")),
            {"estimator__C": _GRACE_C_GRID},
            cv=_GRACE_CV_FOLDS,
        ).fit(x[train], onehot[train])
        pred = classes[np.argmax(search.predict_proba(x[test]), axis=1)]
        runs.append(
            {
                "accuracy": float(np.mean(pred == y[test])),
                "macro_f1": float(f1_score(y[test], pred, average="macro")),
            }
        )
    return mean_std(runs)


def evaluate_embeddings(
    embeddings: Tensor, data: Data, cfg: EvalConfig, communities: Tensor | None = None
) -> dict[str, float]:
    """Every protocol ``cfg`` asks for, flattened to ``{name: value}`` (``*_std`` for spreads)."""
    if getattr(data, "y", None) is None:
        raise ValueError("evaluation needs node labels data.y")
    emb, y = embeddings.detach().cpu(), data.y.cpu()
    out: dict[str, float] = {"embedding_mean_cosine": mean_pairwise_cosine(emb)}
    if cfg.random_splits:
        for name, (mean, std) in probe_random_splits(emb, y, cfg).items():
            out[f"random_{name}"], out[f"random_{name}_std"] = mean, std
    if cfg.public_split and getattr(data, "train_mask", None) is not None:
        for name, value in probe_public_split(emb, data.cpu(), cfg.seed).items():
            out[f"public_{name}"] = value
    if cfg.grace_protocol_splits:
        spreads = probe_grace_protocol(emb, y, cfg.grace_protocol_splits, cfg.seed)
        for name, (mean, std) in spreads.items():
            out[f"grace_protocol_{name}"], out[f"grace_protocol_{name}_std"] = mean, std
    if cfg.clustering:
        kmeans = cluster_scores(emb, y, seed=cfg.seed)
        for name in ("nmi", "ari", "acc"):
            out[f"kmeans_{name}"] = kmeans[name]
    if communities is not None:
        partition = partition_scores(communities.cpu(), y)
        for name in ("nmi", "ari", "acc"):
            out[f"community_{name}"] = partition[name]
    return out
