"""iSogCLR: loss, estimators and temperature updates against loop references and closed forms."""

from __future__ import annotations

import pytest
import torch

import shared.losses._checks as checks
from shared.losses import ISogCLR, isogclr


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=1, keepdim=True)


def naive_isogclr(z1, z2, tau, u, gamma, rho):
    """Anchor by anchor, both directions averaged.

    Returns (value, surrogate, u_new, tau_grad): ``value`` is the objective estimated with the
    new u; ``surrogate`` is a scalar whose gradient is G(w) = mean_i [ sum_z w_iz grad<a_i, z>
    / |S_i| - grad<a_i, b_i> ] with the weights w_iz held constant.
    """
    z1, z2 = _unit(z1), _unit(z2)
    n = z1.shape[0]
    value, surrogate = 0.0, 0.0
    u_new, tau_grad = torch.zeros(n, dtype=z1.dtype), torch.zeros(n, dtype=z1.dtype)
    for a, b in ((z1, z2), (z2, z1)):
        for i in range(n):
            negatives = [b[j] for j in range(n) if j != i] + [a[j] for j in range(n) if j != i]
            sims = [torch.dot(a[i], z) for z in negatives]
            g = sum(torch.exp(s.detach() / tau[i]) for s in sims) / len(sims)
            un = g if u[i] == 0 else (1 - gamma) * u[i] + gamma * g
            w = [torch.exp(s.detach() / tau[i]) / un for s in sims]
            pos = torch.dot(a[i], b[i])
            surrogate = (
                surrogate + sum(wz * s for wz, s in zip(w, sims, strict=True)) / len(sims) - pos
            )
            value = value + tau[i] * torch.log(un) + tau[i] * rho - pos.detach()
            u_new[i] += 0.5 * un
            scaled = sum(wz * s.detach() / tau[i] for wz, s in zip(w, sims, strict=True)) / len(
                sims
            )
            tau_grad[i] += 0.5 * (torch.log(un) + rho - scaled)
    return value / (2 * n), surrogate / (2 * n), u_new, tau_grad


def robust_objective(z1, z2, tau, rho):
    """The paper's F with exact inner means, directions averaged:

    0.5 sum_dir mean_i [tau_i log E_z exp(h_i(z) / tau_i) + tau_i rho].
    """
    z1, z2 = _unit(z1), _unit(z2)
    n = z1.shape[0]
    total = 0.0
    for a, b in ((z1, z2), (z2, z1)):
        for i in range(n):
            pos = torch.dot(a[i], b[i])
            others = [b[j] for j in range(n) if j != i] + [a[j] for j in range(n) if j != i]
            inner = sum(torch.exp((torch.dot(a[i], z) - pos) / tau[i]) for z in others)
            total = total + tau[i] * torch.log(inner / len(others)) + tau[i] * rho
    return total / (2 * n)


