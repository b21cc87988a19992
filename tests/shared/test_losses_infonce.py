"""info_nce / weighted_info_nce against plain loop references, closed forms and bad input."""

from __future__ import annotations

import math

import pytest
import torch

import shared.losses._checks as checks
from shared.losses import InfoNCE, WeightedInfoNCE, info_nce, weighted_info_nce


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True)


def naive_info_nce(z1, z2, t, intra=True, symmetric=True, extra=None):
    """NT-Xent written anchor by anchor: -log(exp(pos) / sum over positive and negatives)."""

    def one_direction(a, b):
        n = a.shape[0]
        total = 0.0
        for i in range(n):
            pos = torch.exp(torch.dot(a[i], b[i]) / t)
            denom = pos
            for j in range(n):
                if j != i:
                    denom = denom + torch.exp(torch.dot(a[i], b[j]) / t)
                    if intra:
                        denom = denom + torch.exp(torch.dot(a[i], a[j]) / t)
            if extra is not None:
                for m in range(extra.shape[0]):
                    denom = denom + torch.exp(torch.dot(a[i], extra[m]) / t)
            total = total - torch.log(pos / denom)
        return total / n

    z1, z2 = _unit(z1), _unit(z2)
    extra = None if extra is None else _unit(extra)
    loss = one_direction(z1, z2)
    if symmetric:
        loss = 0.5 * (loss + one_direction(z2, z1))
    return loss


def naive_weighted(anchor, candidates, p, w, t):
    anchor, candidates = _unit(anchor), _unit(candidates)
    losses = []
    for i in range(anchor.shape[0]):
        if p[i].sum() == 0:
            continue
        denom = 0.0
        for k in range(candidates.shape[0]):
            d = 1.0 if p[i, k] > 0 else w[i, k]
            denom = denom + d * torch.exp(torch.dot(anchor[i], candidates[k]) / t)
        acc = 0.0
        for j in range(candidates.shape[0]):
            if p[i, j] > 0:
                s = torch.dot(anchor[i], candidates[j]) / t
                acc = acc + p[i, j] * (s - torch.log(denom))
        losses.append(-acc / p[i].sum())
    return sum(losses) / len(losses)


def _views(n=6, d=4, seed=0, extra=0):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    q = torch.randn(extra, d, generator=g, dtype=torch.float64, requires_grad=True)
    return z1, z2, q


def _grads(loss, inputs):
    return torch.autograd.grad(loss, inputs)


@pytest.mark.parametrize("intra", [True, False])
@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("with_extra", [True, False])
def test_info_nce_matches_loop_reference(intra, symmetric, with_extra):
    z1, z2, q = _views(extra=5)
    extra = q if with_extra else None
    inputs = (z1, z2, q) if with_extra else (z1, z2)
    got = info_nce(
        z1, z2, 0.3, intra_view_negatives=intra, symmetric=symmetric, extra_negatives=extra
    )
    want = naive_info_nce(z1, z2, 0.3, intra, symmetric, extra)
    torch.testing.assert_close(got, want)
    for g_got, g_want in zip(_grads(got, inputs), _grads(want, inputs), strict=True):
        torch.testing.assert_close(g_got, g_want)


@pytest.mark.parametrize("t", [0.1, 0.5, 2.0])
@pytest.mark.parametrize("n", [2, 5])
def test_info_nce_orthonormal_closed_form(t, n):
    # Both views are the same N orthonormal vectors: the positive logit is 1/t, every negative
    # logit is 0, so l = -log(e^{1/t} / (e^{1/t} + K)) with K = 2(N-1) negatives (N-1 without
    # intra-view negatives, plus M for M extra negatives orthogonal to all of them).
    z = torch.eye(n, n + 3, dtype=torch.float64)
    extra = torch.eye(n + 3, dtype=torch.float64)[n:]  # 3 vectors orthogonal to every z_i
    e = math.exp(1 / t)
    expected = {
        "ntxent": -math.log(e / (e + 2 * (n - 1))),
        "cross": -math.log(e / (e + (n - 1))),
        "queue": -math.log(e / (e + 2 * (n - 1) + 3)),
    }
    assert info_nce(z, z, t).item() == pytest.approx(expected["ntxent"], rel=1e-12)
    got_cross = info_nce(z, z, t, intra_view_negatives=False).item()
    assert got_cross == pytest.approx(expected["cross"], rel=1e-12)
    got_queue = info_nce(z, z, t, extra_negatives=extra).item()
    assert got_queue == pytest.approx(expected["queue"], rel=1e-12)


