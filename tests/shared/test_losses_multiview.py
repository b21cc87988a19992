"""MV-InfoNCE and MV-DHEL against explicit-loop references, closed forms and InfoNCE."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import shared.losses._checks as checks
from shared.losses.infonce import info_nce
from shared.losses.multiview import MVDHEL, MVInfoNCE, mv_dhel, mv_info_nce


def naive_mv_info_nce(views: torch.Tensor, t: float) -> torch.Tensor:
    u = F.normalize(views, dim=-1)
    n_views, n, _ = u.shape
    total = 0.0
    for i in range(n):
        num = 0.0
        den = 0.0
        for a in range(n_views):
            for m in range(n_views):
                if m != a:
                    num = num + torch.exp(u[a, i] @ u[m, i] / t)
                for j in range(n):
                    if (j, m) != (i, a):
                        den = den + torch.exp(u[a, i] @ u[m, j] / t)
        total = total - torch.log(num / den)
    return total / n


def naive_mv_dhel(views: torch.Tensor, t: float) -> torch.Tensor:
    u = F.normalize(views, dim=-1)
    n_views, n, _ = u.shape
    total = 0.0
    for i in range(n):
        num = 0.0
        for a in range(n_views):
            for m in range(n_views):
                if m != a:
                    num = num + torch.exp(u[a, i] @ u[m, i] / t)
        log_den = 0.0
        for a in range(n_views):
            energy = 0.0
            for j in range(n):
                if j != i:
                    energy = energy + torch.exp(u[a, i] @ u[a, j] / t)
            log_den = log_den + torch.log(energy)
        total = total + log_den - torch.log(num)
    return total / n


CASES = [(2, 5, 3, 0.5), (3, 4, 6, 0.2), (4, 3, 2, 1.0)]


@pytest.mark.parametrize(
    ("loss_fn", "reference"), [(mv_info_nce, naive_mv_info_nce), (mv_dhel, naive_mv_dhel)]
)
@pytest.mark.parametrize(("n_views", "n", "d", "t"), CASES)
def test_matches_loop_reference_values_and_gradients(loss_fn, reference, n_views, n, d, t):
    gen = torch.Generator().manual_seed(n_views * 100 + n)
    base = torch.randn(n_views, n, d, generator=gen, dtype=torch.float64)
    x = base.clone().requires_grad_(True)
    y = base.clone().requires_grad_(True)
    got = loss_fn(x, t)
    want = reference(y, t)
    got.backward()
    want.backward()
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(x.grad, y.grad, rtol=1e-9, atol=1e-10)


def identical_orthogonal_views(n_views: int, n: int, d: int) -> torch.Tensor:
    return torch.eye(n, d, dtype=torch.float64).expand(n_views, n, d).clone()


@pytest.mark.parametrize(("n_views", "n", "t"), [(2, 4, 0.5), (3, 5, 0.1), (5, 3, 1.0)])
def test_mv_info_nce_closed_form_for_identical_orthogonal_views(n_views, n, t):
    # positives: similarity 1, V(V-1) ordered pairs; every other instance: similarity 0.
    # l = log( V[(V-1) e^{1/t} + V(N-1)] / (V(V-1) e^{1/t}) ) = log(1 + V(N-1) e^{-1/t} / (V-1))
    expected = math.log1p(n_views * (n - 1) * math.exp(-1 / t) / (n_views - 1))
    got = mv_info_nce(identical_orthogonal_views(n_views, n, n + 1), t)
    assert got.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("n_views", "n", "t"), [(2, 4, 0.5), (3, 5, 0.1), (5, 3, 1.0)])
def test_mv_dhel_closed_form_for_identical_orthogonal_views(n_views, n, t):
    # l = V log(N-1) - log(V(V-1)) - 1/t  (each per-view energy is N-1 terms e^0)
    expected = n_views * math.log(n - 1) - math.log(n_views * (n_views - 1)) - 1 / t
    got = mv_dhel(identical_orthogonal_views(n_views, n, n + 1), t)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_mv_info_nce_with_two_views_equals_nt_xent_when_denominators_agree():
    # z2 = H z1 with H a Householder reflection (symmetric, orthogonal) makes the two NT-Xent
    # denominators of every instance equal, where MV-InfoNCE(V=2) = NT-Xent exactly.
    gen = torch.Generator().manual_seed(0)
    z1 = F.normalize(torch.randn(6, 4, generator=gen, dtype=torch.float64), dim=1)
    v = torch.randn(4, 1, generator=gen, dtype=torch.float64)
    reflection = torch.eye(4, dtype=torch.float64) - 2 * v @ v.T / (v.T @ v)
    z2 = z1 @ reflection
    got = mv_info_nce(torch.stack([z1, z2]), 0.3)
    want = info_nce(z1, z2, 0.3, intra_view_negatives=True, symmetric=True)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_mv_info_nce_with_two_views_upper_bounds_nt_xent():
    # log((D1 + D2) / 2) >= (log D1 + log D2) / 2, strict when D1 != D2.
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(2, 8, 5, generator=gen, dtype=torch.float64)
    mv = mv_info_nce(z, 0.2)
    nt = info_nce(z[0], z[1], 0.2, intra_view_negatives=True, symmetric=True)
    assert mv.item() > nt.item() + 1e-6


def test_mv_dhel_with_two_views_is_dhel_of_both_views_minus_log_two():
    # DHEL (Koromilas et al. 2024) with both views' energies, as the official two-view code:
    # -<z1_i, z2_i>/t + log sum_{j!=i} e^{<z1_i, z1_j>/t} + log sum_{j!=i} e^{<z2_i, z2_j>/t};
    # the ordered-pair numerator 2 e^{<z1_i, z2_i>/t} subtracts log 2.
    gen = torch.Generator().manual_seed(2)
    z1, z2 = F.normalize(torch.randn(2, 7, 3, generator=gen, dtype=torch.float64), dim=-1)
    t = 0.3
    off_diagonal = ~torch.eye(7, dtype=torch.bool)
    energy1 = torch.logsumexp((z1 @ z1.T / t).masked_fill(~off_diagonal, -math.inf), dim=1)
    energy2 = torch.logsumexp((z2 @ z2.T / t).masked_fill(~off_diagonal, -math.inf), dim=1)
    dhel = (-(z1 * z2).sum(dim=1) / t + energy1 + energy2).mean()
    got = mv_dhel(torch.stack([z1, z2]), t)
    torch.testing.assert_close(got, dhel - math.log(2), rtol=1e-12, atol=1e-12)


def test_modules_match_functionals():
    z = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(3))
    assert MVInfoNCE(0.4)(z).item() == pytest.approx(mv_info_nce(z, 0.4).item())
    assert MVDHEL(0.4)(z).item() == pytest.approx(mv_dhel(z, 0.4).item())


def test_normalize_false_uses_raw_dot_products():
    z = F.normalize(torch.randn(2, 4, 3, generator=torch.Generator().manual_seed(4)), dim=-1)
    assert mv_info_nce(2 * z, 0.5, normalize=False).item() == pytest.approx(
        mv_info_nce(z, 0.5 / 4).item(), rel=1e-5
    )


@pytest.mark.parametrize("loss_fn", [mv_info_nce, mv_dhel])
@pytest.mark.parametrize(
    ("views", "match"),
    [
        (torch.randn(4, 3), r"views must have shape \(V, N, d\)"),
        (torch.randn(1, 4, 3), "views has 1 view"),
        (torch.randn(2, 1, 3), r"views\[0\] has 1 row"),
        (torch.randint(0, 3, (2, 4, 3)), "floating-point"),
        (torch.tensor([[[0.0, float("nan")]] * 3] * 2), "NaN or inf"),
    ],
)
def test_bad_views_raise_clear_errors(loss_fn, views, match, monkeypatch):
    monkeypatch.setattr(checks, "CHECK_VALUES", True)  # the NaN case
    with pytest.raises((ValueError, TypeError), match=match):
        loss_fn(views)


@pytest.mark.parametrize("loss_fn", [mv_info_nce, mv_dhel])
def test_bad_temperature_and_type(loss_fn):
    with pytest.raises(ValueError, match="temperature must be > 0"):
        loss_fn(torch.randn(2, 3, 4), 0.0)
    with pytest.raises(TypeError, match=r"views must be a torch\.Tensor"):
        loss_fn([[1.0, 2.0]])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        MVDHEL(-1.0)
