"""Frozen-representation probes: a logistic-regression linear probe and a weighted kNN classifier.

Linear probe (the standard protocol of SimCLR, GRACE, COMET...): features are standardised with
the training mean and standard deviation, then an L2-regularised multinomial logistic regression
(sklearn ``LogisticRegression``, lbfgs) is fit on the training split. The inverse regularisation
strength C is chosen from ``c_grid`` on held-out data only, never on the test split:

- with ``val_x``/``val_y``: the C with the best validation accuracy;
- without them: the C with the best mean accuracy over a stratified 3-fold cross-validation of the
  training split (``c_grid`` with one value skips the search).

The final model is refit on the whole training split with the chosen C and evaluated on the test
split (ties in the search go to the smaller C, i.e. the stronger regularisation). When lbfgs stops
at ``max_iter`` before converging in any of a call's fits, sklearn's multi-line warning per fit is
replaced by one single-line ``ConvergenceWarning`` per call that names ``max_iter``.

kNN (Wu et al. 2018, "Unsupervised Feature Learning via Non-Parametric Instance Discrimination"):
with cosine similarities s_j between a test point and its k nearest training points N_k, class c
scores sum_{j in N_k} exp(s_j / t) 1[y_j = c] and the highest score is the prediction.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from shared.evaluation._inputs import ArrayLike, features, labels
from shared.evaluation.classification import classification_scores

_CV_FOLDS = 3


def linear_probe(
    train_x: ArrayLike,
    train_y: ArrayLike,
    test_x: ArrayLike,
    test_y: ArrayLike,
    *,
    val_x: ArrayLike | None = None,
    val_y: ArrayLike | None = None,
    c_grid: Sequence[float] = (0.01, 0.1, 1, 10, 100),
    max_iter: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """Logistic-regression probe on frozen features; see the module docstring for the protocol.

    Args:
        train_x, test_x, val_x: (N, d) features (torch tensors or numpy arrays).
        train_y, test_y, val_y: (N,) integer labels (any integer values; test and validation labels
            must occur in the training labels).
        c_grid: candidate inverse regularisation strengths C > 0.
        max_iter: lbfgs iteration cap.
        seed: seed of the cross-validation split and the solver.

    Returns:
        ``{"accuracy", "macro_f1", "auroc", "auprc", "C"}`` on the test split; AUROC/AUPRC use the
        positive-class probability (binary) or macro one-vs-rest (multiclass), and are nan (with a
        warning) when the test split holds a single class.
    """
    xtr = features(train_x, "train_x", min_rows=2)
    ytr = labels(train_y, "train_y", xtr.shape[0])
    xte = features(test_x, "test_x")
    yte = labels(test_y, "test_y", xte.shape[0])
    _check_same_dim("train_x", xtr, "test_x", xte)
    if (val_x is None) != (val_y is None):
        raise ValueError("give both val_x and val_y, or neither")
    grid = [float(c) for c in c_grid]
    if not grid or min(grid) <= 0:
        raise ValueError(f"c_grid must be a non-empty sequence of C > 0, got {tuple(c_grid)}")

    classes = np.unique(ytr)
    if classes.size < 2:
        raise ValueError(f"train_y holds a single class ({classes[0]}); a probe needs at least 2")
    yte_idx = _encode(yte, classes, "test_y")

    scaler = StandardScaler().fit(xtr)
    xtr_s, xte_s = scaler.transform(xtr), scaler.transform(xte)
    ytr_idx = np.searchsorted(classes, ytr)

    if val_x is not None and val_y is not None:
        xva = features(val_x, "val_x")
        yva = labels(val_y, "val_y", xva.shape[0])
        _check_same_dim("train_x", xtr, "val_x", xva)
        yva_idx = _encode(yva, classes, "val_y")
    with _one_convergence_warning(max_iter):
        if len(grid) == 1:
            clf = _fit(xtr_s, ytr_idx, grid[0], max_iter, seed)
        elif val_x is not None:
            xva_s = scaler.transform(xva)
            fits = [_fit(xtr_s, ytr_idx, c, max_iter, seed) for c in grid]
            clf = fits[int(np.argmax([f.score(xva_s, yva_idx) for f in fits]))]
        else:
            best_c = _cross_validated_c(xtr, ytr_idx, grid, max_iter, seed)
            clf = _fit(xtr_s, ytr_idx, best_c, max_iter, seed)
    prob = clf.predict_proba(xte_s)
    y_score = prob[:, 1] if classes.size == 2 else prob
    return {**classification_scores(yte_idx, y_score), "C": float(clf.C)}


@contextmanager
def _one_convergence_warning(max_iter: int) -> Iterator[None]:
    """Swallow sklearn's per-fit ``ConvergenceWarning`` inside the block and warn once after it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    stopped = False
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            stopped = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if stopped:
        warnings.warn(
            f"linear probe: lbfgs stopped at max_iter={max_iter} before converging in some fits; "
            "their scores come from the last iterate (pass a larger max_iter for exact fits)",
            ConvergenceWarning,
            stacklevel=4,
        )


