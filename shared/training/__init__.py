"""The trainer every method runs through, and what it is built from.

- :mod:`~shared.training.loop`: :class:`Trainer` (the loop, validation, early stopping, DDP).
- :mod:`~shared.training.config`: :class:`TrainerConfig` (``trainer:``), :class:`TrainResult`.
- :mod:`~shared.training.schedule`: optimisers and the warm-up + cosine learning-rate schedule.
- :mod:`~shared.training.checkpoint`: atomic checkpoints, exact-resume reads, orphan clean-up.
- :mod:`~shared.training.rng`: seeding and the generator states a checkpoint carries.
- :mod:`~shared.training.batches`: devices, moving batches, counting samples.
- :mod:`~shared.training.run_log` and :mod:`~shared.training.progress`: metrics.csv + TensorBoard,
  the progress bar / periodic log line.

    >>> from shared.training import Trainer, TrainerConfig, seed_everything
    >>> seed_everything(0)
    >>> result = Trainer(TrainerConfig(epochs=5, out_dir="runs/x"), method).fit(loader)
"""

from shared.training.batches import batch_size_of, move_to_device, resolve_device
from shared.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    load_checkpoint,
    load_model_weights,
    save_checkpoint_atomic,
)
from shared.training.config import TrainerConfig, TrainResult
from shared.training.loop import Trainer
from shared.training.rng import seed_everything
from shared.training.schedule import Optimize, lr_factor, make_optimizer, make_scheduler

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "Optimize",
    "TrainResult",
    "Trainer",
    "TrainerConfig",
    "batch_size_of",
    "load_checkpoint",
    "load_model_weights",
    "lr_factor",
    "make_optimizer",
    "make_scheduler",
    "move_to_device",
    "resolve_device",
    "save_checkpoint_atomic",
    "seed_everything",
]
