"""The trainer's settings (``trainer:`` in every experiment YAML) and what a run returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal


@dataclass
class TrainerConfig:
    """How to train; every field is a YAML key under ``trainer:``."""

    epochs: int = 10
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    momentum: float = 0.9  # used by sgd
    scheduler: Literal["none", "cosine"] = "none"
    warmup_epochs: int = 0
    grad_clip: float = 0.0  # max global grad norm; 0 disables clipping
    amp: bool = False  # bf16 autocast on CPU, fp16 autocast + GradScaler on CUDA
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    seed: int = 0
    out_dir: str = "runs/default"
    checkpoint_every: int = 1  # epochs between last.pt writes; 0 disables checkpoints
    eval_every: int = 1
    monitor: str = ""  # validation metric for best.pt / early stopping ("" = none)
    monitor_mode: Literal["max", "min"] = "max"
    patience: int = 0  # evaluations without improvement before stopping; 0 = never stop early
    restore_best: bool = True
    resume: bool = False
    progress: bool = True  # a progress bar on a terminal, else a log line every 30 s
    log_every: int = 50  # steps between per-step CSV/TensorBoard rows; 0 = epoch rows only
    tensorboard: bool = True


@dataclass
class TrainResult:
    """What :meth:`shared.training.Trainer.fit` returns: the per-epoch history and the best
    validation result."""

    epochs_run: int
    global_step: int
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    stopped_early: bool = False
    out_dir: Path | None = None
