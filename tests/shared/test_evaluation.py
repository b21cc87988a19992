"""shared.evaluation against naive references, sklearn and hand-computed values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    adjusted_rand_score,
    average_precision_score,
    f1_score,
    normalized_mutual_info_score,
    roc_auc_score,
)
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler, label_binarize
from threadpoolctl import threadpool_limits

from shared.evaluation import (
    UndefinedMetricWarning,
    classification_scores,
    cluster_scores,
    format_mean_std,
    knn_accuracy,
    linear_probe,
    markdown_table,
    mean_std,
    metric_family,
    metrics_from_ranks,
    partition_scores,
    plot_training_curves,
    plot_tsne,
    rank_full,
    ranks_from_scores,
)


@pytest.fixture(autouse=True)
def single_openmp_thread():
    """k-means, t-SNE (OpenMP) and lbfgs (BLAS) on these small problems run single-threaded: on a
    busy 2-core machine spinning worker threads make them up to ~20x slower."""
    with threadpool_limits(limits=1):
        yield


def blobs(n: int, n_classes: int, dim: int, spread: float, seed: int):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(n_classes, dim)) * spread
    y = rng.integers(0, n_classes, n)
    return centers[y] + rng.normal(size=(n, dim)), y


# ----------------------------------------------------------------------------- linear probe / kNN


def test_probe_separable_data_is_perfect():
    x, y = blobs(600, 4, 16, spread=6.0, seed=0)
    out = linear_probe(x[:400], y[:400], x[400:], y[400:])
    assert out["accuracy"] == 1.0 and out["macro_f1"] == 1.0
    assert out["auroc"] == pytest.approx(1.0) and out["auprc"] == pytest.approx(1.0)
    assert out["C"] in (0.01, 0.1, 1.0, 10.0, 100.0)


def test_probe_random_labels_is_at_chance():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(1200, 8))
    y = rng.integers(0, 2, 1200)
    out = linear_probe(x[:600], y[:600], x[600:], y[600:])
    # 600 test points: the std of a chance accuracy is 0.02, so 0.42..0.58 is a 4-sigma band
    assert 0.42 < out["accuracy"] < 0.58
    assert 0.42 < out["auroc"] < 0.58


def test_probe_chooses_c_on_validation_like_a_manual_search():
    x, y = blobs(300, 3, 40, spread=0.6, seed=2)  # overlapping: C matters
    tr, va, te = slice(0, 100), slice(100, 200), slice(200, 300)
    grid = (0.001, 0.01, 0.1, 1.0, 10.0)
    out = linear_probe(x[tr], y[tr], x[te], y[te], val_x=x[va], val_y=y[va], c_grid=grid)

    scaler = StandardScaler().fit(x[tr])
    fits = [
        LogisticRegression(C=c, max_iter=1000, random_state=0).fit(scaler.transform(x[tr]), y[tr])
        for c in grid
    ]
    val_acc = [f.score(scaler.transform(x[va]), y[va]) for f in fits]
    best = int(np.argmax(val_acc))
    assert len(set(val_acc)) > 1, "test data should make C matter"
    assert out["C"] == grid[best]
    assert out["accuracy"] == pytest.approx(fits[best].score(scaler.transform(x[te]), y[te]))


def test_probe_without_validation_chooses_c_by_stratified_3_fold_cv():
    x, y = blobs(150, 3, 40, spread=0.6, seed=2)
    grid = (0.001, 0.01, 0.1, 1.0, 10.0)
    out = linear_probe(x[:100], y[:100], x[100:], y[100:], c_grid=grid, seed=3)

    folds = list(StratifiedKFold(3, shuffle=True, random_state=3).split(x[:100], y[:100]))
    cv_acc = []
    for c in grid:
        accs = []
        for fit, held in folds:
            scaler = StandardScaler().fit(x[fit])
            clf = LogisticRegression(C=c, max_iter=1000, random_state=3)
            clf.fit(scaler.transform(x[fit]), y[fit])
            accs.append(clf.score(scaler.transform(x[held]), y[held]))
        cv_acc.append(np.mean(accs))
    assert len(set(cv_acc)) > 1, "test data should make C matter"
    assert out["C"] == grid[int(np.argmax(cv_acc))]


def test_probe_accepts_tensors_and_arbitrary_label_values():
    x, y = blobs(300, 3, 8, spread=5.0, seed=3)
    labels = np.array([7, -2, 40])[y]
    a = linear_probe(x[:200], labels[:200], x[200:], labels[200:], c_grid=(1.0,))
    b = linear_probe(
        torch.tensor(x[:200]).float().requires_grad_(),
        torch.tensor(labels[:200]),
        torch.tensor(x[200:]),
        torch.tensor(labels[200:]),
        c_grid=(1.0,),
    )
    assert a["accuracy"] == 1.0
    assert b["accuracy"] == a["accuracy"] and b["C"] == 1.0


def test_probe_errors_name_the_problem():
    x, y = blobs(60, 3, 4, spread=5.0, seed=4)
    with pytest.raises(ValueError, match="absent from train_y"):
        linear_probe(x[:30], y[:30], x[30:], y[30:] + 10)
    with pytest.raises(ValueError, match="single class"):
        linear_probe(x[:30], np.zeros(30, dtype=int), x[30:], y[30:])
    with pytest.raises(ValueError, match="same feature size"):
        linear_probe(x[:30], y[:30], x[30:, :2], y[30:])
    with pytest.raises(ValueError, match="labels but the features have"):
        linear_probe(x[:30], y[:29], x[30:], y[30:])
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        linear_probe(bad[:30], y[:30], x[30:], y[30:])
    with pytest.raises(ValueError, match="val_x and val_y"):
        linear_probe(x[:30], y[:30], x[30:], y[30:], val_x=x[30:])
    with pytest.raises(ValueError, match="per class"):
        linear_probe(x[:4], np.array([0, 0, 0, 1]), x[30:], y[30:] % 2)


def test_probe_reports_unconverged_lbfgs_in_one_line_per_call():
    """Fits capped at 2 lbfgs iterations: sklearn warns once per fit (5 C values x 4 fits each
    without a validation split); the probe replaces them with one single-line warning per call,
    and its scores are those of the capped fits."""
    x, y = blobs(300, 3, 20, spread=0.5, seed=5)
    for kwargs in ({}, {"val_x": x[200:250], "val_y": y[200:250]}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = linear_probe(x[:200], y[:200], x[250:], y[250:], max_iter=2, **kwargs)
        texts = [str(w.message) for w in caught]
        assert texts == [
            "linear probe: lbfgs stopped at max_iter=2 before converging in some fits; their "
            "scores come from the last iterate (pass a larger max_iter for exact fits)"
        ]
        assert issubclass(caught[0].category, ConvergenceWarning)
        assert caught[0].filename == __file__
        scaler = StandardScaler().fit(x[:200])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ref = LogisticRegression(C=out["C"], max_iter=2, random_state=0).fit(
                scaler.transform(x[:200]), y[:200]
            )
        assert out["accuracy"] == ref.score(scaler.transform(x[250:]), y[250:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        linear_probe(x[:200], y[:200], x[250:], y[250:])
    assert caught == []


def naive_knn(xtr, ytr, xte, k, t):
    xtr = xtr / np.linalg.norm(xtr, axis=1, keepdims=True)
    xte = xte / np.linalg.norm(xte, axis=1, keepdims=True)
    preds = []
    for q in xte:
        sim = xtr @ q
        nn_idx = np.argsort(-sim, kind="stable")[:k]
        votes: dict[int, float] = {}
        for j in nn_idx:
            votes[int(ytr[j])] = votes.get(int(ytr[j]), 0.0) + math.exp(sim[j] / t)
        preds.append(max(votes, key=votes.get))
    return np.array(preds)


def test_knn_matches_naive_weighted_vote_across_batches():
    rng = np.random.default_rng(5)
    xtr, ytr = rng.normal(size=(80, 6)), rng.integers(0, 4, 80)
    xte, yte = rng.normal(size=(37, 6)), rng.integers(0, 4, 37)
    expected = float(np.mean(naive_knn(xtr, ytr, xte, 10, 0.5) == yte))
    assert knn_accuracy(xtr, ytr, xte, yte, k=10, temperature=0.5, batch_size=8) == expected
    # k is capped at the training size: k=500 votes with all 80 points
    capped = float(np.mean(naive_knn(xtr, ytr, xte, 80, 0.5) == yte))
    assert knn_accuracy(xtr, ytr, xte, yte, k=500, temperature=0.5) == capped


def test_knn_separable_and_errors():
    x, y = blobs(300, 3, 8, spread=6.0, seed=6)
    assert knn_accuracy(torch.tensor(x[:200]), y[:200], x[200:], torch.tensor(y[200:])) == 1.0
    with pytest.raises(ValueError, match="temperature"):
        knn_accuracy(x[:200], y[:200], x[200:], y[200:], temperature=0.0)
    with pytest.raises(ValueError, match="k must be"):
        knn_accuracy(x[:200], y[:200], x[200:], y[200:], k=0)


# ----------------------------------------------------------------------------- clustering


def test_cluster_scores_on_planted_clusters_and_random_labels():
    x, y = blobs(300, 4, 8, spread=8.0, seed=7)
    out = cluster_scores(x, y)
    assert out == pytest.approx({"nmi": 1.0, "ari": 1.0, "acc": 1.0, "macro_f1": 1.0})
    random_labels = np.random.default_rng(8).integers(0, 4, 300)
    noise = cluster_scores(x, random_labels)
    assert noise["nmi"] < 0.05 and abs(noise["ari"]) < 0.05


def test_cluster_normalize_clusters_by_direction():
    rng = np.random.default_rng(9)
    directions = np.eye(3)
    y = rng.integers(0, 3, 300)
    scale = rng.uniform(0.1, 20.0, size=(300, 1))  # norms vary far more than directions
    x = directions[y] * scale + rng.normal(scale=0.01, size=(300, 3)) * scale
    assert cluster_scores(x, y, normalize=True)["ari"] == 1.0
    assert cluster_scores(x, y, normalize=False)["ari"] < 0.9
    with pytest.raises(ValueError, match="all-zero rows"):
        cluster_scores(np.zeros((5, 2)), np.arange(5))


def test_partition_scores_hand_computed_and_vs_sklearn():
    pred = np.array([0, 0, 1, 1, 2, 2])
    y = np.array([1, 1, 0, 0, 0, 2])
    out = partition_scores(pred, y)
    # best one-to-one map: 0->1, 1->0, 2->2 gives 5 of 6 right
    assert out["acc"] == pytest.approx(5 / 6)
    assert out["macro_f1"] == pytest.approx(f1_score(y, [1, 1, 0, 0, 2, 2], average="macro"))
    assert out["nmi"] == pytest.approx(normalized_mutual_info_score(y, pred))
    assert out["ari"] == pytest.approx(adjusted_rand_score(y, pred))
    # cluster ids are arbitrary: renaming them changes nothing
    assert partition_scores(np.array([9, 9, 4, 4, -1, -1]), y) == out
    # more clusters than classes: unmatched clusters count as wrong
    assert partition_scores(np.array([0, 1, 2, 3]), np.array([0, 0, 1, 1]))["acc"] == 0.5
    with pytest.raises(ValueError, match="labels but the features have"):
        partition_scores(pred, y[:5])


# ----------------------------------------------------------------------------- ranking


def naive_rank(scores: np.ndarray, target: int, removed: set[int]) -> int:
    """Sort candidates by score, ties placing the target last; return the target's position."""
    cand = [j for j in range(scores.shape[0]) if j == target or j not in removed]
    order = sorted(cand, key=lambda j: (-scores[j], j == target))
    return order.index(target)


