"""DCL / DCL-W against a plain loop reference, closed forms and bad input."""

from __future__ import annotations

import math

import pytest
import torch

import shared.losses._checks as checks
from shared.losses import DCL, DCLW, dcl, dcl_w, info_nce


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True)


def naive_dcl(z1, z2, t, sigma=None):
    """Anchor by anchor: -w_i <a_i, b_i>/t + log(sum of exp over the 2N-2 negatives)."""
    z1, z2 = _unit(z1), _unit(z2)
    n = z1.shape[0]
    weights = [1.0] * n
    if sigma is not None:
        a, b = z1.detach(), z2.detach()
        mean_exp = sum(torch.exp(torch.dot(a[k], b[k]) / sigma) for k in range(n)) / n
        weights = [2 - torch.exp(torch.dot(a[i], b[i]) / sigma) / mean_exp for i in range(n)]

    def one_direction(a, b):
        total = 0.0
        for i in range(n):
            negatives = 0.0
            for j in range(n):
                if j != i:
                    negatives = negatives + torch.exp(torch.dot(a[i], b[j]) / t)
                    negatives = negatives + torch.exp(torch.dot(a[i], a[j]) / t)
            total = total - weights[i] * torch.dot(a[i], b[i]) / t + torch.log(negatives)
        return total / n

    return 0.5 * (one_direction(z1, z2) + one_direction(z2, z1))


def _views(n=6, d=4, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=dtype, requires_grad=True)
    z2 = torch.randn(n, d, generator=g, dtype=dtype, requires_grad=True)
    return z1, z2


@pytest.mark.parametrize("sigma", [None, 0.5, 2.0])
@pytest.mark.parametrize("t", [0.1, 0.7])
def test_matches_loop_reference_values_and_gradients(sigma, t):
    z1, z2 = _views(seed=1)
    got = dcl(z1, z2, t) if sigma is None else dcl_w(z1, z2, t, sigma)
    want = naive_dcl(z1, z2, t, sigma)
    torch.testing.assert_close(got, want)
    got_grads = torch.autograd.grad(got, (z1, z2))
    want_grads = torch.autograd.grad(want, (z1, z2))
    for g_got, g_want in zip(got_grads, want_grads, strict=True):
        torch.testing.assert_close(g_got, g_want)


def test_float32_close_to_float64_reference():
    z1, z2 = _views(seed=2)
    a, b = z1.detach().float().requires_grad_(), z2.detach().float().requires_grad_()
    got = dcl_w(a, b, 0.2)
    want = naive_dcl(z1, z2, 0.2, 0.5)
    assert got.item() == pytest.approx(want.item(), abs=1e-5)
    for g_got, g_want in zip(
        torch.autograd.grad(got, (a, b)), torch.autograd.grad(want, (z1, z2)), strict=True
    ):
        torch.testing.assert_close(g_got.double(), g_want, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("t", [0.1, 0.5])
@pytest.mark.parametrize("n", [2, 5])
def test_orthonormal_closed_form(t, n):
    # Both views are the same N orthonormal vectors: the positive logit is 1/t and the 2N-2
    # negatives have logit 0, so l = -1/t + log(2(N-1)). Every positive similarity is equal,
    # so the vMF weight is 1 and DCL-W gives the same value.
    z = torch.eye(n, n + 2, dtype=torch.float64)
    expected = -1 / t + math.log(2 * (n - 1))
    assert dcl(z, z, t).item() == pytest.approx(expected, rel=1e-12)
    assert dcl_w(z, z, t, 0.5).item() == pytest.approx(expected, rel=1e-12)


def test_dcl_is_ntxent_without_the_positive_in_the_denominator():
    # NT-Xent - DCL = mean over anchors and directions of log(1 + exp(pos) / negatives) > 0.
    z1, z2 = _views(seed=3)
    a, b = _unit(z1), _unit(z2)
    t = 0.3
    gap = 0.0
    for x, y in ((a, b), (b, a)):
        logits = torch.cat([x @ y.T, x @ x.T], dim=1) / t
        self_pairs = torch.eye(6, dtype=torch.bool).repeat(1, 2)
        neg = torch.logsumexp(logits.masked_fill(self_pairs, float("-inf")), dim=1)
        gap = gap + 0.5 * torch.log1p(torch.exp((x * y).sum(1) / t - neg)).mean()
    torch.testing.assert_close(info_nce(z1, z2, t) - dcl(z1, z2, t), gap)


def test_dclw_minus_dcl_is_the_reweighted_positive_term():
    # Only the positive term changes: DCL-W - DCL = mean_i (1 - w_i) <a_i, b_i> / t, and the
    # easiest positive (identical views) gets the smallest weight, below 1.
    z1, z2 = _views(n=5, seed=4)
    z2 = z2.detach().clone()
    z2[0] = z1[0].detach()
    t, sigma = 0.3, 0.5
    pos = (_unit(z1) * _unit(z2)).sum(dim=1).detach()
    w = 2 - torch.exp(pos / sigma) / torch.exp(pos / sigma).mean()
    assert w.argmin() == 0 and w[0] < 1
    torch.testing.assert_close(dcl_w(z1, z2, t, sigma) - dcl(z1, z2, t), ((1 - w) * pos / t).mean())


def test_modules_match_functions():
    z1, z2 = _views(seed=5)
    torch.testing.assert_close(DCL(0.2)(z1, z2), dcl(z1, z2, 0.2))
    torch.testing.assert_close(DCLW(0.2, 0.7)(z1, z2), dcl_w(z1, z2, 0.2, 0.7))
    assert "sigma=0.7" in repr(DCLW(0.2, 0.7))


@pytest.mark.parametrize(
    ("z1", "z2", "message"),
    [
        (torch.randn(4, 3), torch.randn(3, 3), "same shape"),
        (torch.randn(1, 3), torch.randn(1, 3), "at least 2"),
        (torch.full((3, 2), float("nan")), torch.randn(3, 2), "NaN"),
    ],
)
def test_rejects_bad_views(z1, z2, message, monkeypatch):
    monkeypatch.setattr(checks, "CHECK_VALUES", True)  # the NaN case
    with pytest.raises(ValueError, match=message):
        dcl(z1, z2)
    with pytest.raises(ValueError, match=message):
        dcl_w(z1, z2)


def test_rejects_bad_temperature_and_sigma():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        dcl(z, z, 0.0)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        dcl_w(z, z, 0.1, -0.5)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        DCLW(0.1, 0.0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        DCL(-1.0)
