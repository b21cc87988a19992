"""COMET's four contrastive levels: TS2Vec's NTXent at the sample and observation levels, the
CLOCS-style id contrast at the trial and patient levels.

Wang et al., NeurIPS 2023, "Contrast Everything: A Hierarchical Contrastive Framework for Medical
Time-Series" (official code ``DL4mHealth/COMET``, ``models/losses.py``). Inputs are per-timestamp
representations ``z1, z2`` of shape (B, T, D) from two augmented views of the same batch.

Observation level (TS2Vec's temporal contrast; Yue et al. 2022): for each sample b, timestamp t of
view 1 and t of view 2 are positives; the other 2T - 2 timestamps of that sample (both views) are
negatives. With raw dot products (no normalisation, temperature 1):

    L_O = mean_b NTXent({z1[b, t]}_t, {z2[b, t]}_t)

Sample level (TS2Vec's instance contrast): for each timestamp t, sample b across the two views is
the positive and the other 2B - 2 samples at t are negatives:

    L_S = mean_t NTXent({z1[b, t]}_b, {z2[b, t]}_b)

NTXent is ``shared.losses.info_nce(..., temperature=1, normalize=False)``, symmetric with
intra-view negatives, which is exactly TS2Vec's ``(logits[:, i, B+i-1] + logits[:, B+i, i]) / 2``.
:func:`ntxent_dot` computes it as TS2Vec does, from one (2N, 2N) similarity matrix per problem
(``info_nce`` forms both directions' blocks, twice the products); the values are the same.

Both are applied hierarchically (:func:`hierarchical`): the loss is averaged over the time
resolutions T, T/2, T/4, ... obtained by max-pooling with kernel 2, while T > 1 (COMET's loop; it
stops before the length-1 level, unlike TS2Vec).

Any two-view objective of the registry can replace NTXent at both levels
(``contrast``, e.g. ``shared.losses.registry.build_objective({"name": "dcl"})``): it is then
called on each problem, (B, D) per timestamp at the sample level and (T, D) per sample at the
observation level, and averaged over the problems.

Trial and patient levels (CLOCS-style, Kiyasseh et al., ICML 2021): each sample's representation
is L2-normalised over time per channel and flattened, ``v_b = vec(z_b / ||z_b||_time)``; with
cosine similarities s_ij = cos(v1_i, v2_j) / tau (tau = 0.1), samples i != j sharing an id
(trial id or patient id) are positives and every sample of the other view is in the denominator:

    L_ID = 1/2 [ l(v1 -> v2) + l(v2 -> v1) ],
    l(a -> b) = mean_{i with a positive} -(1 / |P_i|) sum_{j in P_i} [ s_ij - log sum_k exp(s_ik) ]
    P_i = {j != i : id_j = id_i}

(``shared.losses.weighted_info_nce``'s form with a 0/1 positive mask). Differences from the
reference ``id_contrastive_loss`` (documented, deliberate): the reference takes view-1 anchors only
for pairs j > i and view-2 anchors only for pairs i > j (half the pairs, as its own comment notes)
and averages over pairs rather than per anchor; here every same-id pair is used in both directions
and each anchor's positives are averaged first (SupCon "L_out" form). As in the reference, a sample
is not its own positive (its other view only appears in the denominator). ``pairing="official"``
computes the reference's form instead: with S the (B, B) matrix of s_ij,

    L_ID = 1/2 [ mean_{i<j, id_i = id_j} -log softmax_row(S)_ij
               + mean_{i>j, id_i = id_j} -log softmax_col(S)_ij ]

(the first term anchors view-1 sample i against all of view 2, the second anchors view-2 sample j
against all of view 1; 0 when no pair shares an id). On realistic batches the two forms agree in
value to about 0.1%, but their gradients differ (cosine about 0.85).

:func:`id_contrasts` computes several id levels (trial and patient) from one similarity matrix;
:func:`hierarchical_levels` computes the sample and observation levels in one pooling loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

LevelLoss = Callable[[Tensor, Tensor], Tensor]
Contrast = Callable[[Tensor, Tensor], Tensor]
"""A two-view objective of (N, d) views, row i of each a positive pair (the registry's call)."""
Pairing = Literal["official", "ours"]
PAIRINGS = ("official", "ours")


def ntxent_dot(z1: Tensor, z2: Tensor) -> Tensor:
    """Symmetric NTXent with raw dot products (temperature 1) and intra-view negatives, over
    (..., N, d) problems, averaged: ``info_nce(z1, z2, 1.0, normalize=False)`` in half the
    products. Row i of z = [z1; z2] scores its positive (row i +- N) against the 2N - 1 others.
    """
    n = z1.shape[-2]
    z = torch.cat([z1, z2], dim=-2)
    logits = z @ z.mT
    logits.diagonal(dim1=-2, dim2=-1).fill_(float("-inf"))
    positive = torch.arange(2 * n, device=z.device).roll(n)
    target = positive.expand(logits.shape[:-1])
    return F.cross_entropy(logits.flatten(0, -2), target.flatten())


def _per_problem(contrast: Contrast | None, a: Tensor, b: Tensor) -> Tensor:
    """Mean over the leading axis of ``contrast`` on each (N, d) problem; NTXent by default."""
    if contrast is None:
        return ntxent_dot(a, b)
    return torch.stack([contrast(a[i], b[i]) for i in range(a.shape[0])]).mean()


def _check_views(z1: Tensor, z2: Tensor) -> None:
    if z1.dim() != 3 or z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must both have the same shape (B, T, D), got {tuple(z1.shape)} and "
            f"{tuple(z2.shape)}"
        )