def naive_metrics(scores, targets, removed, ks):
    ranks = np.array(
        [naive_rank(s, t, r) for s, t, r in zip(scores, targets, removed, strict=True)]
    )
    out = {}
    for k in ks:
        hit = ranks < k
        out[f"HR@{k}"] = hit.mean()
        out[f"NDCG@{k}"] = np.mean(hit / np.log2(ranks + 2))
        out[f"MRR@{k}"] = np.mean(hit / (ranks + 1))
    return out


@pytest.fixture
def ranking_case():
    gen = torch.Generator().manual_seed(10)
    n, n_items = 53, 40
    # integer-valued scores: many ties, to exercise the pessimistic tie rule
    scores = torch.randint(0, 8, (n, n_items), generator=gen).float()
    targets = torch.randint(1, n_items, (n,), generator=gen)
    seen = [torch.randint(0, n_items, (int(c),), generator=gen) for c in torch.randint(0, 12, (n,))]
    seen[0] = torch.cat([seen[0], targets[:1]])  # a target among its own seen items stays ranked
    return scores, targets, seen


@pytest.mark.parametrize("batch_size", [1, 7, 53, 500])
def test_rank_full_matches_naive_argsort(ranking_case, batch_size):
    scores, targets, seen = ranking_case
    ks = (1, 5, 10, 20)
    calls = []

    def score_fn(q):
        calls.append(q.clone())
        return scores[q]

    out = rank_full(
        score_fn, torch.arange(53), targets, ks=ks, batch_size=batch_size, exclude_items=seen
    )
    removed = [set(s.tolist()) | {0} for s in seen]  # padding item 0 is never a candidate
    expected = naive_metrics(scores.numpy(), targets.numpy(), removed, ks)
    assert out.keys() == expected.keys()
    for name, value in expected.items():
        assert out[name] == pytest.approx(value, abs=1e-12), name
    # bounded memory: never more than batch_size queries per call, each query exactly once
    assert max(len(c) for c in calls) <= batch_size
    assert torch.equal(torch.cat(calls), torch.arange(53))


