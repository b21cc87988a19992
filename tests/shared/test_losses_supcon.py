"""SupCon against a plain loop reference, closed forms, SimCLR equivalence and bad input."""

from __future__ import annotations

import math

import pytest
import torch

import shared.losses._checks as checks
from shared.losses import SupCon, info_nce, supcon


def naive_supcon(features, labels, t, base_t):
    """Khosla et al. Eq. 2 anchor by anchor over all N*V views; anchors with no positive skipped."""
    n, v, _ = features.shape
    views = [features[i, a] / features[i, a].norm() for a in range(v) for i in range(n)]
    tags = [labels[i].item() if labels is not None else i for _ in range(v) for i in range(n)]
    losses = []
    for i, anchor in enumerate(views):
        denom = 0.0
        for k, other in enumerate(views):
            if k != i:
                denom = denom + torch.exp(torch.dot(anchor, other) / t)
        positives = [p for p in range(len(views)) if p != i and tags[p] == tags[i]]
        if not positives:
            continue
        acc = 0.0
        for p in positives:
            acc = acc + torch.log(torch.exp(torch.dot(anchor, views[p]) / t) / denom)
        losses.append(-(t / base_t) * acc / len(positives))
    return sum(losses) / len(losses)


def _features(n=6, v=2, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, v, d, generator=g, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize(
    ("views", "labels"),
    [
        (2, None),
        (3, None),
        (2, [0, 1, 0, 2, 1, 0]),
        (3, [1, 1, 1, 0, 0, 2]),
        (1, [0, 1, 0, 2, 1, 0]),  # one view: sample 3 (label 2) has no positive and is skipped
    ],
)
def test_matches_loop_reference_values_and_gradients(views, labels):
    features = _features(v=views, seed=views)
    label_tensor = None if labels is None else torch.tensor(labels)
    got = supcon(features, label_tensor, 0.2, 0.1)
    want = naive_supcon(features, label_tensor, 0.2, 0.1)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(
        torch.autograd.grad(got, features)[0], torch.autograd.grad(want, features)[0]
    )


def test_without_labels_two_views_is_ntxent():
    features = _features(seed=11)
    torch.testing.assert_close(
        supcon(features, None, 0.3, 0.3), info_nce(features[:, 0], features[:, 1], 0.3)
    )


def test_labels_all_distinct_equal_no_labels():
    features = _features(v=3, seed=12)
    torch.testing.assert_close(supcon(features, torch.arange(6) * 7), supcon(features, None))


@pytest.mark.parametrize(("classes", "per_class", "views"), [(3, 2, 2), (2, 3, 3), (4, 1, 2)])
def test_clustered_closed_form(classes, per_class, views):
    # Every view of every sample of class c is the unit vector e_c. For each anchor the
    # P = m*V - 1 positives have logit 1/t and the (K-1)*m*V negatives logit 0:
    # l = -(t/t_b) * (1/t - log(P e^{1/t} + (K-1) m V)).
    t, base_t = 0.2, 0.07
    labels = torch.arange(classes).repeat_interleave(per_class)
    features = torch.eye(classes, 5, dtype=torch.float64)[labels][:, None, :].repeat(1, views, 1)
    pos = per_class * views - 1
    neg = (classes - 1) * per_class * views
    expected = -(t / base_t) * (1 / t - math.log(pos * math.exp(1 / t) + neg))
    assert supcon(features, labels, t, base_t).item() == pytest.approx(expected, rel=1e-12)


def test_base_temperature_scales_the_loss():
    features = _features(seed=13)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    torch.testing.assert_close(
        supcon(features, labels, 0.1, 0.05), 2 * supcon(features, labels, 0.1, 0.1)
    )


def test_module_matches_function_and_float32():
    features = _features(seed=14)
    labels = torch.tensor([0, 1, 1, 0, 2, 2])
    module = SupCon(0.1, 0.07)
    torch.testing.assert_close(module(features, labels), supcon(features, labels, 0.1, 0.07))
    f32 = features.detach().float()
    assert module(f32, labels).item() == pytest.approx(module(features, labels).item(), abs=1e-5)


@pytest.mark.parametrize(
    ("features", "labels", "message"),
    [
        (torch.randn(4, 3), None, r"shape \(N, V, d\)"),
        (torch.randn(4, 2, 3), torch.tensor([0, 1, 0]), r"labels must have shape \(4,\)"),
        (torch.randn(4, 2, 3), torch.zeros(4, 1), r"labels must have shape \(4,\)"),
        (torch.randn(4, 1, 3), None, "at least 2 views"),
        (torch.full((3, 2, 2), float("nan")), None, "NaN"),
        (torch.randn(4, 1, 3), torch.tensor([0, 1, 2, 3]), "no anchor has a positive"),
    ],
)
def test_rejects_bad_input(features, labels, message, monkeypatch):
    monkeypatch.setattr(checks, "CHECK_VALUES", True)  # the NaN case
    with pytest.raises(ValueError, match=message):
        supcon(features, labels)


def test_rejects_bad_temperatures():
    features = torch.randn(4, 2, 3)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        supcon(features, None, 0.0)
    with pytest.raises(ValueError, match="base_temperature must be > 0"):
        supcon(features, None, 0.1, -1.0)
    with pytest.raises(ValueError, match="base_temperature must be > 0"):
        SupCon(0.1, 0.0)
