"""CACR against explicit loops and closed forms."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import shared.losses._checks as checks
from shared.losses.cacr import CACR, cacr


def sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    total = 0.0
    for dim in range(a.shape[0]):
        total = total + (a[dim] - b[dim]) ** 2
    return total


def weighted_mean(costs: list, temperature: float) -> torch.Tensor:
    """sum_c softmax(temperature * cost)_c * cost_c, written out."""
    weights = [torch.exp(temperature * c) for c in costs]
    norm = sum(weights)
    return sum(w / norm * c for w, c in zip(weights, costs, strict=True))


def naive_cacr(views, tau_pos, tau_neg, alpha, beta):
    z = F.normalize(views, dim=-1)
    n_views, n, _ = z.shape
    attraction = 0.0
    for x in range(n_views):
        for i in range(n):
            costs = [sq_dist(z[x, i], z[v, i]) for v in range(n_views) if v != x]
            attraction = attraction + weighted_mean(costs, tau_pos) / (n * n_views)
    pairs = [(x, y) for x in range(n_views) for y in range(x + 1, n_views)]
    repulsion = 0.0
    for x, y in pairs:
        for i in range(n):
            costs = [sq_dist(z[x, i], z[y, j]) for j in range(n) if j != i]
            repulsion = repulsion + weighted_mean(costs, -tau_neg) / (n * len(pairs))
    return alpha * attraction - beta * repulsion


@pytest.mark.parametrize(
    ("n_views", "n", "d", "tau_pos", "tau_neg", "alpha", "beta"),
    [(2, 5, 3, 1.0, 1.0, 1.0, 1.0), (3, 4, 4, 2.0, 0.5, 1.0, 0.7), (4, 3, 2, 0.3, 3.0, 2.0, 1.0)],
)
def test_matches_loop_reference_values_and_gradients(n_views, n, d, tau_pos, tau_neg, alpha, beta):
    gen = torch.Generator().manual_seed(n_views)
    base = torch.randn(n_views, n, d, generator=gen, dtype=torch.float64)
    x = base.clone().requires_grad_(True)
    y = base.clone().requires_grad_(True)
    got = cacr(x, tau_pos, tau_neg, alpha=alpha, beta=beta)
    want = naive_cacr(y, tau_pos, tau_neg, alpha, beta)
    got.backward()
    want.backward()
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-8, atol=1e-10)


def test_identical_orthogonal_views_closed_form():
    # Positives coincide (attraction 0); every negative is at squared distance 2.
    views = torch.eye(5, 6, dtype=torch.float64).expand(2, 5, 6)
    assert cacr(views, beta=0.8).item() == pytest.approx(-2 * 0.8, abs=1e-12)


@pytest.mark.parametrize("tau_pos", [0.0, 0.5, 2.0])
def test_three_views_with_an_antipodal_view_closed_form(tau_pos):
    # views e_i, e_i, -e_i. Query view 0 (and 1): positives at cost 0 and 4, weighted
    # 4 e^{4t} / (1 + e^{4t}); query view 2: both positives at cost 4. Negatives: all at cost 2.
    e = torch.eye(4, dtype=torch.float64)
    views = torch.stack([e, e, -e])
    far = 4 * math.exp(4 * tau_pos) / (1 + math.exp(4 * tau_pos))
    expected = 1.5 * (2 * far + 4) / 3 - 2 * 0.5
    got = cacr(views, tau_pos, 1.0, alpha=1.5, beta=0.5)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_zero_temperatures_give_uniform_weights():
    gen = torch.Generator().manual_seed(9)
    z = F.normalize(torch.randn(3, 6, 4, generator=gen, dtype=torch.float64), dim=-1)
    attraction = torch.stack(
        [(z[x] - z[v]).pow(2).sum(-1).mean() for x in range(3) for v in range(3) if v != x]
    ).mean()
    off = ~torch.eye(6, dtype=torch.bool)
    repulsion = torch.stack(
        [torch.cdist(z[x], z[y]).pow(2)[off].mean() for x, y in [(0, 1), (0, 2), (1, 2)]]
    ).mean()
    torch.testing.assert_close(cacr(z, 0.0, 0.0), attraction - repulsion)


def test_repulsion_weights_favour_near_negatives():
    # A larger t- concentrates the repulsion on the nearest negatives, so the weighted repulsive
    # cost shrinks and the loss grows (towards alpha*A - beta*min cost).
    gen = torch.Generator().manual_seed(10)
    z = torch.randn(2, 8, 3, generator=gen, dtype=torch.float64)
    losses = [cacr(z, 1.0, t).item() for t in (0.0, 1.0, 5.0, 50.0)]
    assert losses == sorted(losses)
    assert losses[0] < losses[-1] - 1e-3


def test_module_matches_functional():
    z = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(11))
    module = CACR(0.5, 2.0, alpha=1.2, beta=0.9)
    torch.testing.assert_close(module(z), cacr(z, 0.5, 2.0, alpha=1.2, beta=0.9))


def test_normalize_false_uses_raw_embeddings():
    z = torch.eye(3, dtype=torch.float64).expand(2, 3, 3) * 3.0
    # negatives at squared distance 9 + 9 = 18, positives coincide
    assert cacr(z, normalize=False).item() == pytest.approx(-18.0)


@pytest.mark.parametrize(
    ("views", "kwargs", "match"),
    [
        (torch.randn(4, 3), {}, r"views must have shape \(V, N, d\)"),
        (torch.randn(1, 4, 3), {}, "views has 1 view"),
        (torch.randn(2, 1, 3), {}, r"views\[0\] has 1 row"),
        (torch.full((2, 3, 2), float("nan")), {}, "NaN or inf"),
        (torch.randn(2, 3, 2), {"tau_pos": -1.0}, "tau_pos must be a finite number >= 0"),
        (torch.randn(2, 3, 2), {"tau_neg": float("inf")}, "tau_neg must be a finite number >= 0"),
        (torch.randn(2, 3, 2), {"beta": -0.1}, "beta must be a finite number >= 0"),
    ],
)
def test_bad_input(views, kwargs, match, monkeypatch):
    monkeypatch.setattr(checks, "CHECK_VALUES", True)  # the NaN case
    with pytest.raises(ValueError, match=match):
        cacr(views, **kwargs)


def test_module_bad_arguments():
    with pytest.raises(ValueError, match="alpha must be a finite number >= 0"):
        CACR(alpha=-1.0)
