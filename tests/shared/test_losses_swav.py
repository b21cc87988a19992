"""SwAV: Sinkhorn-Knopp codes and the swapped-prediction loss against explicit loops."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import shared.losses._checks as checks
from shared.losses.swav import SwAV, sinkhorn_knopp, swav


def naive_sinkhorn(scores: torch.Tensor, epsilon: float, n_iters: int) -> torch.Tensor:
    """The paper's K x B iteration written with loops: rows (prototypes) to 1/K, columns to 1/B."""
    b, k = scores.shape
    q = [[math.exp(scores[s, p].item() / epsilon) for s in range(b)] for p in range(k)]
    total = sum(sum(row) for row in q)
    q = [[v / total for v in row] for row in q]
    for _ in range(n_iters):
        for p in range(k):
            row_sum = sum(q[p])
            q[p] = [v / row_sum / k for v in q[p]]
        for s in range(b):
            col_sum = sum(q[p][s] for p in range(k))
            for p in range(k):
                q[p][s] = q[p][s] / col_sum / b
    return torch.tensor([[q[p][s] * b for p in range(k)] for s in range(b)], dtype=scores.dtype)


def naive_swav_loss(scores, temperature, n_global, epsilon, n_iters):
    n_views, b, k = scores.shape
    total = 0.0
    for g in range(n_global):
        codes = naive_sinkhorn(scores[g].detach(), epsilon, n_iters)
        sub = 0.0
        for v in range(n_views):
            if v == g:
                continue
            for s in range(b):
                log_z = torch.log(sum(torch.exp(scores[v, s, p] / temperature) for p in range(k)))
                for p in range(k):
                    sub = sub - codes[s, p] * (scores[v, s, p] / temperature - log_z) / b
        total = total + sub / (n_views - 1)
    return total / n_global


def cosine_scores(*shape: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1


def test_sinkhorn_matches_loop_reference():
    scores = cosine_scores(6, 4, seed=0)
    torch.testing.assert_close(sinkhorn_knopp(scores, 0.05, 3), naive_sinkhorn(scores, 0.05, 3))


@pytest.mark.parametrize(("b", "k", "n_iters"), [(8, 4, 1), (5, 7, 3), (12, 3, 10)])
def test_sinkhorn_codes_are_distributions_per_sample(b, k, n_iters):
    q = sinkhorn_knopp(cosine_scores(b, k, seed=b), 0.05, n_iters)
    assert (q >= 0).all()
    torch.testing.assert_close(q.sum(dim=1), torch.ones(b, dtype=q.dtype))


@pytest.mark.parametrize(("b", "k"), [(8, 4), (6, 9), (30, 5)])
def test_sinkhorn_converges_to_equipartition(b, k):
    q = sinkhorn_knopp(cosine_scores(b, k, seed=k), 0.1, 2000)
    torch.testing.assert_close(q.sum(dim=1), torch.ones(b, dtype=q.dtype))
    torch.testing.assert_close(q.sum(dim=0), torch.full((k,), b / k, dtype=q.dtype))


def test_sinkhorn_few_iterations_are_not_yet_equipartitioned():
    q = sinkhorn_knopp(cosine_scores(8, 4, seed=1), 0.05, 1)
    assert (q.sum(dim=0) - 2.0).abs().max() > 1e-3


def test_sinkhorn_is_a_diagonal_scaling_of_the_gibbs_kernel():
    # Q = diag(u) exp(S/eps) diag(v): log Q - S/eps = a_b + c_k, so every 2x2 "interaction" is 0.
    scores = cosine_scores(7, 5, seed=2)
    residual = torch.log(sinkhorn_knopp(scores, 0.05, 3)) - scores / 0.05
    interaction = residual - residual[:, :1] - residual[:1, :] + residual[:1, :1]
    torch.testing.assert_close(interaction, torch.zeros_like(interaction), atol=1e-8, rtol=0)


def test_sinkhorn_has_no_gradient_and_is_shift_invariant_without_overflow():
    scores = cosine_scores(6, 4, seed=3).requires_grad_(True)
    q = sinkhorn_knopp(scores)
    assert not q.requires_grad
    shifted = sinkhorn_knopp(scores.detach() + 40.0)  # exp(800 + ...) would overflow unshifted
    assert torch.isfinite(shifted).all()
    torch.testing.assert_close(shifted, q)


def test_sinkhorn_keeps_half_precision_dtype():
    q = sinkhorn_knopp(cosine_scores(6, 4, seed=4).to(torch.bfloat16))
    assert q.dtype == torch.bfloat16
    assert torch.isfinite(q.float()).all()


@pytest.mark.parametrize(("n_views", "n_global"), [(2, 2), (4, 2), (3, 1)])
def test_swav_loss_matches_loop_reference_values_and_gradients(n_views, n_global):
    base = cosine_scores(n_views, 5, 3, seed=n_views)
    x = base.clone().requires_grad_(True)
    y = base.clone().requires_grad_(True)
    got = swav(x, 0.1, n_global=n_global, epsilon=0.05, n_iters=3)
    want = naive_swav_loss(y, 0.1, n_global, 0.05, 3)
    got.backward()
    want.backward()
    torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-10)
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-9, atol=1e-10)


