"""Typed experiment config for ``contrast timeseries`` (YAML + dotted overrides, ``shared.config``).

Every field has a default, so ``load_config(TimeseriesExperiment, None, [])`` is the synthetic
demo setting. ``configs/timeseries/*.yaml`` hold the real-data experiments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from shared.training import TrainerConfig
from timeseries_cl.comet import EncoderConfig, LevelWeights


@dataclass
class TimeseriesDataConfig:
    """Which data, how it is windowed and split (patient-independent).

    ``source`` (read by :func:`timeseries_cl.data_io.load_source`): ``synthetic``
    (:func:`~timeseries_cl.synthetic.synthetic_hierarchical`), ``uci_eeg`` (``root`` = the folder
    of ``co2a*``/``co2c*`` subjects), ``comet_npy`` (``root`` holds COMET's ``Feature/`` and
    ``Label/``) or ``ptb_wfdb`` (``root`` = the PTB Diagnostic ECG Database's ``patientNNN/``
    folders; ``window`` is the heartbeat length, COMET's 300; ``stride`` is not used).
    ``downsample`` applies to ``uci_eeg`` only. ``split``: patient fractions of train /
    validation / test, drawn with ``split_seed``.
    """

    source: Literal["synthetic", "uci_eeg", "comet_npy", "ptb_wfdb"] = "synthetic"
    root: str = ""
    window: int = 64
    stride: int = 32
    downsample: int = 1
    split: tuple[float, float, float] = (0.6, 0.2, 0.2)
    split_seed: int = 0
    synthetic_patients: int = 16
    synthetic_trials: int = 6
    synthetic_channels: int = 4


@dataclass
class COMETConfig:
    """COMET's level weights (w_P, w_T, w_S, w_O), temperature and the trial / patient pairing
    (``official``: the reference's half of the same-id pairs, averaged over pairs; ``ours``: every
    pair in both directions, averaged per anchor; :func:`timeseries_cl.levels.id_contrast`)."""

    weights: LevelWeights = field(default_factory=LevelWeights)
    temperature: float = 0.1
    pairing: Literal["official", "ours"] = "ours"


@dataclass
class SampleContrastConfig:
    """The SimCLR-style sample-level baseline's NT-Xent temperature."""

    temperature: float = 0.1


@dataclass
class TimeseriesEvalConfig:
    """Downstream protocol on the patient-independent test split.

    For each label fraction (of the training samples, stratified by label, drawn with the run's
    seed): a linear probe on frozen features (C chosen on the validation patients) and full
    fine-tuning of encoder + classifier head for ``finetune_epochs`` (AdamW, ``finetune_lr``).
    """

    fractions: tuple[float, ...] = (1.0, 0.1, 0.01)
    finetune_epochs: int = 10
    finetune_lr: float = 1e-4
    finetune_batch_size: int = 128


@dataclass
class TimeseriesCrossvalConfig:
    """Patient-level k-fold cross-validation (:func:`timeseries_cl.crossval.run_crossval`):
    ``folds`` stratified test folds (each patient a test patient once), every fold trained with
    each of ``seeds``."""

    folds: int = 5
    seeds: tuple[int, ...] = (0, 1, 2)


@dataclass
class TimeseriesExperiment:
    """data -> hierarchical batches -> encoder -> method's objective -> trainer -> probe and
    fine-tuning on held-out patients.

    ``method`` names the pretraining algorithm: ``comet`` (four levels, section ``comet:``) or
    ``sample`` (the SimCLR-style baseline, section ``sample:``); both train the TS2Vec encoder
    ``encoder:`` on batches of ``batch_size`` windows that keep ``trials_per_patient`` trials of a
    patient together.
    """

    method: Literal["comet", "sample"] = "comet"
    data: TimeseriesDataConfig = field(default_factory=TimeseriesDataConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    comet: COMETConfig = field(default_factory=COMETConfig)
    sample: SampleContrastConfig = field(default_factory=SampleContrastConfig)
    batch_size: int = 64
    trials_per_patient: int = 2
    # The contrast by name (`contrast objectives`), e.g. {name: dcl}: the sample baseline's
    # (empty: NT-Xent at sample.temperature) or COMET's sample and observation levels' (empty:
    # TS2Vec's NTXent; timeseries_cl.comet.comet_objectives lists those that fit).
    objective: dict[str, Any] = field(default_factory=dict)
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(
            epochs=5, lr=1e-3, optimizer="adamw", out_dir="runs/timeseries/demo"
        )
    )
    eval: TimeseriesEvalConfig = field(default_factory=TimeseriesEvalConfig)
    crossval: TimeseriesCrossvalConfig = field(default_factory=TimeseriesCrossvalConfig)