def _views(n=5, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(n, d, generator=g, dtype=torch.float64, requires_grad=True)
    tau = 0.1 + 0.5 * torch.rand(n, generator=g, dtype=torch.float64)
    return z1, z2, tau


@pytest.mark.parametrize("seen", [False, True])
def test_step_matches_loop_reference(seen):
    z1, z2, tau = _views(seed=1)
    u = (0.5 + torch.rand(5, dtype=torch.float64)) if seen else torch.zeros(5, dtype=torch.float64)
    if seen:
        u[2] = 0.0  # a sample seen for the first time among seen ones
    step = isogclr(z1, z2, tau, u, gamma=0.7, rho=0.4)
    value, surrogate, u_new, tau_grad = naive_isogclr(z1, z2, tau, u, 0.7, 0.4)
    torch.testing.assert_close(step.loss, value)
    torch.testing.assert_close(step.u, u_new)
    torch.testing.assert_close(step.tau_grad, tau_grad)
    assert not step.u.requires_grad and not step.tau_grad.requires_grad
    for g_got, g_want in zip(
        torch.autograd.grad(step.loss, (z1, z2)),
        torch.autograd.grad(surrogate, (z1, z2)),
        strict=True,
    ):
        torch.testing.assert_close(g_got, g_want)


def test_first_step_gradients_are_exact_gradients_of_the_robust_objective():
    # With u = 0 the estimator is the batch mean itself, so the loss value, G(w) and G(tau)
    # are the value and exact derivatives of F on this batch (no approximation left).
    z1, z2, tau = _views(seed=2)
    tau = tau.requires_grad_(True)
    step = isogclr(z1, z2, tau, torch.zeros(5, dtype=torch.float64), rho=0.3)
    exact = robust_objective(z1, z2, tau, 0.3)
    torch.testing.assert_close(step.loss, exact)
    for g_got, g_want in zip(
        torch.autograd.grad(step.loss, (z1, z2), retain_graph=True),
        torch.autograd.grad(exact, (z1, z2), retain_graph=True),
        strict=True,
    ):
        torch.testing.assert_close(g_got, g_want)
    d_tau = torch.autograd.grad(exact, tau)[0]
    torch.testing.assert_close(step.tau_grad, 5 * d_tau)  # F averages over the 5 anchors


@pytest.mark.parametrize("t", [0.1, 0.4])
def test_orthonormal_closed_form(t):
    # z1 = z2 = N orthonormal vectors: every negative similarity is 0, so g_i = 1 = u_i,
    # the value is tau*rho - 1 and G(tau_i) = log 1 + rho - 0 = rho.
    n, rho = 4, 0.3
    z = torch.eye(n, n + 1, dtype=torch.float64)
    step = isogclr(z, z, torch.full((n,), t, dtype=torch.float64), torch.zeros(n), rho=rho)
    assert step.loss.item() == pytest.approx(t * rho - 1, rel=1e-12)
    torch.testing.assert_close(step.u, torch.ones(n, dtype=torch.float64))
    torch.testing.assert_close(step.tau_grad, torch.full((n,), rho, dtype=torch.float64))

    module = ISogCLR(10, tau_init=t, rho=rho, eta=0.05, beta=0.8, tau_min=0.01)
    module(z, z, torch.tensor([9, 2, 4, 0]))
    expected_tau = t - 0.05 * 0.8 * rho
    torch.testing.assert_close(module.tau[[9, 2, 4, 0]], torch.full((n,), expected_tau))
    torch.testing.assert_close(module.tau[[1, 3, 5, 6, 7, 8]], torch.full((6,), t))


def test_module_state_follows_two_steps_of_the_algorithm():
    num, idx = 12, torch.tensor([7, 0, 11, 3, 5])
    gamma, rho, eta, beta, tau0 = 0.8, 0.2, 0.05, 0.6, 0.2
    module = ISogCLR(
        num, tau_init=tau0, gamma=gamma, rho=rho, eta=eta, beta=beta, tau_max=0.5
    ).double()
    tau = torch.full((5,), tau0, dtype=torch.float64)
    u = torch.zeros(5, dtype=torch.float64)
    m = torch.zeros(5, dtype=torch.float64)
    for seed in (3, 4):
        z1, z2, _ = _views(seed=seed)
        loss = module(z1, z2, idx)
        value, _, u, tau_grad = naive_isogclr(z1, z2, tau, u, gamma, rho)
        m = (1 - beta) * m + beta * tau_grad
        tau = (tau - eta * m).clamp(0.05, 0.5)
        torch.testing.assert_close(loss, value)
        torch.testing.assert_close(module.u[idx], u)
        torch.testing.assert_close(module.tau_momentum[idx], m)
        torch.testing.assert_close(module.tau[idx], tau)
    untouched = torch.tensor([1, 2, 4, 6, 8, 9, 10])
    assert (module.u[untouched] == 0).all()
    torch.testing.assert_close(module.tau[untouched], torch.full((7,), tau0, dtype=torch.float64))
    assert set(module.state_dict()) == {"tau", "u", "tau_momentum"}


def test_temperatures_are_projected_onto_their_bounds():
    z1, z2, _ = _views(seed=5)
    low = ISogCLR(5, tau_init=0.1, tau_min=0.08, eta=100.0, rho=5.0)  # G(tau) > 0: tau falls
    low(z1, z2, torch.arange(5))
    assert (low.tau == 0.08).all()
    high = ISogCLR(5, tau_init=0.1, tau_max=0.3, eta=100.0, rho=0.0)
    z = torch.eye(5, dtype=torch.float64)  # G(tau) = rho = 0 here: tau stays
    high(z, z, torch.arange(5))
    torch.testing.assert_close(high.tau, torch.full((5,), 0.1))


def test_eval_mode_leaves_the_state_alone():
    z1, z2, _ = _views(seed=6)
    module = ISogCLR(8).eval()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    loss = module(z1, z2, torch.tensor([1, 2, 3, 4, 5]))
    for key, value in module.state_dict().items():
        assert torch.equal(value, before[key])
    assert loss.requires_grad
    assert module.train()(z1, z2, torch.tensor([1, 2, 3, 4, 5])).item() == loss.item()
    assert (module.u[1:6] > 0).all()


def test_float32_inputs():
    z1, z2, _ = _views(seed=7)
    module = ISogCLR(5)
    f32 = module(z1.detach().float(), z2.detach().float(), torch.arange(5))
    f64 = ISogCLR(5)(z1, z2, torch.arange(5))
    assert f32.dtype == torch.float32
    assert f32.item() == pytest.approx(f64.item(), abs=1e-5)


def test_rejects_bad_index(monkeypatch):
    monkeypatch.setattr(checks, "CHECK_VALUES", True)  # the value checks
    z1, z2, _ = _views(seed=8)
    module = ISogCLR(10)
    with pytest.raises(ValueError, match="duplicates"):
        module(z1, z2, torch.tensor([0, 1, 2, 3, 3]))
    with pytest.raises(ValueError, match=r"lie in \[0, 10\)"):
        module(z1, z2, torch.tensor([0, 1, 2, 3, 10]))
    with pytest.raises(ValueError, match=r"lie in \[0, 10\)"):
        module(z1, z2, torch.tensor([-1, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match=r"index must have shape \(5,\)"):
        module(z1, z2, torch.arange(4))
    with pytest.raises(TypeError, match="integer tensor"):
        module(z1, z2, torch.arange(5.0))
    with pytest.raises(ValueError, match="same shape"):
        module(z1, z2[:4], torch.arange(5))


def test_rejects_bad_state_and_hyperparameters(monkeypatch):
    monkeypatch.setattr(checks, "CHECK_VALUES", True)  # the value checks
    z1, z2, tau = _views(seed=9)
    zeros = torch.zeros(5)
    with pytest.raises(ValueError, match=r"tau must have shape \(5,\)"):
        isogclr(z1, z2, tau[:4], zeros)
    with pytest.raises(ValueError, match=r"u must have shape \(5,\)"):
        isogclr(z1, z2, tau, torch.zeros(5, 1))
    with pytest.raises(ValueError, match="tau must be > 0"):
        isogclr(z1, z2, torch.zeros(5), zeros)
    with pytest.raises(ValueError, match="u must be >= 0"):
        isogclr(z1, z2, tau, -torch.ones(5))
    with pytest.raises(ValueError, match=r"gamma must be in \(0, 1\]"):
        isogclr(z1, z2, tau, zeros, gamma=0.0)
    with pytest.raises(ValueError, match="rho must be >= 0"):
        isogclr(z1, z2, tau, zeros, rho=-0.1)
    with pytest.raises(ValueError, match="tau_min <= tau_init <= tau_max"):
        ISogCLR(10, tau_init=0.9)
    with pytest.raises(ValueError, match="tau_min must be > 0"):
        ISogCLR(10, tau_min=0.0)
    with pytest.raises(ValueError, match=r"beta must be in \(0, 1\]"):
        ISogCLR(10, beta=1.5)
    with pytest.raises(ValueError, match="num_samples must be >= 1"):
        ISogCLR(0)