def _fit(x: np.ndarray, y: np.ndarray, c: float, max_iter: int, seed: int) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=max_iter, random_state=seed).fit(x, y)


def _cross_validated_c(
    x: np.ndarray, y: np.ndarray, grid: list[float], max_iter: int, seed: int
) -> float:
    """C with the best mean accuracy over stratified folds (scaler refit inside each fold)."""
    smallest = int(np.bincount(y).min())
    if smallest < _CV_FOLDS:
        raise ValueError(
            f"choosing C by {_CV_FOLDS}-fold cross-validation needs >= {_CV_FOLDS} training "
            f"examples per class, but one class has {smallest}; pass val_x/val_y or a single C "
            "in c_grid"
        )
    folds = list(StratifiedKFold(_CV_FOLDS, shuffle=True, random_state=seed).split(x, y))
    mean_acc = []
    for c in grid:
        accs = []
        for fit_idx, held_idx in folds:
            scaler = StandardScaler().fit(x[fit_idx])
            clf = _fit(scaler.transform(x[fit_idx]), y[fit_idx], c, max_iter, seed)
            accs.append(clf.score(scaler.transform(x[held_idx]), y[held_idx]))
        mean_acc.append(float(np.mean(accs)))
    return grid[int(np.argmax(mean_acc))]


def knn_accuracy(
    train_x: ArrayLike,
    train_y: ArrayLike,
    test_x: ArrayLike,
    test_y: ArrayLike,
    k: int = 20,
    temperature: float = 0.07,
    *,
    batch_size: int = 1024,
) -> float:
    """Accuracy of the temperature-weighted cosine kNN vote (InstDisc); see the module docstring.

    Args:
        train_x, test_x: (N, d) features; rows are L2-normalised internally.
        train_y, test_y: (N,) integer labels (any integer values).
        k: neighbours per test point, capped at the number of training points.
        temperature: t > 0 in the vote weight exp(s / t).
        batch_size: test points per similarity block, so memory is O(batch_size x N_train).
    """
    xtr = features(train_x, "train_x")
    ytr = labels(train_y, "train_y", xtr.shape[0])
    xte = features(test_x, "test_x")
    yte = labels(test_y, "test_y", xte.shape[0])
    _check_same_dim("train_x", xtr, "test_x", xte)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    classes, ytr_idx = np.unique(ytr, return_inverse=True)
    bank = F.normalize(torch.from_numpy(xtr), dim=1)
    bank_y = torch.from_numpy(ytr_idx.reshape(-1))
    queries = F.normalize(torch.from_numpy(xte), dim=1)
    k = min(k, bank.shape[0])
    correct = 0
    for start in range(0, queries.shape[0], batch_size):
        sim = queries[start : start + batch_size] @ bank.T
        top_sim, top_idx = sim.topk(k, dim=1)
        votes = torch.zeros(sim.shape[0], classes.size, dtype=sim.dtype)
        votes.scatter_add_(1, bank_y[top_idx], torch.exp(top_sim / temperature))
        pred = classes[votes.argmax(dim=1).numpy()]
        correct += int((pred == yte[start : start + batch_size]).sum())
    return correct / queries.shape[0]


def _encode(y: np.ndarray, classes: np.ndarray, name: str) -> np.ndarray:
    """Indices of ``y`` in the sorted training ``classes``; unseen labels are an error."""
    unseen = np.setdiff1d(y, classes)
    if unseen.size:
        raise ValueError(
            f"{name} contains labels absent from train_y: {unseen[:10].tolist()}; the probe "
            "cannot predict classes it never saw"
        )
    return np.searchsorted(classes, y)


def _check_same_dim(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same feature size, got {a.shape[1]} and "
            f"{b.shape[1]}"
        )