def test_swav_loss_of_constant_scores_is_log_k():
    # Uniform codes and uniform predictions: cross-entropy of two uniform distributions = log K.
    k = 6
    loss = swav(torch.full((4, 5, k), 0.3), n_global=2)
    assert loss.item() == pytest.approx(math.log(k), rel=1e-6)


def test_swav_loss_ignores_codes_of_local_crops():
    # Changing a local crop (index >= n_global) only changes what is predicted, never the codes:
    # with n_global=1 and V=2 the loss is the cross-entropy from the codes of view 0 alone.
    scores = cosine_scores(2, 5, 4, seed=5)
    codes = sinkhorn_knopp(scores[0])
    expected = -(codes * F.log_softmax(scores[1] / 0.1, dim=1)).sum(dim=1).mean()
    torch.testing.assert_close(swav(scores, n_global=1), expected)


def test_swav_module_normalizes_prototypes_and_matches_functional():
    torch.manual_seed(0)
    head = SwAV(dim=4, n_prototypes=6, temperature=0.1, n_global=2)
    with torch.no_grad():
        head.prototypes.weight.mul_(3.0)  # as after an optimiser step
    views = torch.randn(3, 5, 4)
    loss = head(views)
    torch.testing.assert_close(head.prototypes.weight.norm(dim=1), torch.ones(6))
    scores = F.normalize(views, dim=-1) @ head.prototypes.weight.T
    torch.testing.assert_close(loss, swav(scores, 0.1, n_global=2))
    loss.backward()
    assert head.prototypes.weight.grad is not None
    assert head.prototypes.weight.grad.abs().sum() > 0


def test_swav_module_leaves_prototypes_alone_in_eval_mode():
    head = SwAV(dim=3, n_prototypes=4).eval()
    with torch.no_grad():
        head.prototypes.weight.mul_(2.0)
    head(torch.randn(2, 4, 3))
    torch.testing.assert_close(head.prototypes.weight.norm(dim=1), torch.full((4,), 2.0))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scores": torch.randn(5, 3)}, r"scores must have shape \(V, N, d\)"),
        ({"scores": torch.randn(1, 5, 3)}, "scores has 1 view"),
        ({"scores": torch.randn(3, 5, 3), "n_global": 0}, "n_global must be a positive int"),
        ({"scores": torch.randn(3, 5, 3), "n_global": 4}, "n_global must be at most .* views 3"),
        ({"scores": torch.randn(2, 5, 3), "temperature": 0.0}, "temperature must be > 0"),
        ({"scores": torch.randn(2, 5, 3), "epsilon": -1.0}, "epsilon must be > 0"),
        ({"scores": torch.randn(2, 5, 3), "n_iters": 0}, "n_iters must be a positive int"),
    ],
)
def test_swav_loss_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        swav(**kwargs)


def test_sinkhorn_bad_input(monkeypatch):
    monkeypatch.setattr(checks, "CHECK_VALUES", True)  # the NaN case
    with pytest.raises(ValueError, match=r"scores must have shape \(N, d\)"):
        sinkhorn_knopp(torch.randn(2, 3, 4))
    with pytest.raises(ValueError, match="NaN or inf"):
        sinkhorn_knopp(torch.tensor([[0.1, float("inf")]]))
    with pytest.raises(ValueError, match="n_iters must be a positive int"):
        sinkhorn_knopp(torch.randn(3, 2), n_iters=2.5)
    with pytest.raises(ValueError, match="dim and n_prototypes must be >= 1"):
        SwAV(dim=0, n_prototypes=3)
    with pytest.raises(ValueError, match="n_global must be a positive int"):
        SwAV(dim=2, n_prototypes=3, n_global=0)
