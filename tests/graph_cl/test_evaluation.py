"""The random-split, public-split and GRACE-script protocols and clustering scores."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import GridSearchCV
from sklearn.multiclass import OneVsRestClassifier
from torch_geometric.data import Data

import shared.training.progress as progress
from graph_cl.evaluation import (
    EvalConfig,
    evaluate_embeddings,
    mean_pairwise_cosine,
    probe_grace_protocol,
    probe_public_split,
    probe_random_splits,
    random_splits,
    validation_accuracy,
)


def test_random_splits_are_disjoint_covering_and_seeded() -> None:
    splits = random_splits(100, 3, 0.1, 0.1, seed=0)
    for train, val, test in splits:
        assert (len(train), len(val), len(test)) == (10, 10, 80)
        assert torch.equal(torch.sort(torch.cat([train, val, test])).values, torch.arange(100))
    assert not torch.equal(splits[0][0], splits[1][0])
    assert torch.equal(random_splits(100, 1, 0.1, 0.1, seed=0)[0][0], splits[0][0])


def test_label_embeddings_score_perfectly() -> None:
    y = torch.arange(300) % 3
    emb = F.one_hot(y, 3).float() + 0.01 * torch.randn(
        300, 3, generator=torch.Generator().manual_seed(0)
    )
    data = Data(
        x=emb,
        y=y,
        train_mask=torch.arange(300) < 30,
        val_mask=(torch.arange(300) >= 30) & (torch.arange(300) < 60),
        test_mask=torch.arange(300) >= 60,
    )
    out = evaluate_embeddings(emb, data, EvalConfig(random_splits=4), communities=y.flip(0))
    assert out["random_accuracy"] == 1.0 and out["random_accuracy_std"] == 0.0
    assert out["public_accuracy"] == 1.0 and out["kmeans_nmi"] == pytest.approx(1.0)
    assert out["community_nmi"] == pytest.approx(1.0)
    assert out["kmeans_acc"] == out["community_acc"] == 1.0  # a relabelled partition is perfect


def test_evaluations_report_their_splits_with_an_eta(caplog, monkeypatch) -> None:
    """A Computers / CS evaluation runs for minutes: each protocol logs its split count and ETA
    (a clock that advances 31 s per reading stands in for the 30 s between log lines)."""
    clock = itertools.count(0.0, 31.0)
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    y = torch.arange(200) % 2
    emb = F.one_hot(y, 2).float() + torch.randn(200, 2, generator=torch.Generator().manual_seed(0))
    with caplog.at_level(logging.INFO, logger="contrast"):
        probe_grace_protocol(emb, y, num_splits=3, seed=0)
        probe_random_splits(emb, y, EvalConfig(random_splits=2))
    assert "evaluation: GRACE's script  split 1/3 (33%)  elapsed 00:31, ETA 01:02" in caplog.text
    assert "evaluation: GRACE's script  split 3/3 (100%)" in caplog.text
    assert "evaluation: random-split probe  split 2/2 (100%)" in caplog.text


def test_public_split_needs_masks_and_labels() -> None:
    with pytest.raises(ValueError, match="no public split"):
        probe_public_split(torch.randn(5, 2), Data(x=torch.randn(5, 2), y=torch.zeros(5)))
    with pytest.raises(ValueError, match="node labels"):
        evaluate_embeddings(torch.randn(5, 2), Data(x=torch.randn(5, 2)), EvalConfig())


def test_bad_fractions_fail() -> None:
    with pytest.raises(ValueError, match="train_fraction"):
        EvalConfig(train_fraction=0.6, val_fraction=0.5)


def _noisy_clusters(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = torch.tensor([3, 7, 9])[torch.arange(n) % 3]  # non-contiguous label values
    centres = torch.randn(3, 8, generator=gen)
    return centres[torch.arange(n) % 3] + 0.9 * torch.randn(n, 8, generator=gen), y


def test_grace_protocol_equals_a_transcription_of_the_official_script() -> None:
    emb, y = _noisy_clusters(200, seed=1)
    ours = probe_grace_protocol(emb, y, num_splits=1, seed=5)
    # GRACE's eval.py, step by step, on the split our seed draws (first 10% of the permutation)
    train = torch.randperm(200, generator=torch.Generator().manual_seed(5)).numpy()[:20]
    test = np.setdiff1d(np.arange(200), train)
    x = emb.numpy().astype(np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    onehot = np.stack([y.numpy() == c for c in (3, 7, 9)], axis=1)
    search = GridSearchCV(
        OneVsRestClassifier(LogisticRegression(solver="liblinear")),
        {"estimator__C": 2.0 ** np.arange(-10, 10)},
        cv=5,
    ).fit(x[train], onehot[train])
    prob = search.predict_proba(x[test])
    pred_onehot = prob == prob.max(axis=1, keepdims=True)
    assert ours["accuracy"][0] == pytest.approx(
        f1_score(onehot[test], pred_onehot, average="micro")
    )
    assert ours["macro_f1"][0] == pytest.approx(
        f1_score(onehot[test], pred_onehot, average="macro")
    )
    assert 0.5 < ours["accuracy"][0] < 1.0  # a real classification problem, not a trivial one


def test_grace_protocol_ignores_the_scale_of_each_embedding() -> None:
    emb, y = _noisy_clusters(150, seed=2)
    scale = torch.rand(150, 1, generator=torch.Generator().manual_seed(3)) * 10 + 0.1
    plain = probe_grace_protocol(emb, y, num_splits=1, seed=0)
    scaled = probe_grace_protocol(emb * scale, y, num_splits=1, seed=0)
    assert scaled["accuracy"] == pytest.approx(plain["accuracy"])


def test_grace_protocol_is_reported_and_checks_its_size() -> None:
    emb, y = _noisy_clusters(150, seed=4)
    out = evaluate_embeddings(
        emb, Data(x=emb, y=y), EvalConfig(random_splits=0, grace_protocol_splits=1)
    )
    assert {"grace_protocol_accuracy", "grace_protocol_accuracy_std"} <= out.keys()
    assert "random_accuracy" not in out
    with pytest.raises(ValueError, match="only 4 training nodes"):
        probe_grace_protocol(emb[:40], y[:40], num_splits=1, seed=0)
    with pytest.raises(ValueError, match="grace_protocol_splits must be >= 0"):
        EvalConfig(grace_protocol_splits=-1)


def test_public_split_with_several_masks_averages_them() -> None:
    emb, y = _noisy_clusters(120, seed=6)
    gen = torch.Generator().manual_seed(0)
    train = torch.rand(120, 3, generator=gen) < 0.3
    val = ~train & (torch.rand(120, 3, generator=gen) < 0.5)
    test = ~train.any(1) & ~val.any(1)
    data = Data(x=emb, y=y, train_mask=train, val_mask=val, test_mask=test)
    per_split = [
        probe_public_split(
            emb,
            Data(x=emb, y=y, train_mask=train[:, i], val_mask=val[:, i], test_mask=test),
            seed=i,
        )["accuracy"]
        for i in range(3)
    ]
    assert probe_public_split(emb, data)["accuracy"] == pytest.approx(np.mean(per_split))
    with pytest.raises(ValueError, match="different numbers of splits"):
        probe_public_split(
            emb, Data(x=emb, y=y, train_mask=train, val_mask=val[:, :2], test_mask=test)
        )


def test_validation_accuracy_reads_only_the_first_split_train_and_validation_nodes() -> None:
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 4
    emb = F.one_hot(y, 4).float() + 0.3 * torch.randn(200, 4, generator=gen)
    cfg = EvalConfig(seed=3)
    train, val, test = random_splits(200, 1, 0.1, 0.1, seed=3)[0]
    acc = validation_accuracy(emb, y, cfg)
    scrambled = y.clone()
    scrambled[test] = (scrambled[test] + 1) % 4  # test labels never enter the curve
    assert validation_accuracy(emb, scrambled, cfg) == acc
    noisy = emb.clone()
    noisy[test] = torch.randn(len(test), 4, generator=gen)  # nor do test embeddings
    assert validation_accuracy(noisy, y, cfg) == acc
    x = (emb - emb[train].mean(0)) / emb[train].std(0, unbiased=False)
    clf = LogisticRegression(C=1.0, max_iter=1000).fit(x[train].numpy(), y[train].numpy())
    assert acc == pytest.approx(float(np.mean(clf.predict(x[val].numpy()) == y[val].numpy())))


def test_mean_pairwise_cosine_matches_the_all_pairs_mean() -> None:
    emb = torch.randn(50, 6, generator=torch.Generator().manual_seed(0)) + 0.5
    unit = F.normalize(emb.double(), dim=1)
    assert mean_pairwise_cosine(emb) == pytest.approx(float((unit @ unit.T).mean()), rel=1e-12)
    assert mean_pairwise_cosine(torch.ones(7, 3)) == pytest.approx(1.0)


def test_grace_script_underfits_embeddings_that_share_one_direction() -> None:
    """The Photo gap of RESULTS 2 in miniature: class signal 1e-4 on top of a common direction.
    The standardised probe separates the classes; GRACE's script (L2-normalised rows, C <= 2^9)
    reads chance, and reads the classes again once the common direction is removed."""
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(200) % 4
    signal = F.one_hot(y, 4).float() @ torch.randn(4, 8, generator=gen)
    emb = torch.ones(200, 8) + 1e-4 * (signal + 0.3 * torch.randn(200, 8, generator=gen))
    assert mean_pairwise_cosine(emb) > 0.9999
    random_acc = probe_random_splits(emb, y, EvalConfig(random_splits=1))["accuracy"][0]
    grace_acc = probe_grace_protocol(emb, y, 1, seed=0)["accuracy"][0]
    centred_acc = probe_grace_protocol(emb - emb.mean(0), y, 1, seed=0)["accuracy"][0]
    assert random_acc > 0.85
    assert grace_acc < 0.35  # chance is 0.25
    assert centred_acc > 0.6  # 20 training nodes
