"""iSogCLR: robust global contrastive loss with individualised, learned temperatures.

Qiu et al., ICML 2023, "Not All Semantics are Created Equal: Contrastive Self-supervised Learning
with Automatic Temperature Individualization" (arXiv 2305.11965). Every training sample i has its
own temperature tau_i. On L2-normalised embeddings, the anchor z1_i has the positive z2_i and the
negative set S_i = {z1_j, z2_j : j != i} (|S_i| = 2N-2); h_i(z) = <z1_i, z> - <z1_i, z2_i>. The
robust (KL-DRO) objective is

    F(w, tau) = (1/n) sum_i [ tau_i * log E_{z in S_i} exp(h_i(z) / tau_i) + tau_i * rho ].

The inner mean is tracked across epochs by a moving average u_i, one per sample, so that small
batches do not bias the gradient (the SogCLR estimator). Per step, for the anchors in the batch:

    g_i     = (1/|S_i|) sum_{z in S_i} exp(<z1_i, z> / tau_i)
    u_i    <- (1 - gamma) * u_i + gamma * g_i          (u_i <- g_i the first time i is seen)
    p_iz    = exp(<z1_i, z> / tau_i) / u_i              (a constant: no gradient)
    G(w)    = gradient of mean_i [ (1/|S_i|) sum_z p_iz <z1_i, z> - <z1_i, z2_i> ]
    G(tau_i) = log u_i + rho - (1/|S_i|) sum_z p_iz <z1_i, z> / tau_i
    m_i    <- (1 - beta) * m_i + beta * G(tau_i)
    tau_i  <- clip(tau_i - eta * m_i, tau_min, tau_max)

Because exp(-<z1_i, z2_i>/tau_i) cancels between numerator and u_i, G(w) is the paper's estimator
(tau_i / u_i) grad g_i(h) with the positive's factor mean_z p_iz replaced by its expectation 1, and
G(tau_i) is d/dtau_i of the objective with the same substitution (on a sample's first visit,
u_i = g_i and both are exact derivatives on the batch); both follow the authors' code
(zhqiu/contrastive-learning-iSogCLR, LibAUC ``GCLoss_v1``). The anchors z2_i are handled the same
way and the two directions are averaged (the authors sum them); u_i and G(tau_i) are the means of
the two directions. The returned scalar has the value of the objective estimated with u,
tau_i log u_i - <z1_i, z2_i> + tau_i rho, and the gradient G(w).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from shared.losses import _checks as checks
from shared.losses._checks import check_pair, check_temperature


class ISogCLRStep(NamedTuple):
    """Result of one :func:`isogclr` evaluation for a batch."""

    loss: Tensor  # scalar: value of the objective, gradient G(w)
    u: Tensor  # (N,) updated inner-mean estimators u_i
    tau_grad: Tensor  # (N,) G(tau_i), no gradient


def isogclr(
    z1: Tensor,
    z2: Tensor,
    tau: Tensor,
    u: Tensor,
    *,
    gamma: float = 0.9,
    rho: float = 0.3,
) -> ISogCLRStep:
    """One iSogCLR step on a batch, without side effects (the module keeps the state).

    Args:
        z1, z2: (N, d) embeddings of the two views (normalised inside), N >= 2.
        tau: (N,) current temperatures tau_i of the batch samples, > 0.
        u: (N,) previous estimators u_i of the batch samples; 0 marks a sample not seen yet.
        gamma: moving-average weight of the new batch estimate, in (0, 1].
        rho: KL-DRO radius rho >= 0 (LibAUC recommends 0.1-0.5 for unimodal data).
    """
    check_pair("z1", z1, "z2", z2)
    n = z1.shape[0]
    for name, value in (("tau", tau), ("u", u)):
        if value.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {tuple(value.shape)}")
    if checks.CHECK_VALUES:
        if not (tau > 0).all():
            raise ValueError("tau must be > 0 everywhere")
        if (u < 0).any():
            raise ValueError("u must be >= 0 (0 marks a sample not seen yet)")
    _check_fraction("gamma", gamma)
    if rho < 0:
        raise ValueError(f"rho must be >= 0, got {rho!r}")
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    tau = tau.detach().to(z1.dtype)
    u = u.detach().to(z1.dtype)
    a = _directional(z1, z2, tau, u, gamma, rho)
    b = _directional(z2, z1, tau, u, gamma, rho)
    return ISogCLRStep(0.5 * (a.loss + b.loss), 0.5 * (a.u + b.u), 0.5 * (a.tau_grad + b.tau_grad))


def _directional(
    anchor: Tensor, positive: Tensor, tau: Tensor, u: Tensor, gamma: float, rho: float
) -> ISogCLRStep:
    n = anchor.shape[0]
    num_neg = 2 * n - 2
    is_neg = ~torch.eye(n, dtype=torch.bool, device=anchor.device).repeat(1, 2)
    sim = torch.cat([anchor @ positive.T, anchor @ anchor.T], dim=1)  # (N, 2N)
    scaled = sim.detach() / tau[:, None]
    exp_sim = torch.exp(scaled) * is_neg
    batch_mean = exp_sim.sum(dim=1) / num_neg
    u_new = torch.where(u > 0, (1 - gamma) * u + gamma * batch_mean, batch_mean)
    weight = exp_sim / u_new[:, None]
    weighted_neg = (weight * sim).sum(dim=1) / num_neg
    pos = (anchor * positive).sum(dim=1)
    value = tau * torch.log(u_new) + tau * rho - pos
    per_anchor = value + weighted_neg - weighted_neg.detach()
    tau_grad = torch.log(u_new) + rho - (weight * scaled).sum(dim=1) / num_neg
    return ISogCLRStep(per_anchor.mean(), u_new, tau_grad)


def _check_fraction(name: str, value: float) -> None:
    if not 0 < value <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}")


class ISogCLR(nn.Module):
    """iSogCLR loss with per-sample temperatures; see the module docstring for the updates.

    Buffers of size ``num_samples`` (indexed by dataset index): ``tau`` (temperatures, starting
    at ``tau_init``), ``u`` (inner-mean estimators, 0 = not seen) and ``tau_momentum`` (m_i). They
    are buffers, not parameters: tau is moved by its own momentum step and projection, not by the
    model's optimizer. In training mode each forward updates u, m and tau of the batch samples;
    in eval mode the state is left untouched.

    Defaults follow LibAUC's unimodal ``GCLoss_v1``.
    """

    tau: Tensor
    u: Tensor
    tau_momentum: Tensor

    def __init__(
        self,
        num_samples: int,
        *,
        tau_init: float = 0.1,
        tau_min: float = 0.05,
        tau_max: float = 0.7,
        gamma: float = 0.9,
        rho: float = 0.3,
        eta: float = 0.01,
        beta: float = 0.9,
    ) -> None:
        super().__init__()
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        check_temperature(tau_min, "tau_min")
        if not tau_min <= tau_init <= tau_max:
            raise ValueError(
                f"need tau_min <= tau_init <= tau_max, got {tau_min}, {tau_init}, {tau_max}"
            )
        _check_fraction("gamma", gamma)
        _check_fraction("beta", beta)
        check_temperature(eta, "eta")
        if rho < 0:
            raise ValueError(f"rho must be >= 0, got {rho!r}")
        self.num_samples = num_samples
        self.tau_min, self.tau_max = tau_min, tau_max
        self.gamma, self.rho, self.eta, self.beta = gamma, rho, eta, beta
        self.register_buffer("tau", torch.full((num_samples,), float(tau_init)))
        self.register_buffer("u", torch.zeros(num_samples))
        self.register_buffer("tau_momentum", torch.zeros(num_samples))

    def forward(self, z1: Tensor, z2: Tensor, index: Tensor) -> Tensor:
        """Loss for views ``z1``, ``z2`` (N, d) of the dataset samples ``index`` (N,)."""
        check_pair("z1", z1, "z2", z2)
        self._check_index(index, z1.shape[0])
        index = index.to(self.tau.device)
        step = isogclr(z1, z2, self.tau[index], self.u[index], gamma=self.gamma, rho=self.rho)
        if self.training:
            with torch.no_grad():
                momentum = (1 - self.beta) * self.tau_momentum[index] + self.beta * step.tau_grad
                self.u[index] = step.u.to(self.u.dtype)
                self.tau_momentum[index] = momentum.to(self.tau_momentum.dtype)
                tau = self.tau[index] - self.eta * self.tau_momentum[index]
                self.tau[index] = tau.clamp(self.tau_min, self.tau_max)
        return step.loss

    def _check_index(self, index: Tensor, n: int) -> None:
        if not isinstance(index, Tensor) or index.dtype not in (torch.int32, torch.int64):
            raise TypeError("index must be an integer tensor (torch.int64) of dataset indices")
        if index.shape != (n,):
            raise ValueError(f"index must have shape ({n},), got {tuple(index.shape)}")
        if not checks.CHECK_VALUES:  # the value checks read the index back to the host
            return
        if index.min() < 0 or index.max() >= self.num_samples:
            raise ValueError(f"index values must lie in [0, {self.num_samples})")
        if index.unique().numel() != n:
            raise ValueError("index contains duplicates; each sample may appear once per batch")

    def extra_repr(self) -> str:
        return (
            f"num_samples={self.num_samples}, tau=[{self.tau_min}, {self.tau_max}], "
            f"gamma={self.gamma}, rho={self.rho}, eta={self.eta}, beta={self.beta}"
        )