def observation_contrast(z1: Tensor, z2: Tensor, contrast: Contrast | None = None) -> Tensor:
    """L_O at one resolution (see the module docstring); 0 when T == 1 (no negatives).
    ``contrast`` replaces NTXent on each sample's (T, D) problem."""
    _check_views(z1, z2)
    if z1.shape[1] < 2:
        return z1.sum() * 0.0
    # one problem per sample over its timestamps: (B, T, D) is a batch of B problems
    return _per_problem(contrast, z1, z2)


def sample_contrast(z1: Tensor, z2: Tensor, contrast: Contrast | None = None) -> Tensor:
    """L_S at one resolution (see the module docstring); 0 when B == 1 (no negatives).
    ``contrast`` replaces NTXent on each timestamp's (B, D) problem."""
    _check_views(z1, z2)
    if z1.shape[0] < 2:
        return z1.sum() * 0.0
    # one problem per timestamp over the samples: (T, B, D) is a batch of T problems
    return _per_problem(contrast, z1.transpose(0, 1), z2.transpose(0, 1))


def hierarchical(loss: LevelLoss, z1: Tensor, z2: Tensor) -> Tensor:
    """Mean of ``loss`` over resolutions T, T/2, ... (max-pool, kernel 2) while T > 1."""
    _check_views(z1, z2)
    if z1.shape[1] < 2:
        raise ValueError(f"hierarchical contrast needs T >= 2 timestamps, got {z1.shape[1]}")
    terms = []
    while z1.shape[1] > 1:
        terms.append(loss(z1, z2))
        z1 = F.max_pool1d(z1.transpose(1, 2), kernel_size=2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), kernel_size=2).transpose(1, 2)
    return torch.stack(terms).mean()


def hierarchical_levels(
    z1: Tensor, z2: Tensor, contrast: Contrast | None = None
) -> tuple[Tensor, Tensor]:
    """(L_S, L_O): :func:`hierarchical` of :func:`sample_contrast` and of
    :func:`observation_contrast` (with ``contrast``, NTXent when None), sharing one max-pooling
    loop (same values)."""
    _check_views(z1, z2)
    if z1.shape[1] < 2:
        raise ValueError(f"hierarchical contrast needs T >= 2 timestamps, got {z1.shape[1]}")
    sample_terms, observation_terms = [], []
    while z1.shape[1] > 1:
        sample_terms.append(sample_contrast(z1, z2, contrast))
        observation_terms.append(observation_contrast(z1, z2, contrast))
        z1 = F.max_pool1d(z1.transpose(1, 2), kernel_size=2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), kernel_size=2).transpose(1, 2)
    return torch.stack(sample_terms).mean(), torch.stack(observation_terms).mean()


def id_contrast(
    z1: Tensor, z2: Tensor, ids: Tensor, temperature: float = 0.1, pairing: Pairing = "ours"
) -> Tensor:
    """Trial- or patient-level loss L_ID (see the module docstring).

    Args:
        z1, z2: (B, T, D) representations of the two views.
        ids: (B,) integer trial or patient ids.
        temperature: tau > 0.
        pairing: ``"ours"`` (every same-id pair, both directions, per anchor) or ``"official"``
            (the reference's pairs and averaging).

    Returns:
        The scalar loss, or 0 (with a graph) when no two samples of the batch share an id; use
        :class:`~timeseries_cl.sampler.HierarchicalBatchSampler` so that batches have positives.

    >>> id_contrast(z1, z2, batch["patient"], pairing="official")
    """
    return id_contrasts(z1, z2, [ids], temperature, pairing)[0]


def id_contrasts(
    z1: Tensor,
    z2: Tensor,
    ids: Sequence[Tensor],
    temperature: float = 0.1,
    pairing: Pairing = "ours",
) -> list[Tensor]:
    """:func:`id_contrast` for each id array in ``ids`` (e.g. patient and trial ids), from one
    similarity matrix and one log-softmax per direction."""
    _check_views(z1, z2)
    if pairing not in PAIRINGS:
        raise ValueError(f"pairing must be one of {PAIRINGS}, got {pairing!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    for id_array in ids:
        if id_array.shape != (z1.shape[0],):
            raise ValueError(f"ids must have shape ({z1.shape[0]},), got {tuple(id_array.shape)}")
    v1 = F.normalize(F.normalize(z1, dim=1).flatten(1), dim=1)
    v2 = F.normalize(F.normalize(z2, dim=1).flatten(1), dim=1)
    sim = v1 @ v2.T / temperature
    row = sim - torch.logsumexp(sim, dim=1, keepdim=True)  # view-1 anchor i over view 2
    col = sim - torch.logsumexp(sim, dim=0, keepdim=True)  # view-2 anchor j over view 1
    eye = torch.eye(z1.shape[0], dtype=torch.bool, device=z1.device)
    out = []
    for id_array in ids:
        positives = (id_array.unsqueeze(0) == id_array.unsqueeze(1)) & ~eye
        if not positives.any():
            out.append(z1.sum() * 0.0)
        elif pairing == "official":
            upper, lower = positives.triu(1), positives.tril(-1)
            out.append(-0.5 * (row[upper].mean() + col[lower].mean()))
        else:
            pos = positives.to(sim.dtype)
            has = positives.any(dim=1)
            count = pos.sum(dim=1)[has]
            from_1 = ((pos * row).sum(dim=1)[has] / count).mean()
            from_2 = ((pos * col).sum(dim=0)[has] / count).mean()
            out.append(-0.5 * (from_1 + from_2))
    return out