def test_rank_full_standard_errors_match_numpy(ranking_case):
    scores, targets, seen = ranking_case
    queries = torch.arange(53)
    out = rank_full(
        lambda q: scores[q], queries, targets, batch_size=7, exclude_items=seen, stderr=True
    )
    removed = [set(s.tolist()) | {0} for s in seen]
    rows = zip(scores.numpy(), targets.numpy(), removed, strict=True)
    ranks = np.array([naive_rank(s, t, r) for s, t, r in rows])
    for k in (5, 10, 20):
        hit = ranks < k
        per_query = {"HR": hit, "NDCG": hit / np.log2(ranks + 2), "MRR": hit / (ranks + 1)}
        for metric, values in per_query.items():
            assert out[f"{metric}@{k}"] == pytest.approx(values.mean(), abs=1e-12)
            expected = values.std(ddof=1) / math.sqrt(len(values))
            assert out[f"{metric}@{k}_se"] == pytest.approx(expected, abs=1e-12)
    with pytest.raises(ValueError, match="at least 2 queries"):
        rank_full(lambda q: scores[q], torch.arange(1), targets[:1], stderr=True)


def test_rank_full_without_padding_or_exclusion(ranking_case):
    scores, targets, _ = ranking_case
    out = rank_full(lambda q: scores[q], torch.arange(53), targets, padding_item=None)
    expected = naive_metrics(scores.numpy(), targets.numpy(), [set()] * 53, (5, 10, 20))
    for name, value in expected.items():
        assert out[name] == pytest.approx(value, abs=1e-12)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_rank_full_exclusion_formats_agree(ranking_case):
    scores, targets, seen = ranking_case
    n, n_items = scores.shape
    dense = torch.zeros(n, n_items, dtype=torch.bool)
    for i, s in enumerate(seen):
        dense[i, s] = True
    formats = [
        dense,
        dense.to_sparse(),
        dense.float().to_sparse_csr(),
        scipy.sparse.csr_matrix(dense.numpy()),
        [s.tolist() for s in seen],
    ]
    reference = rank_full(lambda q: scores[q], torch.arange(n), targets, exclude_items=seen)
    for fmt in formats:
        assert rank_full(lambda q: scores[q], torch.arange(n), targets, exclude_items=fmt) == (
            reference
        )