def test_symmetric_is_mean_of_both_directions_and_differs_from_one():
    z1, z2, _ = _views(seed=3)
    forward = info_nce(z1, z2, 0.2, symmetric=False)
    backward = info_nce(z2, z1, 0.2, symmetric=False)
    both = info_nce(z1, z2, 0.2)
    torch.testing.assert_close(both, 0.5 * (forward + backward))
    assert abs(forward.item() - backward.item()) > 1e-6


def test_normalize_makes_loss_scale_invariant_and_off_uses_raw_dot_products():
    z1, z2, _ = _views(seed=4)
    torch.testing.assert_close(info_nce(z1, z2, 0.5), info_nce(3 * z1, 0.5 * z2, 0.5))
    raw = info_nce(z1, z2, 0.5, normalize=False)
    assert abs(raw.item() - info_nce(z1, z2, 0.5).item()) > 1e-3


def test_module_matches_function():
    z1, z2, q = _views(seed=5, extra=3)
    module = InfoNCE(0.2, intra_view_negatives=False, symmetric=False)
    torch.testing.assert_close(
        module(z1, z2, q),
        info_nce(z1, z2, 0.2, intra_view_negatives=False, symmetric=False, extra_negatives=q),
    )


def test_float32_gradients_match_float64_reference():
    z1, z2, _ = _views(seed=6)
    a, b = z1.detach().float().requires_grad_(), z2.detach().float().requires_grad_()
    got = _grads(info_nce(a, b, 0.1), (a, b))
    want = _grads(naive_info_nce(z1, z2, 0.1), (z1, z2))
    for g_got, g_want in zip(got, want, strict=True):
        torch.testing.assert_close(g_got.double(), g_want, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("z1", "z2", "t", "message"),
    [
        (torch.randn(4, 3), torch.randn(5, 3), 0.1, "same shape"),
        (torch.randn(4, 3), torch.randn(4, 2), 0.1, "same shape"),
        (torch.randn(1, 3), torch.randn(1, 3), 0.1, "at least 2"),
        (torch.randn(4), torch.randn(4), 0.1, r"shape \(N, d\) or \(\.\.\., N, d\)"),
        (torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), torch.randn(2, 2), 0.1, "NaN"),
        (torch.randn(4, 3), torch.tensor([[float("inf")] * 3] * 4), 0.1, "NaN or inf"),
        (torch.randn(4, 3), torch.randn(4, 3), 0.0, "temperature must be > 0"),
        (torch.randn(4, 3), torch.randn(4, 3), -1.0, "temperature must be > 0"),
        (torch.ones(4, 3, dtype=torch.long), torch.ones(4, 3, dtype=torch.long), 0.1, "floating"),
    ],
)
def test_info_nce_rejects_bad_input(z1, z2, t, message, monkeypatch):
    monkeypatch.setattr(checks, "CHECK_VALUES", True)  # the NaN case
    with pytest.raises((ValueError, TypeError), match=message):
        info_nce(z1, z2, t)


