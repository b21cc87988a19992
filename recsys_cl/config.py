"""The recommendation experiment config: one YAML per experiment (``configs/recsys``).

``method`` names the algorithm and its hyper-parameters sit in the section of that name:

- ``sasrec``: the SASRec encoder alone, next-item cross-entropy (no section of its own);
- ``cl4srec``: SASRec + NT-Xent between two crop / mask / reorder views (``cl4srec:``);
- ``mclrec``: CL4SRec + learnable augmenters, meta or joint updates (``mclrec:``);
- ``dccf``: disentangled contrastive collaborative filtering on the user-item graph (``dccf:``).

The sequential methods share the encoder section ``model:`` (SASRec sizes) and the views
``augment:``. Every field has a default, so ``load_config(RecsysExperiment, None, [])`` is a short
MCLRec run on the synthetic taste/Markov-chain data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from recsys_cl.augment import SequenceAugmenter
from recsys_cl.dccf import DCCFConfig
from recsys_cl.mclrec import MCLRecConfig
from recsys_cl.sasrec import SASRecConfig
from shared.training import TrainerConfig

SEQUENTIAL_METHODS = ("sasrec", "cl4srec", "mclrec")


@dataclass
class RecsysDataConfig:
    """Which interactions: ``name: synthetic`` or a file under ``root`` (``.txt`` or ``.inter``)."""

    name: str = "synthetic"
    root: str = "../shared/data/recsys"
    download: bool = False  # fetch a missing file from its public URL (data_io.PUBLIC_URLS)
    max_length: int = 50
    synthetic_users: int = 1000
    synthetic_items: int = 300
    synthetic_tastes: int = 10
    synthetic_mean_length: float = 12.0
    synthetic_seed: int = 0


@dataclass
class RecsysEvalConfig:
    batch_size: int = 256  # histories scored at a time against all items
    ks: tuple[int, ...] = (5, 10, 20)
    # Leave the user's history out of the candidates (the S3Rec / ICLRec / CoSeRec protocol).
    # False ranks against every item (MCLRec's RecBole protocol, the published MCLRec numbers).
    # DCCF always leaves its training items out.
    exclude_history: bool = False


@dataclass
class CL4SRecConfig:
    """CL4SRec (Xie et al., ICDE 2022): lambda, tau and similarity of the view contrast."""

    cl_weight: float = 0.1
    cl_temperature: float = 1.0
    similarity: Literal["dot", "cos"] = "dot"


@dataclass
class DCCFRunConfig(DCCFConfig):
    """DCCF's model and loss hyper-parameters plus its sampling: ``batches_per_epoch`` batches of
    ``batch_size`` users (official: 40 of 10240)."""

    batches_per_epoch: int = 40


@dataclass
class RecsysExperiment:
    """data -> views -> encoder -> method's objective -> trainer -> full-ranking evaluation."""

    method: Literal["sasrec", "cl4srec", "mclrec", "dccf"] = "mclrec"
    data: RecsysDataConfig = field(default_factory=RecsysDataConfig)
    model: SASRecConfig = field(default_factory=SASRecConfig)
    augment: SequenceAugmenter = field(default_factory=SequenceAugmenter)
    cl4srec: CL4SRecConfig = field(default_factory=CL4SRecConfig)
    mclrec: MCLRecConfig = field(default_factory=MCLRecConfig)
    dccf: DCCFRunConfig = field(default_factory=DCCFRunConfig)
    batch_size: int = 256
    # The view contrast L_cl1 of cl4srec / mclrec by name (`contrast objectives`), e.g.
    # {name: dcl, temperature: 1.0}; empty keeps the published NT-Xent.
    objective: dict[str, Any] = field(default_factory=dict)
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(
            epochs=20,
            lr=1e-3,
            out_dir="runs/recsys",
            monitor="MRR@10",
            monitor_mode="max",
            patience=10,
        )
    )
    eval: RecsysEvalConfig = field(default_factory=RecsysEvalConfig)


def mclrec_config(exp: RecsysExperiment) -> MCLRecConfig:
    """The loss weights of the sequential method ``exp.method`` names, as MCLRec's (SASRec and
    CL4SRec are MCLRec with the augmenters, and for SASRec the view contrast, switched off)."""
    if exp.method == "sasrec":
        return MCLRecConfig(cl_weight=0.0, meta_weight=0.0)
    if exp.method == "cl4srec":
        c = exp.cl4srec
        return MCLRecConfig(
            cl_weight=c.cl_weight,
            cl_temperature=c.cl_temperature,
            similarity=c.similarity,
            meta_weight=0.0,
        )
    if exp.method == "mclrec":
        return exp.mclrec
    raise ValueError(f"method '{exp.method}' is not a sequential recommender")
