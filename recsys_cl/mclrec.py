"""MCLRec and its special cases SASRec and CL4SRec: one method, parts switched by weights.

MCLRec (Qin et al., SIGIR 2023, "Meta-optimized Contrastive Learning for Sequential
Recommendation", arXiv 2304.07763; official code github.com/QinHsiu/MCLRec). With ``f`` the SASRec
encoder, ``s`` a history, ``s1, s2`` two CL4SRec views of it (:mod:`recsys_cl.augment`), and two
learnable augmenters ``g1, g2`` (MLP d->32->16->d, GELU, L2-normalised output):

    h = f(s),  h1 = f(s1),  h2 = f(s2),  z1 = g1(h1),  z2 = g2(h2)
    L_rec = cross-entropy of the next item over all items, logits <h, E_j>
    L_cl1 = NT-Xent(h1, h2; tau)                                      (CL4SRec's loss)
    L_cl2 = NT-Xent(h1, z2; 1) + NT-Xent(h2, z1; 1) + NT-Xent(z1, z2; 1)
    R     = 0.1 * [r(h1, z2) + r(h2, z1) + r(z1, z2)]      (r: :func:`contrastive_regulariser`,
                                                         scores at temperature tau)
    L     = L_rec + lambda * L_cl1 + beta * (L_cl2 + R)

(lambda = ``cl_weight``, beta = ``meta_weight``, 0.1 = ``regulariser_weight``, tau =
``cl_temperature``.)

All NT-Xent terms use dot-product similarity (the official ``sim='dot'``) and 2N - 2 in-batch
negatives, via :func:`shared.losses.info_nce`.

Updates per batch (``update="meta"``, first order, as the official trainer): (1) encoder step on L
with the augmenters frozen; (2) augmenter step on L_cl2 + R with the encoder fixed; (3) encoder
step on L with the updated augmenters frozen. ``update="joint"`` (MCLRec-J) takes one step on L
for all parameters.

Special cases: ``meta_weight = 0`` removes the augmenters (no L_cl2, R): ``cl_weight = 0`` is
SASRec, ``cl_weight > 0`` is CL4SRec (Xie et al., ICDE 2022).

Fewer encoder passes than the reference, same updates: the reference runs the encoder forward and
backward three times per batch. Step (2) needs the encoder outputs at the parameters after step
(1) and no encoder gradient, and step (3) needs the same outputs with gradient; here one forward
after step (1) serves both ((2) reads it detached, (3) back-propagates it), so a batch costs two
encoder forward/backward passes instead of three. With dropout off the parameters after a batch
equal those of the three-pass schedule (tested); with dropout on, steps (2) and (3) share one
dropout draw instead of two independent ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recsys_cl.sasrec import SASRec, SASRecConfig
from shared.errors import InputError
from shared.losses import info_nce
from shared.losses._checks import check_pair, check_temperature
from shared.losses.registry import build_objective, check_fits
from shared.training import Optimize, TrainerConfig, make_optimizer

VIEW_CONTRAST_PROVIDES = frozenset({"two_views"})
"""What L_cl1 hands an objective: the two views' sequence representations (no sample indices)."""


@dataclass
class MCLRecConfig:
    """Loss weights and update schedule (defaults: MCLRec's official Beauty settings)."""

    cl_weight: float = 0.0  # lambda: weight of L_cl1 (CL4SRec NT-Xent between the two views)
    cl_temperature: float = 1.0  # tau of L_cl1 and of the regulariser's scores
    similarity: Literal["dot", "cos"] = "dot"  # similarity of L_cl1
    meta_weight: float = 0.05  # beta: weight of L_cl2 + R; 0 removes the augmenters
    regulariser_weight: float = 0.1  # the factor of R
    update: Literal["meta", "joint"] = "meta"
    augmenter_hidden: tuple[int, ...] = (32, 16)


class LearnableAugmenter(nn.Module):
    """MCLRec's augmentation model: an MLP on encoder outputs (GELU between layers), L2-normalised.

    Official sizes: d -> 32 -> 16 -> d (``Extractor([64, 32, 16, 64])`` in the MCLRec code).
    """

    def __init__(self, dim: int, hidden: tuple[int, ...] = (32, 16)) -> None:
        super().__init__()
        dims = [dim, *hidden, dim]
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(itertools.pairwise(dims)):
            layers.append(nn.Linear(d_in, d_out))
            if i < len(dims) - 2:
                layers.append(nn.GELU())
        self.net = nn.Sequential(*layers)

    def forward(self, h: Tensor) -> Tensor:
        return F.normalize(self.net(h), dim=-1)