@pytest.mark.parametrize("intra", [True, False])
def test_batched_info_nce_is_the_mean_of_independent_problems(intra):
    z1 = torch.randn(3, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(3, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    queue = torch.randn(6, 4, dtype=torch.float64)
    got = info_nce(z1, z2, 0.3, intra_view_negatives=intra, extra_negatives=queue)
    pairs = zip(z1.reshape(6, 5, 4), z2.reshape(6, 5, 4), strict=True)
    want = torch.stack(
        [naive_info_nce(a, b, 0.3, intra=intra, extra=queue) for a, b in pairs]
    ).mean()
    torch.testing.assert_close(got, want)
    for g_got, g_want in zip(_grads(got, (z1, z2)), _grads(want, (z1, z2)), strict=True):
        torch.testing.assert_close(g_got, g_want)


def test_info_nce_rejects_bad_extra_negatives_and_module_temperature():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="extra_negatives must share the embedding size"):
        info_nce(z, z, extra_negatives=torch.randn(5, 2))
    with pytest.raises(ValueError, match="extra_negatives has 0 row"):
        info_nce(z, z, extra_negatives=torch.randn(0, 3))
    with pytest.raises(ValueError, match="temperature"):
        InfoNCE(temperature=0.0)


def test_weighted_info_nce_matches_loop_reference():
    g = torch.Generator().manual_seed(7)
    anchor = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    cand = torch.randn(7, 4, generator=g, dtype=torch.float64, requires_grad=True)
    p = torch.rand(5, 7, generator=g, dtype=torch.float64) * (torch.rand(5, 7, generator=g) < 0.4)
    p[0] = 0.0  # an anchor with no positive is skipped
    p[1, 2] = 0.7  # every other anchor keeps at least one positive
    p[2:, 0] = 1.0
    w = torch.rand(5, 7, generator=g, dtype=torch.float64)
    w[3, 4] = 0.0  # a removed pair
    got = weighted_info_nce(anchor, cand, p, w, 0.25)
    want = naive_weighted(anchor, cand, p, w, 0.25)
    torch.testing.assert_close(got, want)
    for g_got, g_want in zip(
        _grads(got, (anchor, cand)), _grads(want, (anchor, cand)), strict=True
    ):
        torch.testing.assert_close(g_got, g_want)
    torch.testing.assert_close(WeightedInfoNCE(0.25)(anchor, cand, p, w), got)


def test_weighted_info_nce_with_identity_positives_is_cross_view_info_nce():
    z1, z2, _ = _views(seed=8)
    eye = torch.eye(6, dtype=torch.float64)
    torch.testing.assert_close(
        weighted_info_nce(z1, z2, eye, temperature=0.3),
        info_nce(z1, z2, 0.3, intra_view_negatives=False, symmetric=False),
    )


def test_weighted_info_nce_orthonormal_closed_form():
    # Candidates = anchors = N orthonormal vectors, positive = itself, self not removed:
    # l = -log(e^{1/t} / (e^{1/t} + N - 1)). Removing two negatives per anchor gives N - 3.
    n, t = 6, 0.2
    z = torch.eye(n, dtype=torch.float64)
    e = math.exp(1 / t)
    eye = torch.eye(n)
    assert weighted_info_nce(z, z, eye, temperature=t).item() == pytest.approx(
        -math.log(e / (e + n - 1)), rel=1e-12
    )
    w = torch.ones(n, n)
    w[torch.arange(n), (torch.arange(n) + 1) % n] = 0.0
    w[torch.arange(n), (torch.arange(n) + 2) % n] = 0.0
    assert weighted_info_nce(z, z, eye, w, temperature=t).item() == pytest.approx(
        -math.log(e / (e + n - 3)), rel=1e-12
    )


def test_weighted_info_nce_in_form_is_log_of_weighted_positive_mass():
    a = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    c = torch.randn(6, 3, dtype=torch.float64)
    p = torch.rand(5, 6, dtype=torch.float64) * (torch.rand(5, 6) > 0.5)
    p[0] = 0.0  # an anchor without positives is skipped
    p[1, 0] = 0.7
    w = torch.rand(5, 6, dtype=torch.float64)
    got = weighted_info_nce(a, c, p, w, 0.3, positive_form="in")
    an, cn = torch.nn.functional.normalize(a, dim=1), torch.nn.functional.normalize(c, dim=1)
    terms = []
    for i in range(1, 5):
        if p[i].sum() == 0:
            continue
        num = sum(p[i, j] * torch.exp(an[i] @ cn[j] / 0.3) for j in range(6))
        den = sum(
            (1.0 if p[i, k] > 0 else w[i, k]) * torch.exp(an[i] @ cn[k] / 0.3) for k in range(6)
        )
        terms.append(-torch.log(num / den))
    want = torch.stack(terms).mean()
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(_grads(got, (a,))[0], _grads(want, (a,))[0])
    with pytest.raises(ValueError, match="positive_form must be 'out' or 'in'"):
        weighted_info_nce(a, c, p, positive_form="sum")


def test_weighted_info_nce_rejects_bad_input(monkeypatch):
    monkeypatch.setattr(checks, "CHECK_VALUES", True)  # the value checks
    a, c = torch.randn(3, 4), torch.randn(5, 4)
    with pytest.raises(ValueError, match=r"pos_weight must have shape \(3, 5\)"):
        weighted_info_nce(a, c, torch.ones(3, 4))
    with pytest.raises(ValueError, match=r"neg_weight must have shape \(3, 5\)"):
        weighted_info_nce(a, c, torch.ones(3, 5), torch.ones(5, 3))
    with pytest.raises(ValueError, match="non-negative"):
        weighted_info_nce(a, c, -torch.ones(3, 5))
    with pytest.raises(ValueError, match="no anchor has a positive"):
        weighted_info_nce(a, c, torch.zeros(3, 5))
    with pytest.raises(ValueError, match="embedding size"):
        weighted_info_nce(a, torch.randn(5, 2), torch.ones(3, 5))
    with pytest.raises(ValueError, match="temperature"):
        weighted_info_nce(a, c, torch.ones(3, 5), temperature=-0.1)
