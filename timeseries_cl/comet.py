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
  unmasked views differ only by the encoder's final dropout, so they share one encoder pass and
  draw two dropout masks on it (the same random draws, in the same order, as two passes): 3
  encoder passes per step instead of the reference's 8. A level with weight 0 is skipped, and so
  is a pair nobody uses.
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

from shared.losses import info_nce
from shared.losses.registry import build_objective, check_fits
from timeseries_cl import levels
from timeseries_cl.encoder import DilatedConvEncoder, max_pool_time, observed_timestamps

Batch = Mapping[str, Tensor]
SAMPLE_CONTRAST_PROVIDES = frozenset({"two_views", "index"})
"""What the sample baseline hands an objective: the two pooled views and the window indices."""


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
    ) -> None:
        super().__init__(input_dims, encoder or EncoderConfig())
        self.weights = weights or LevelWeights()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if pairing not in levels.PAIRINGS:
            raise ValueError(f"pairing must be one of {levels.PAIRINGS}, got {pairing!r}")
        self.temperature = temperature
        self.pairing = pairing

    def objective(self, batch: Batch) -> dict[str, Tensor]:
        x, w = batch["x"], self.weights
        out: dict[str, Tensor] = {}
        if w.patient or w.trial:
            # the unmasked views differ only by the final dropout: one pass, two dropout draws
            h = self.encoder.represent(x, "all_true")
            z1, z2 = self.encoder.repr_dropout(h), self.encoder.repr_dropout(h)
            names = [name for name in ("patient", "trial") if getattr(w, name)]
            ids = [batch[name] for name in names]
            losses = levels.id_contrasts(z1, z2, ids, self.temperature, self.pairing)
            out.update(zip(names, losses, strict=True))
        if w.sample or w.observation:
            z1, z2 = self.encoder(x, "continuous"), self.encoder(x, "continuous")
            sample, observation = levels.hierarchical_levels(z1, z2)
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
        h1 = max_pool_time(self.encoder(x, "continuous"), observed)
        h2 = max_pool_time(self.encoder(x, "continuous"), observed)
        if self.contrast is not None:
            return {"loss": self.contrast(h1, h2, index=batch.get("index"))}
        return {"loss": info_nce(h1, h2, self.temperature)}