@pytest.mark.parametrize("rank", [0, 1, 4, 9, 30])
def test_ndcg_closed_form_at_known_rank(rank):
    n_items = 40
    scores = -torch.arange(n_items, dtype=torch.float32)[None]  # item j has rank j
    out = rank_full(
        lambda q: scores.expand(len(q), -1),
        torch.zeros(1),
        torch.tensor([rank]),
        ks=(5, 10),
        padding_item=None,
    )
    for k in (5, 10):
        hit = rank < k
        assert out[f"HR@{k}"] == float(hit)
        assert out[f"NDCG@{k}"] == pytest.approx(hit / math.log2(rank + 2))
        assert out[f"MRR@{k}"] == pytest.approx(hit / (rank + 1))


def test_ties_are_pessimistic_and_padding_is_not_a_candidate():
    flat = torch.zeros(3, 10)
    ranks = ranks_from_scores(flat, torch.tensor([0, 5, 9]))
    assert ranks.tolist() == [9, 9, 9]  # all tied: the target goes last
    # with padding item 0 removed the target has 8 tied rivals: rank 8
    # (k = 9 would cover every candidate, which rank_full refuses)
    flat_pad = rank_full(lambda q: flat[q], torch.arange(3), torch.tensor([1, 5, 9]), ks=(8,))
    assert flat_pad["HR@8"] == 0.0 and flat_pad["MRR@8"] == 0.0
    with pytest.raises(ValueError, match="cut-off k=9 is not below the 9 rankable items"):
        rank_full(lambda q: flat[q], torch.arange(3), torch.tensor([1, 5, 9]), ks=(9,))
    # a padding item with the highest score never pushes the target down
    s = torch.tensor([[100.0, 1.0, 0.0]])
    assert (
        rank_full(lambda q: s[q], torch.zeros(1, dtype=torch.long), torch.tensor([1]), ks=(1,))[
            "HR@1"
        ]
        == 1.0
    )


