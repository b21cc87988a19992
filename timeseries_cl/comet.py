"""COMET and the sample-level baseline as ``shared.training`` methods.

COMET (Wang et al., NeurIPS 2023, "Contrast Everything: A Hierarchical Contrastive Framework for
Medical Time-Series"; code ``DL4mHealth/COMET``, ``comet.py``) trains the TS2Vec encoder with

    L = w_P L_P + w_T L_T + w_S L_S + w_O L_O

(patient, trial, sample, observation; :mod:`timeseries_cl.levels`). Views: the patient and trial
levels contrast two passes without timestamp masking (they differ by the encoder's dropout), the
sample and observation levels two passes with ``continuous`` masks (the reference's
``masks``: all_true, all_true, continuous, continuous). Differences from the reference,
deliberate and documented:

- Weights are real: the reference multiplies ``factor`` only inside its hierarchical branch, so
  its patient and trial factors act as on/off switches (any non-zero value means weight 1). Here
  every level is multiplied by its weight. ``weights=(1, 1, 0.25, 0.25)`` reproduces the
  reference's default objective ``factors=[0.25, 0.25, 0.25, 0.25]``.
- The two unmasked levels share one pair of views and the two masked levels share one pair
  (each pair is drawn from the same distribution as the reference's separate pairs). The two
  unmasked views differ only by the encoder's final dropout, so they share one representation
  and draw two dropout masks on it; that representation and the two masked ones are computed in
  one batched encoder pass (``DilatedConvEncoder.views``: the same random draws, in the same
  order, and the same values as separate passes): 3 representations per step instead of the
  reference's 8 passes. A level with weight 0 is skipped, and so is a pair nobody uses.
- ``contrast`` (the config's ``objective:`` section) may replace TS2Vec's NTXent at the sample
  and observation levels by any stateless two-view objective of ``shared.losses.registry``
  (:func:`comet_objectives` lists them); the trial and patient levels keep their loss.
- ``pairing`` chooses the trial / patient pairs: ``"official"`` (the reference's) or ``"ours"``
  (every pair both ways; :mod:`timeseries_cl.levels`).

Representations for evaluation come from an equal-weight running average of the encoder's
weights over the initial weights and all optimisation steps
(``torch.optim.swa_utils.AveragedModel``), as in COMET and TS2Vec; ``embed`` max-pools it over
the observed timestamps. The average is updated right after each optimiser step, through the
trainer's ``on_after_optimizer_step`` hook, so these methods also train under DDP.

The baseline :class:`SampleContrast` is SimCLR-style instance discrimination (Chen et al. 2020)
on the same encoder: two ``continuous``-masked views, max-pooled over time, NT-Xent
(``shared.losses.info_nce``, cosine similarity, temperature ``temperature``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from shared.errors import InputError
from shared.losses import info_nce
from shared.losses.registry import (
    build_objective,
    check_fits,
    describe_objectives,
    fitting_objectives,
    objective_names,
)
from timeseries_cl import levels
from timeseries_cl.encoder import DilatedConvEncoder, max_pool_time, observed_timestamps

Batch = Mapping[str, Tensor]
SAMPLE_CONTRAST_PROVIDES = frozenset({"two_views", "index"})
"""What the sample baseline hands an objective: the two pooled views and the window indices."""
COMET_LEVELS_PROVIDE = frozenset({"two_views"})
"""What COMET's sample and observation levels hand an objective: two views of each problem."""


def comet_objectives() -> list[str]:
    """The objectives that fit COMET's sample and observation levels: two-view ones without
    state. A level calls its objective once per timestamp or sample at every resolution, on
    rows that are timestamps or windows of one step, so per-sample state (iSogCLR), a queue of
    past keys (MoCHi) or prototypes (SwAV) has nothing consistent to attach to."""
    stateful = {d["name"] for d in describe_objectives() if d["stateful"]}
    return [name for name in fitting_objectives(COMET_LEVELS_PROVIDE) if name not in stateful]


def check_comet_objective(section: Mapping[str, Any]) -> None:
    """Raise :class:`~shared.errors.InputError` when ``section`` names an objective that cannot
    be COMET's sample / observation contrast, listing those that fit (unknown names and keys are
    reported by ``build_objective``)."""
    name = section.get("name")
    fits = comet_objectives()
    if name in objective_names() and name not in fits:
        raise InputError(
            f"objective '{name}' does not fit method 'comet': its sample and observation levels "
            "call the objective on two views of each timestamp's or sample's embeddings, without "
            f"dataset indices, labels or state; objectives that fit 'comet': {', '.join(fits)}"
        )


@dataclass
class EncoderConfig:
    """TS2Vec encoder sizes (COMET defaults: hidden 64, 10 residual blocks, output 320)."""

    hidden_dims: int = 64
    output_dims: int = 320
    depth: int = 10
    dropout: float = 0.1


@dataclass
class LevelWeights:
    """w_P, w_T, w_S, w_O of the COMET objective (non-negative, not all zero)."""

    patient: float = 0.25
    trial: float = 0.25
    sample: float = 0.25
    observation: float = 0.25

    def __post_init__(self) -> None:
        values = (self.patient, self.trial, self.sample, self.observation)
        if min(values) < 0 or max(values) == 0:
            raise ValueError(f"level weights must be >= 0 and not all zero, got {self}")


