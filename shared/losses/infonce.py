"""InfoNCE / NT-Xent and the weighted multi-positive InfoNCE.

InfoNCE (van den Oord et al. 2018, "Representation Learning with Contrastive Predictive Coding");
NT-Xent is its two-view form from SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive
Learning of Visual Representations"). With s_ij = <z1_i, z2_j> / t on L2-normalised rows:

    l_i = -log( exp(s_ii) / (exp(s_ii) + sum_{j != i} exp(s_ij)
                             + [sum_{j != i} exp(s'_ij)] + sum_m exp(q_im)) )

where the bracketed intra-view terms s'_ij = <z1_i, z1_j> / t are present in NT-Xent
(``intra_view_negatives=True``: 2N-2 negatives per anchor, as in SimCLR, GRACE and CL4SRec) and
absent in the CLIP/MoCo form (N-1 negatives), and q_im are extra negatives such as a MoCo queue.
``symmetric=True`` averages the z1->z2 and z2->z1 directions.

The weighted form generalises the numerator to several weighted positives and the denominator to
weighted negatives (Khosla et al. 2020 SupCon "L_out"; CLOCS patient contrast, Kiyasseh et al.
2021; gCooL's ReSC, Li et al. 2022; MEOW, Yu et al. 2023):

    l_i = -(1 / sum_j p_ij) sum_j p_ij [ s_ij - log sum_k d_ik exp(s_ik) ],
    d_ik = 1 if p_ik > 0 else w_ik

with p the positive weights and w the negative weights; entries with d_ik = 0 (e.g. self pairs)
leave the denominator. Anchors with no positive are skipped. That is the "out" form (positives
averaged outside the log). The "in" form puts the weighted positive mass inside the log (SupCon
"L_in"; Graph-MLP's neighbour contrast, Hu et al. 2021; SCGC's influence loss, Kulatilleke et al.
2022), with the weights used as given:

    l_i = -log( sum_j p_ij exp(s_ij) / sum_k d_ik exp(s_ik) ).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from shared.losses import _checks as checks
from shared.losses._checks import check_embeddings, check_pair, check_same_dim, check_temperature


def info_nce(
    z1: Tensor,
    z2: Tensor,
    temperature: float = 0.1,
    *,
    intra_view_negatives: bool = True,
    symmetric: bool = True,
    extra_negatives: Tensor | None = None,
    normalize: bool = True,
) -> Tensor:
    """InfoNCE between two views; row i of ``z1`` and ``z2`` is a positive pair. Returns a scalar.

    Args:
        z1, z2: (N, d) embeddings of the two views, or (..., N, d) for a batch of independent
            problems (e.g. every timestamp of a sequence); the loss is then the mean over them.
        temperature: t > 0.
        intra_view_negatives: NT-Xent (2N-2 negatives) when True, cross-view only (N-1) when False.
        symmetric: average both directions; when False only rows of ``z1`` are anchors.
        extra_negatives: optional (M, d) negatives shared by every anchor (a memory queue).
        normalize: L2-normalise embeddings first (cosine similarity).
    """
    check_pair("z1", z1, "z2", z2, batched=True)
    check_temperature(temperature)
    if extra_negatives is not None:
        check_embeddings("extra_negatives", extra_negatives, min_rows=1)
        check_same_dim("z1", z1, "extra_negatives", extra_negatives)
    if normalize:
        z1, z2 = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
        if extra_negatives is not None:
            extra_negatives = F.normalize(extra_negatives, dim=-1)
    loss = _directional_info_nce(z1, z2, temperature, intra_view_negatives, extra_negatives)
    if symmetric:
        loss = 0.5 * (
            loss + _directional_info_nce(z2, z1, temperature, intra_view_negatives, extra_negatives)
        )
    return loss


def _directional_info_nce(
    anchor: Tensor, positive: Tensor, temperature: float, intra: bool, extra: Tensor | None
) -> Tensor:
    n = anchor.shape[-2]
    scaled = anchor / temperature  # O(N d) instead of dividing the O(N^2) logits
    logits = [scaled @ positive.mT]  # diagonal holds the positives
    if intra:
        eye = torch.eye(n, dtype=torch.bool, device=anchor.device)
        logits.append((scaled @ anchor.mT).masked_fill(eye, float("-inf")))
    if extra is not None:
        logits.append(scaled @ extra.T)
    all_logits = logits[0] if len(logits) == 1 else torch.cat(logits, dim=-1)
    target = torch.arange(n, device=anchor.device).expand(all_logits.shape[:-1])
    return F.cross_entropy(all_logits.flatten(0, -2), target.flatten())


def weighted_info_nce(
    anchor: Tensor,
    candidates: Tensor,
    pos_weight: Tensor,
    neg_weight: Tensor | None = None,
    temperature: float = 0.1,
    *,
    normalize: bool = True,
    positive_form: Literal["out", "in"] = "out",
) -> Tensor:
    """Multi-positive InfoNCE with per-pair positive and negative weights. Returns a scalar.

    Args:
        anchor: (N, d) anchors.
        candidates: (M, d) items each anchor is compared with.
        pos_weight: (N, M) non-negative positive weights p (a 0/1 mask for SupCon/CLOCS).
        neg_weight: (N, M) non-negative negative weights w; default 1 everywhere. Set an entry to 0
            to remove a pair (e.g. the anchor itself when ``candidates`` contains it).
        temperature: t > 0.
        positive_form: "out" averages the per-positive log-probabilities (weights p / sum_j p);
            "in" takes the log of the weighted positive mass (see the module docstring).
    """
    _check_positive_form(positive_form)
    check_embeddings("anchor", anchor, min_rows=1)
    check_embeddings("candidates", candidates, min_rows=1)
    check_same_dim("anchor", anchor, "candidates", candidates)
    check_temperature(temperature)
    shape = (anchor.shape[0], candidates.shape[0])
    if pos_weight.shape != shape:
        raise ValueError(f"pos_weight must have shape {shape}, got {tuple(pos_weight.shape)}")
    if neg_weight is None:
        neg_weight = torch.ones(shape, dtype=anchor.dtype, device=anchor.device)
    elif neg_weight.shape != shape:
        raise ValueError(f"neg_weight must have shape {shape}, got {tuple(neg_weight.shape)}")
    pos_weight = pos_weight.to(anchor.dtype)
    neg_weight = neg_weight.to(anchor.dtype)
    if checks.CHECK_VALUES and ((pos_weight < 0).any() or (neg_weight < 0).any()):
        raise ValueError("pos_weight and neg_weight must be non-negative")
    if normalize:
        anchor, candidates = F.normalize(anchor, dim=1), F.normalize(candidates, dim=1)

    logits = anchor @ candidates.T / temperature
    is_pos = pos_weight > 0
    denom_weight = torch.where(is_pos, torch.ones_like(neg_weight), neg_weight)
    log_denom = torch.logsumexp(logits + torch.log(denom_weight), dim=1)
    pos_total = pos_weight.sum(dim=1)
    has_pos = pos_total > 0
    if checks.CHECK_VALUES and not has_pos.any():
        raise ValueError("no anchor has a positive (pos_weight is all zero)")
    # Rows without a positive are masked out arithmetically, not indexed away: x[mask] has a
    # data-dependent size, a host read on an accelerator. No positive anywhere gives 0 / 0 = NaN.
    if positive_form == "in":
        # those rows get weight 1 inside the logsumexp (all -inf would give NaN gradients)
        safe_pos = torch.where(has_pos[:, None], pos_weight, torch.ones_like(pos_weight))
        per_anchor = log_denom - torch.logsumexp(logits + torch.log(safe_pos), dim=1)
    else:
        log_prob = torch.where(is_pos, logits - log_denom[:, None], torch.zeros_like(logits))
        safe_total = torch.where(has_pos, pos_total, torch.ones_like(pos_total))
        per_anchor = -(pos_weight * log_prob).sum(dim=1) / safe_total
    masked = torch.where(has_pos, per_anchor, torch.zeros_like(per_anchor))
    return masked.sum() / has_pos.sum()


class InfoNCE(nn.Module):
    """Module form of :func:`info_nce` (NT-Xent when ``intra_view_negatives=True``)."""

    def __init__(
        self,
        temperature: float = 0.1,
        *,
        intra_view_negatives: bool = True,
        symmetric: bool = True,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        check_temperature(temperature)
        self.temperature = temperature
        self.intra_view_negatives = intra_view_negatives
        self.symmetric = symmetric
        self.normalize = normalize

    def forward(self, z1: Tensor, z2: Tensor, extra_negatives: Tensor | None = None) -> Tensor:
        return info_nce(
            z1,
            z2,
            self.temperature,
            intra_view_negatives=self.intra_view_negatives,
            symmetric=self.symmetric,
            extra_negatives=extra_negatives,
            normalize=self.normalize,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, intra_view_negatives={self.intra_view_negatives}"


class WeightedInfoNCE(nn.Module):
    """Module form of :func:`weighted_info_nce`.

    Example:
        >>> loss_fn = WeightedInfoNCE(0.1, positive_form="in")
        >>> loss = loss_fn(torch.randn(8, 16), torch.randn(8, 16), torch.eye(8))
    """

    def __init__(
        self,
        temperature: float = 0.1,
        *,
        normalize: bool = True,
        positive_form: Literal["out", "in"] = "out",
    ) -> None:
        super().__init__()
        check_temperature(temperature)
        _check_positive_form(positive_form)
        self.temperature = temperature
        self.normalize = normalize
        self.positive_form = positive_form

    def forward(
        self,
        anchor: Tensor,
        candidates: Tensor,
        pos_weight: Tensor,
        neg_weight: Tensor | None = None,
    ) -> Tensor:
        return weighted_info_nce(
            anchor,
            candidates,
            pos_weight,
            neg_weight,
            self.temperature,
            normalize=self.normalize,
            positive_form=self.positive_form,
        )

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, positive_form={self.positive_form!r}"


def _check_positive_form(positive_form: str) -> None:
    if positive_form not in ("out", "in"):
        raise ValueError(f"positive_form must be 'out' or 'in', got {positive_form!r}")