def test_rank_full_passes_sequence_queries_row_blocks():
    gen = torch.Generator().manual_seed(15)
    seqs = torch.randint(1, 30, (20, 6), generator=gen)  # (N, L) padded histories
    item_emb = torch.randn(30, 4, generator=gen)

    def score_fn(batch):
        assert batch.shape[1:] == (6,)
        return item_emb[batch].mean(1) @ item_emb.T

    targets = torch.randint(1, 30, (20,), generator=gen)
    out = rank_full(score_fn, seqs, targets, batch_size=6, exclude_items=list(seqs))
    all_scores = item_emb[seqs].mean(1) @ item_emb.T
    removed = [set(s.tolist()) | {0} for s in seqs]
    expected = naive_metrics(all_scores.numpy(), targets.numpy(), removed, (5, 10, 20))
    assert out == pytest.approx(expected)


def test_metrics_from_ranks_hand_values():
    out = metrics_from_ranks(torch.tensor([0, 2, 10]), ks=(3,))
    assert out["HR@3"] == pytest.approx(2 / 3)
    assert out["NDCG@3"] == pytest.approx((1 + 1 / math.log2(4)) / 3)
    assert out["MRR@3"] == pytest.approx((1 + 1 / 3) / 3)


def test_rank_full_errors():
    s = torch.randn(4, 6)
    q, t = torch.arange(4), torch.tensor([1, 2, 3, 4])
    nan = s.clone()
    nan[2, 3] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        rank_full(lambda i: nan[i], q, t)
    with pytest.raises(ValueError, match="padding_item"):
        rank_full(lambda i: s[i], q, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"targets must lie in \[0, n_items=6\)"):
        rank_full(lambda i: s[i], q, torch.tensor([1, 2, 3, 6]))
    with pytest.raises(ValueError, match="returned shape"):
        rank_full(lambda i: s[i, :5] if len(i) == 1 else s[i], q, t, batch_size=3)
    with pytest.raises(ValueError, match="outside"):
        rank_full(lambda i: s[i], q, t, exclude_items=[[9], [], [], []])
    with pytest.raises(ValueError, match="one item list per query"):
        rank_full(lambda i: s[i], q, t, exclude_items=[[1]])
    with pytest.raises(ValueError, match="empty"):
        rank_full(lambda i: s[i], q[:0], t[:0])


# ----------------------------------------------------------------------------- classification


def test_binary_classification_vs_sklearn():
    rng = np.random.default_rng(11)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.3 * y + rng.random(200) * 0.7, 0, 1)
    out = classification_scores(torch.tensor(y), torch.tensor(p))
    pred = (p >= 0.5).astype(int)
    assert out["accuracy"] == pytest.approx(np.mean(pred == y))
    assert out["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert out["auroc"] == pytest.approx(roc_auc_score(y, p))
    assert out["auprc"] == pytest.approx(average_precision_score(y, p))


def test_multiclass_classification_vs_sklearn():
    rng = np.random.default_rng(12)
    y = rng.integers(0, 4, 300)
    logits = rng.normal(size=(300, 4)) + 1.5 * np.eye(4)[y]
    prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    out = classification_scores(y, prob)
    assert out["accuracy"] == pytest.approx(np.mean(prob.argmax(1) == y))
    assert out["macro_f1"] == pytest.approx(f1_score(y, prob.argmax(1), average="macro"))
    assert out["auroc"] == pytest.approx(roc_auc_score(y, prob, multi_class="ovr"))
    onehot = label_binarize(y, classes=range(4))
    assert out["auprc"] == pytest.approx(average_precision_score(onehot, prob, average="macro"))
    with pytest.raises(ValueError, match="softmax"):
        classification_scores(y, logits)


def test_absent_class_is_left_out_of_the_macro_average():
    rng = np.random.default_rng(13)
    y = rng.integers(0, 2, 100)  # classes 0 and 1 of 3
    score = rng.dirichlet(np.ones(3), size=100)
    out = classification_scores(y, score)
    expected = np.mean([roc_auc_score(y == c, score[:, c]) for c in (0, 1)])
    assert out["auroc"] == pytest.approx(expected)


def test_single_class_gives_nan_with_a_warning():
    with pytest.warns(UndefinedMetricWarning, match="single class"):
        out = classification_scores(np.ones(5, dtype=int), np.array([0.9, 0.8, 0.2, 0.7, 0.6]))
    assert out["accuracy"] == pytest.approx(0.8)
    assert math.isnan(out["auroc"]) and math.isnan(out["auprc"])
    with pytest.warns(UndefinedMetricWarning):
        multi = classification_scores(np.zeros(4, dtype=int), np.eye(3)[[0, 0, 1, 2]])
    assert math.isnan(multi["auroc"])


def test_classification_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="shape"):
            classification_scores(np.array([0, 1, 1]), np.array([0.2, 0.9]))
        with pytest.raises(ValueError, match="sigmoid"):
            classification_scores(np.array([0, 1]), np.array([-2.0, 3.0]))
        with pytest.raises(ValueError, match=r"in \[0, 3\)"):
            classification_scores(np.array([0, 3]), np.full((2, 3), 1 / 3))
        with pytest.raises(ValueError, match="NaN"):
            classification_scores(np.array([0, 1]), np.array([0.1, np.nan]))
        with pytest.raises(ValueError, match="empty"):
            classification_scores(np.array([], dtype=int), np.zeros(0))
        with pytest.raises(TypeError, match="integer class labels"):
            classification_scores(np.array([0.5, 1.0]), np.array([0.1, 0.9]))