class AveragedEncoderMethod(nn.Module, ABC):
    """An encoder trained by ``objective(batch)`` plus its weight average used by ``embed``."""

    def __init__(self, input_dims: int, encoder: EncoderConfig) -> None:
        super().__init__()
        self.encoder = DilatedConvEncoder(
            input_dims, encoder.output_dims, encoder.hidden_dims, encoder.depth, encoder.dropout
        )
        self.averaged = AveragedModel(self.encoder)
        self.averaged.update_parameters(self.encoder)  # the initial weights count, as in COMET
        self.averaged.requires_grad_(False)

    @abstractmethod
    def objective(self, batch: Batch) -> dict[str, Tensor]:
        """The losses of one batch; ``"loss"`` is minimised, the others are logged."""

    def training_step(self, batch: Batch) -> dict[str, Tensor]:
        losses = self.objective(batch)
        return {k: v if k == "loss" else v.detach() for k, v in losses.items()}

    def on_after_optimizer_step(self, index: int) -> None:
        """The trainer's hook after each optimiser step: fold the new weights into the average."""
        self.averaged.update_parameters(self.encoder)

    @torch.no_grad()
    def embed(self, inputs: Tensor) -> Tensor:
        """(B, T, C) series (NaN = missing) -> (B, output_dims): averaged encoder, max-pooled."""
        return max_pool_time(self.averaged(inputs), observed_timestamps(inputs))


class COMET(AveragedEncoderMethod):
    """COMET (Wang et al., NeurIPS 2023): L = w_P L_P + w_T L_T + w_S L_S + w_O L_O.

    L_P / L_T: CLOCS-style same-patient / same-trial contrast of two unmasked views
    (:func:`~timeseries_cl.levels.id_contrast`); L_S / L_O: TS2Vec instance / temporal contrast
    of two masked views, averaged over max-pooled resolutions
    (:func:`~timeseries_cl.levels.hierarchical_levels`). See the module docstring for the
    differences from the reference code.

    Batches are dicts with ``x`` (B, T, C), ``patient`` (B,) and ``trial`` (B,) ids; use
    :class:`~timeseries_cl.sampler.HierarchicalBatchSampler` so same-trial and same-patient
    samples share batches.
    """

    def __init__(
        self,
        input_dims: int,
        encoder: EncoderConfig | None = None,
        weights: LevelWeights | None = None,
        temperature: float = 0.1,
        pairing: levels.Pairing = "ours",
        *,
        contrast: Mapping[str, Any] | None = None,
    ) -> None:
        """``contrast``: an ``objective:`` section (``shared.losses.registry``) replacing NTXent
        at the sample and observation levels; None or empty keeps TS2Vec's."""
        enc = encoder or EncoderConfig()
        super().__init__(input_dims, enc)
        self.weights = weights or LevelWeights()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if pairing not in levels.PAIRINGS:
            raise ValueError(f"pairing must be one of {levels.PAIRINGS}, got {pairing!r}")
        self.temperature = temperature
        self.pairing = pairing
        self.contrast: nn.Module | None = None
        if contrast:
            check_comet_objective(contrast)
            self.contrast = build_objective(contrast, dim=enc.output_dims)

    def objective(self, batch: Batch) -> dict[str, Tensor]:
        x, w = batch["x"], self.weights
        out: dict[str, Tensor] = {}
        ids = [name for name in ("patient", "trial") if getattr(w, name)]
        masked = bool(w.sample or w.observation)
        masks = ["all_true"] * 2 * bool(ids) + ["continuous"] * 2 * masked
        views = self.encoder.views(x, masks)
        if ids:
            losses = levels.id_contrasts(
                views[0], views[1], [batch[name] for name in ids], self.temperature, self.pairing
            )
            out.update(zip(ids, losses, strict=True))
        if masked:
            sample, observation = levels.hierarchical_levels(views[-2], views[-1], self.contrast)
            if w.sample:
                out["sample"] = sample
            if w.observation:
                out["observation"] = observation
        out["loss"] = sum(getattr(w, name) * value for name, value in out.items())
        return out


class SampleContrast(AveragedEncoderMethod):
    """Sample-level baseline: NT-Xent on max-pooled masked views (SimCLR-style)."""

    def __init__(
        self,
        input_dims: int,
        encoder: EncoderConfig | None = None,
        temperature: float = 0.1,
        *,
        contrast: Mapping[str, Any] | None = None,
        num_samples: int | None = None,
    ) -> None:
        """``contrast``: an ``objective:`` section (``shared.losses.registry``) replacing NT-Xent
        between the two pooled views; ``num_samples`` sizes per-sample state (iSogCLR)."""
        enc = encoder or EncoderConfig()
        super().__init__(input_dims, enc)
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.contrast: nn.Module | None = None
        if contrast:
            check_fits(contrast, SAMPLE_CONTRAST_PROVIDES, method="sample")
            self.contrast = build_objective(contrast, dim=enc.output_dims, num_samples=num_samples)

    def objective(self, batch: Batch) -> dict[str, Tensor]:
        x = batch["x"]
        observed = observed_timestamps(x)
        h1, h2 = (max_pool_time(z, observed) for z in self.encoder.views(x, ["continuous"] * 2))
        if self.contrast is not None:
            return {"loss": self.contrast(h1, h2, index=batch.get("index"))}
        return {"loss": info_nce(h1, h2, self.temperature)}
