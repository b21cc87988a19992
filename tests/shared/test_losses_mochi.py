"""MoCHi: synthetic negatives' structure, loss against a loop reference, closed form, errors."""

from __future__ import annotations

import math

import pytest
import torch

import shared.losses._checks as checks
from shared.losses import MoCHi, mochi
from shared.losses.mochi import mix_hard_negatives


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True)


def naive_mochi(q, k, queue, synthetic, t):
    """-log softmax of the positive over [key, queue, this query's synthetic negatives]."""
    q, k, queue = _unit(q), _unit(k), _unit(queue)
    total = 0.0
    for i in range(q.shape[0]):
        pos = torch.exp(torch.dot(q[i], k[i]) / t)
        denom = pos
        for m in range(queue.shape[0]):
            denom = denom + torch.exp(torch.dot(q[i], queue[m]) / t)
        for s in range(synthetic.shape[1]):
            denom = denom + torch.exp(torch.dot(q[i], synthetic[i, s]) / t)
        total = total - torch.log(pos / denom)
    return total / q.shape[0]


def _inputs(n=4, m=10, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return tuple(
        torch.randn(rows, d, generator=g, dtype=torch.float64, requires_grad=True)
        for rows in (n, n, m)
    )


def test_loss_matches_loop_reference_with_synthetic_negatives_as_constants():
    q, k, queue = _inputs()
    counts = dict(num_hard=4, num_mix=6, num_query_mix=3)
    synthetic = mix_hard_negatives(
        _unit(q), _unit(queue), **counts, generator=torch.Generator().manual_seed(5)
    )
    assert synthetic.shape == (4, 9, 5) and not synthetic.requires_grad
    got = mochi(q, k, queue, 0.2, **counts, generator=torch.Generator().manual_seed(5))
    want = naive_mochi(q, k, queue, synthetic, 0.2)
    torch.testing.assert_close(got, want)
    for g_got, g_want in zip(
        torch.autograd.grad(got, (q, k, queue)),
        torch.autograd.grad(want, (q, k, queue)),
        strict=True,
    ):
        torch.testing.assert_close(g_got, g_want)


def test_same_seed_same_loss_other_seed_other_loss():
    q, k, queue = _inputs(seed=1)
    module = MoCHi(0.2, num_hard=5, num_mix=4, num_query_mix=4)
    a = module(q, k, queue, torch.Generator().manual_seed(0))
    b = module(q, k, queue, torch.Generator().manual_seed(0))
    c = module(q, k, queue, torch.Generator().manual_seed(1))
    assert a.item() == b.item()
    assert abs(a.item() - c.item()) > 1e-9


def test_mixed_negatives_are_convex_mixes_of_the_hardest_queue_entries():
    # Queue = standard basis e_0..e_9 of R^10, so a mix of two entries has its support on
    # (at most) those two coordinates. The query ranks the entries by its coordinates.
    m, num_hard = 10, 3
    queue = torch.eye(m, dtype=torch.float64)
    weights = torch.tensor([0.1, 0.9, 0.3, 0.8, 0.2, 0.05, 0.7, 0.4, 0.15, 0.25])
    query = _unit(weights.double()[None])  # hardest three: 1, 3, 6
    synthetic = mix_hard_negatives(
        query, queue, num_hard, 50, 0, generator=torch.Generator().manual_seed(2)
    )[0]
    torch.testing.assert_close(synthetic.norm(dim=1), torch.ones(50, dtype=torch.float64))
    assert (synthetic >= 0).all()
    support = synthetic > 1e-12
    assert support.sum(dim=1).le(2).all()
    assert not support[:, [0, 2, 4, 5, 7, 8, 9]].any()
    assert support[:, [1, 3, 6]].any(dim=0).all()  # 50 draws reach every hard negative


def test_query_mixes_put_less_than_half_the_weight_on_the_query():
    # Queue = e_0..e_5; the query also has a coordinate (6) no queue entry has. Writing
    # h' = lam * (beta * q + (1 - beta) * e_c): lam*beta = h'_6 / q_6, and the residual
    # h' - lam*beta*q = lam*(1-beta)*e_c is a single hard queue entry.
    queue = torch.eye(6, 7, dtype=torch.float64)
    query = _unit(torch.tensor([[0.2, 0.6, 0.1, 0.5, 0.3, 0.05, 1.0]], dtype=torch.float64))
    synthetic = mix_hard_negatives(
        query, queue, 2, 0, 200, generator=torch.Generator().manual_seed(3)
    )[0]
    lam_beta = synthetic[:, 6] / query[0, 6]
    residual = synthetic - lam_beta[:, None] * query[0]
    lam_one_minus_beta = residual.sum(dim=1)
    assert (residual.abs() > 1e-12).sum(dim=1).eq(1).all()
    assert not (residual[:, [0, 2, 4, 5, 6]].abs() > 1e-12).any()  # only entries 1 and 3
    beta = lam_beta / (lam_beta + lam_one_minus_beta)
    assert (beta > 0).all() and (beta < 0.5).all()
    assert beta.max() > 0.4 and beta.min() < 0.1  # spread over (0, 0.5), not a constant


@pytest.mark.parametrize("t", [0.1, 0.5])
def test_orthogonal_closed_form(t):
    # q_i = k_i = e_i and queue entries orthogonal to every query: each queue entry and each
    # mix of two of them has logit 0, so l = -log(e^{1/t} / (e^{1/t} + M + s)).
    n, m, s = 3, 4, 5
    basis = torch.eye(n + m, dtype=torch.float64)
    q, queue = basis[:n], basis[n:]
    got = mochi(q, q, queue, t, num_hard=3, num_mix=s, num_query_mix=0)
    e = math.exp(1 / t)
    assert got.item() == pytest.approx(-math.log(e / (e + m + s)), rel=1e-12)


def test_no_mixing_is_plain_moco_infonce():
    q, k, queue = _inputs(seed=4)
    got = mochi(q, k, queue, 0.3, num_hard=1, num_mix=0, num_query_mix=0)
    empty = torch.zeros(4, 0, 5, dtype=torch.float64)
    torch.testing.assert_close(got, naive_mochi(q, k, queue, empty, 0.3))


def test_float32_runs_and_matches_float64():
    q, k, queue = _inputs(seed=6)
    args = dict(num_hard=3, num_mix=2, num_query_mix=2)
    f64 = mochi(q, k, queue, **args, generator=torch.Generator().manual_seed(0))
    f32 = mochi(
        q.detach().float(),
        k.detach().float(),
        queue.detach().float(),
        **args,
        generator=torch.Generator().manual_seed(0),
    )
    assert f32.item() == pytest.approx(f64.item(), abs=1e-5)


def test_rejects_bad_input(monkeypatch):
    monkeypatch.setattr(checks, "CHECK_VALUES", True)  # the NaN case
    q, k, queue = torch.randn(4, 5), torch.randn(4, 5), torch.randn(10, 5)
    with pytest.raises(ValueError, match=r"num_hard \(11\) exceeds the queue size \(10\)"):
        mochi(q, k, queue, num_hard=11, num_mix=1, num_query_mix=1)
    with pytest.raises(ValueError, match="num_hard must be >= 1"):
        mochi(q, k, queue, num_hard=0)
    with pytest.raises(ValueError, match="num_mix and num_query_mix must be >= 0"):
        MoCHi(num_hard=2, num_mix=-1)
    with pytest.raises(ValueError, match="query and key must have the same shape"):
        mochi(q, torch.randn(3, 5), queue, num_hard=2)
    with pytest.raises(ValueError, match="query and queue must share the embedding size"):
        mochi(q, k, torch.randn(10, 4), num_hard=2)
    with pytest.raises(ValueError, match="queue contains NaN"):
        mochi(q, k, torch.full((10, 5), float("nan")), num_hard=2)
    with pytest.raises(ValueError, match="queue has 0 row"):
        mochi(q, k, torch.randn(0, 5), num_hard=2)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        mochi(q, k, queue, 0.0, num_hard=2)