# ----------------------------------------------------------------------------- summary


def test_mean_std_and_formatting():
    runs = [{"acc": 0.80, "f1": 0.5}, {"acc": 0.84, "f1": 0.7}, {"acc": 0.85, "f1": 0.6}]
    out = mean_std(runs)
    assert list(out) == ["acc", "f1"]
    assert out["acc"] == pytest.approx((0.83, np.std([0.80, 0.84, 0.85], ddof=1)))
    assert mean_std([{"acc": 0.7}]) == {"acc": (0.7, 0.0)}
    assert format_mean_std(0.8312, 0.0045, scale=100) == "83.12 ± 0.45"
    assert format_mean_std(1.5, 0.26, digits=1) == "1.5 ± 0.3"
    with pytest.raises(ValueError, match=r"missing \['f1'\]"):
        mean_std([{"acc": 0.8, "f1": 0.5}, {"acc": 0.8}])
    with pytest.raises(ValueError, match="empty"):
        mean_std([])
    with pytest.raises(TypeError, match="not a number"):
        mean_std([{"acc": "high"}])


def test_markdown_table_exact():
    rows = [{"method": "GRACE", "acc": 0.8312, "n": 3}, {"method": "a|b", "acc": float("nan")}]
    assert markdown_table(rows, ["method", "acc", "n"]) == (
        "| method | acc | n |\n|---|---|---|\n| GRACE | 0.8312 | 3 |\n| a\\|b | nan | - |"
    )


# ----------------------------------------------------------------------------- plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_metric_families_group_panels():
    assert metric_family("loss_cl") == metric_family("val_loss") == "loss"
    assert metric_family("val_NDCG@10") == metric_family("NDCG@20") == "NDCG"
    assert metric_family("lr") == "lr" and metric_family("val_accuracy") == "accuracy"


def test_plot_training_curves_writes_png(tmp_path):
    csv_path = tmp_path / "metrics.csv"
    csv_path.write_text(
        "epoch,step,split,name,value\n"
        "0,10,train,loss,2.0\n0,20,train,loss,1.5\n0,20,val,loss,1.7\n0,20,val,acc,0.5\n"
    )
    out = plot_training_curves(csv_path, tmp_path / "plots" / "loss.png")
    assert out.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError, match="no finite rows"):
        plot_training_curves(csv_path, tmp_path / "x.png", names=["recall"])
    (tmp_path / "bad.csv").write_text("epoch,name,value\n0,loss,1.0\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['step', 'split'\]"):
        plot_training_curves(tmp_path / "bad.csv", tmp_path / "y.png")


def test_plot_tsne_writes_png(tmp_path):
    x, y = blobs(120, 3, 8, spread=5.0, seed=14)
    out = plot_tsne(torch.tensor(x), torch.tensor(y), tmp_path / "tsne.png", max_points=60)
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert plot_tsne(x[:10], None, tmp_path / "small.png").read_bytes()[:8] == PNG_MAGIC