def next_item_loss(h: Tensor, item_embedding: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy of the target item over all items: ``-log softmax_j(<h, E_j>)[target]``.

    ``item_embedding`` is (n_items + 1, d) with row 0 the padding id, which is not a class.
    """
    if targets.min() < 1 or targets.max() >= item_embedding.shape[0]:
        raise ValueError(
            f"targets must be item ids in 1..{item_embedding.shape[0] - 1}, got "
            f"[{int(targets.min())}, {int(targets.max())}]"
        )
    return F.cross_entropy(h @ item_embedding[1:].T, targets - 1)


def augmented_view_loss(
    h1: Tensor, h2: Tensor, z1: Tensor, z2: Tensor, pair: nn.Module | None = None
) -> Tensor:
    """MCLRec's L_cl2 = NT-Xent(h1, z2) + NT-Xent(h2, z1) + NT-Xent(z1, z2), dot product, t = 1;
    ``pair`` (a configured objective) replaces NT-Xent in the three terms."""

    def nt_xent(a: Tensor, b: Tensor) -> Tensor:
        return info_nce(a, b, 1.0, normalize=False) if pair is None else pair(a, b)

    return nt_xent(h1, z2) + nt_xent(h2, z1) + nt_xent(z1, z2)


def contrastive_regulariser(a: Tensor, b: Tensor, temperature: float = 1.0) -> Tensor:
    """MCLRec's regulariser r(a, b) on the positive vs the hardest negative score.

    Over the 2N anchors of the NT-Xent layout (rows of ``[a; b]``, scores ``s = <u, v> / t``), with
    ``p_i`` the score of anchor i with its partner view and ``m_i`` its largest score among the
    2N - 2 negatives ``n_ij``:

        r = mean_i max(0, p_i - m_i) + mean_{i,j} (max(p_i, m_i) - n_ij)

    (the official ``meta_contrast_rl_1``: hinge terms around the margins min(p, m) and max(p, m)).
    The first term is zero once the hardest negative scores above the positive; the second pulls
    every negative score up towards the larger of the two, so minimising r keeps the learned
    views from becoming trivially easy.
    """
    check_pair("a", a, "b", b)
    check_temperature(temperature)
    n = a.shape[0]
    z = torch.cat([a, b])
    scores = z @ z.T / temperature
    partner = torch.arange(2 * n, device=z.device).roll(n)
    rows = torch.arange(2 * n, device=z.device)
    positive = scores[rows, partner]
    negative = torch.ones_like(scores, dtype=torch.bool)
    negative[rows, rows] = False
    negative[rows, partner] = False
    hardest = scores.masked_fill(~negative, float("-inf")).amax(dim=1)
    upper = torch.maximum(positive, hardest)
    gap = ((upper[:, None] - scores) * negative).sum() / negative.sum()
    return F.relu(positive - hardest).mean() + gap


class MCLRec(nn.Module):
    """SASRec encoder + CL4SRec views + MCLRec learnable augmenters (module docstring)."""

    manual_optimization = True

    def __init__(
        self,
        n_items: int,
        encoder: SASRecConfig | None = None,
        cfg: MCLRecConfig | None = None,
        *,
        objective: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.cfg = cfg = cfg or MCLRecConfig()
        if cfg.cl_weight < 0 or cfg.meta_weight < 0 or cfg.regulariser_weight < 0:
            raise ValueError("cl_weight, meta_weight and regulariser_weight must be >= 0")
        check_temperature(cfg.cl_temperature, "cl_temperature")
        self.encoder = SASRec(n_items, encoder)
        dim = self.encoder.cfg.hidden_size
        self.view_objective: nn.Module | None = None
        if objective:
            if cfg.cl_weight == 0 and cfg.meta_weight == 0:
                raise InputError(
                    "objective replaces the view contrasts of CL4SRec / MCLRec (L_cl1, L_cl2), "
                    "and this SASRec run has none: use method=cl4srec or method=mclrec"
                )
            check_fits(objective, VIEW_CONTRAST_PROVIDES, method="cl4srec/mclrec view contrast")
            self.view_objective = build_objective(objective, dim=dim)
        self.augmenters = (
            nn.ModuleList([LearnableAugmenter(dim, cfg.augmenter_hidden) for _ in range(2)])
            if cfg.meta_weight > 0
            else None
        )

    @property
    def needs_views(self) -> bool:
        """Whether training batches must carry two CL4SRec views."""
        return self.cfg.cl_weight > 0 or self.augmenters is not None

    @property
    def alternating(self) -> bool:
        return self.augmenters is not None and self.cfg.update == "meta"

    def configure_optimizers(self, cfg: TrainerConfig) -> list[torch.optim.Optimizer]:
        """Meta update: [encoder optimiser, augmenter optimiser]; otherwise one for everything."""
        if self.augmenters is not None and self.alternating:
            return [
                make_optimizer(cfg, self.encoder.parameters()),
                make_optimizer(cfg, self.augmenters.parameters()),
            ]
        return [make_optimizer(cfg, self.parameters())]

    def embed(self, inputs: dict[str, Tensor]) -> Tensor:
        """Sequence representations h (B, d) of a batch ``{"seqs", "lengths"}``."""
        return self.encoder(inputs["seqs"], inputs["lengths"])

    def score(self, seqs: Tensor, lengths: Tensor) -> Tensor:
        """Scores (B, n_items + 1) of every item id as the next item; column 0 is padding."""
        return self.encoder.scores(self.encoder(seqs, lengths))

    def training_step(self, batch: dict[str, Tensor], optimize: Optimize) -> dict[str, Tensor]:
        """One batch: a single step on L, or the three meta steps (module docstring)."""
        if self.needs_views and "view1" not in batch:
            raise KeyError("this method needs batches with two views (view1/len1/view2/len2)")
        if not self.alternating:
            parts = self.losses(batch)
            loss = self.total_loss(parts)
            optimize(loss, 0)
            return {"loss": loss.detach(), **{k: v.detach() for k, v in parts.items()}}

        augmenters = self.augmenters
        assert augmenters is not None  # alternating implies augmenters
        with _frozen(augmenters):
            first = self.total_loss(self.losses(batch))
            optimize(first, 0)
        h, h1, h2 = self.encode(batch)
        assert h1 is not None and h2 is not None  # augmenters imply views
        augmenter_loss = self.augmenter_objective(h1.detach(), h2.detach())
        optimize(augmenter_loss, 1)
        with _frozen(augmenters):
            parts = self.losses(batch, (h, h1, h2))
            loss = self.total_loss(parts)
            optimize(loss, 0)
        logs = {k: v.detach() for k, v in parts.items()}
        return {
            "loss": loss.detach(),
            "loss_step1": first.detach(),
            "augmenter_loss": augmenter_loss.detach(),
            **logs,
        }

    def encode(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """h for the histories and, when views are used, h1 and h2: one encoder call."""
        if not self.needs_views:
            return self.encoder(batch["seqs"], batch["lengths"]), None, None
        parts = [
            (batch["seqs"], batch["lengths"]),
            (batch["view1"], batch["len1"]),
            (batch["view2"], batch["len2"]),
        ]
        width = max(int(seqs.shape[1]) for seqs, _ in parts)
        seqs = torch.cat([F.pad(s, (0, width - s.shape[1])) for s, _ in parts])
        lengths = torch.cat([n for _, n in parts])
        return self.encoder(seqs, lengths).chunk(3)

    def losses(
        self,
        batch: dict[str, Tensor],
        encoded: tuple[Tensor, Tensor | None, Tensor | None] | None = None,
    ) -> dict[str, Tensor]:
        """The terms of L: ``rec``, and ``cl1`` / ``cl2`` / ``reg`` when switched on (unweighted,
        except ``reg`` which includes its factor). ``encoded`` reuses an :meth:`encode` result."""
        h, h1, h2 = encoded if encoded is not None else self.encode(batch)
        parts = {"rec": next_item_loss(h, self.encoder.item_embedding.weight, batch["targets"])}
        if not self.needs_views:
            return parts
        assert h1 is not None and h2 is not None  # encode() returns views when they are needed
        if self.cfg.cl_weight > 0:
            if self.view_objective is not None:
                parts["cl1"] = self.view_objective(h1, h2)
            else:
                normalize = self.cfg.similarity == "cos"
                parts["cl1"] = info_nce(h1, h2, self.cfg.cl_temperature, normalize=normalize)
        if self.augmenters is not None:
            parts.update(self.augmenter_losses(h1, h2))
        return parts

    def augmenter_losses(self, h1: Tensor, h2: Tensor) -> dict[str, Tensor]:
        """``cl2`` (L_cl2) and ``reg`` (R with its factor) of the view representations h1, h2."""
        assert self.augmenters is not None, "augmenter_losses needs meta_weight > 0"
        z1, z2 = self.augmenters[0](h1), self.augmenters[1](h2)
        parts = {"cl2": augmented_view_loss(h1, h2, z1, z2, self.view_objective)}
        if self.cfg.regulariser_weight > 0:
            t = self.cfg.cl_temperature
            parts["reg"] = self.cfg.regulariser_weight * (
                contrastive_regulariser(h1, z2, t)
                + contrastive_regulariser(h2, z1, t)
                + contrastive_regulariser(z1, z2, t)
            )
        return parts

    def augmenter_objective(self, h1: Tensor, h2: Tensor) -> Tensor:
        """What the augmenter step minimises: L_cl2 + R (the encoder outputs are inputs here)."""
        parts = self.augmenter_losses(h1, h2)
        return parts["cl2"] + parts["reg"] if "reg" in parts else parts["cl2"]

    def total_loss(self, parts: dict[str, Tensor]) -> Tensor:
        """L = rec + lambda * cl1 + beta * (cl2 + reg) over the terms present in ``parts``."""
        loss = parts["rec"]
        if "cl1" in parts:
            loss = loss + self.cfg.cl_weight * parts["cl1"]
        if "cl2" in parts:
            loss = loss + self.cfg.meta_weight * (parts["cl2"] + parts.get("reg", 0.0))
        return loss


@contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """The module's parameters take no gradient inside the block."""
    params = list(module.parameters())
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
