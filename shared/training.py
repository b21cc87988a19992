"""The one training loop every method runs through.

A *method* is an ``nn.Module`` with ``training_step(batch) -> dict[str, Tensor]`` (the dict holds
``"loss"``; other entries are logged) and ``embed(inputs) -> Tensor``. The :class:`Trainer` owns
everything else: seeding, device and AMP, optimiser and schedule, gradient clipping, a progress bar
with loss and throughput, CSV + TensorBoard logs, atomic checkpoints with exact resume, validation
with early stopping, and DDP when launched with ``torchrun``.

Methods that alternate several optimisers (MCLRec's encoder / augmenter steps) set
``manual_optimization = True``; the trainer then calls ``training_step(batch, optimize)`` and
``optimize(loss, index)`` performs zero-grad, (scaled) backward, clipping and the step of
optimiser ``index``.
"""

from __future__ import annotations

import csv
import logging
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from shared import distributed
from shared.config import save_config

log = logging.getLogger("contrast")

_NAN_ADVICE = "lower the learning rate, enable trainer.grad_clip, or check the inputs for NaN"

CHECKPOINT_FORMAT = "contrastive-suite/checkpoint-v1"


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
    progress: bool = True
    log_every: int = 50  # steps between per-step CSV/TensorBoard rows
    tensorboard: bool = True


@dataclass
class TrainResult:
    epochs_run: int
    global_step: int
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best_metric: float | None = None
    stopped_early: bool = False
    out_dir: Path | None = None


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices); make cuDNN deterministic."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (seed the legacy global RNG users rely on)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if distributed.is_distributed() and torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device '{name}' was requested but CUDA is not available on this machine"
        )
    return device


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Recursively move tensors (and objects with ``.to``, e.g. PyG ``Data``) to ``device``."""
    if isinstance(batch, Tensor) or (
        hasattr(batch, "to") and not isinstance(batch, nn.Module | type)
    ):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return type(batch)({k: move_to_device(v, device) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(move_to_device(v, device) for v in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch


def batch_size_of(batch: Any) -> int:
    """Samples in ``batch``: its integer ``batch_size`` attribute when it has one, a PyG graph's
    node count, else the leading dimension of the first tensor found (searching mappings,
    sequences and dataclass fields in order)."""
    if isinstance(batch, Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    size = getattr(batch, "batch_size", None)
    if isinstance(size, int) and not isinstance(size, bool):
        return size
    if hasattr(batch, "num_nodes") and isinstance(batch.num_nodes, int):
        return batch.num_nodes
    if is_dataclass(batch) and not isinstance(batch, type):
        items = (getattr(batch, f.name) for f in fields(batch))
    elif isinstance(batch, Mapping):
        items = batch.values()
    elif isinstance(batch, list | tuple):
        items = batch
    else:
        items = ()
    for item in items:
        size = batch_size_of(item)
        if size:
            return size
    return 0


def make_optimizer(cfg: TrainerConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimiser ``cfg`` names (adam, adamw or sgd) over ``params``, with its lr and decay.

    Methods with several optimisers build each one with this in ``configure_optimizers``.
    """
    params = list(params)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=cfg.momentum)


def save_checkpoint_atomic(state: dict[str, Any], path: str | os.PathLike) -> Path:
    """``torch.save`` to a temp file in the same folder, fsync, then rename over ``path``.

    A run killed mid-write leaves the previous checkpoint intact.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint_atomic`; errors say what to do."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for truncated / foreign files
        raise RuntimeError(
            f"checkpoint {path} is corrupt or truncated and cannot be read ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'no detail'}); delete it to start over"
        ) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise RuntimeError(
            f"{path} is not a contrastive-suite checkpoint (format {CHECKPOINT_FORMAT})"
        )
    return state


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()  # noqa: NPY002
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_tuples(state["python"]))
    npy = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            "MT19937",
            npy["keys"].numpy().astype(np.uint32),
            npy["pos"],
            npy["has_gauss"],
            npy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuples(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_as_tuples(v) for v in value)
    return value


class _StepModule(nn.Module):
    """Routes ``forward`` to ``training_step`` so DDP sees (and synchronises) every step."""

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: Any) -> dict[str, Tensor]:
        return self.method.training_step(batch)


class Trainer:
    """Runs a method's ``training_step`` over ``train_batches`` for ``cfg.epochs`` epochs.

    Args:
        cfg: the trainer settings.
        method: the model; see the module docstring for its contract.
        experiment: the whole resolved experiment config, saved as ``out_dir/config.yaml``.
    """

    def __init__(self, cfg: TrainerConfig, method: nn.Module, experiment: Any = None) -> None:
        if cfg.epochs < 1:
            raise ValueError(f"trainer.epochs must be >= 1, got {cfg.epochs}")
        if cfg.lr <= 0:
            raise ValueError(f"trainer.lr must be > 0, got {cfg.lr}")
        if cfg.patience and not cfg.monitor:
            raise ValueError(
                "trainer.patience needs trainer.monitor (the validation metric to watch)"
            )
        if not callable(getattr(method, "training_step", None)):
            raise TypeError(f"{type(method).__name__} has no training_step(batch) method")
        self.cfg = cfg
        self.experiment = experiment
        self.out_dir = Path(cfg.out_dir)
        distributed.init_from_env()
        self.is_main = distributed.rank() == 0
        self.device = resolve_device(cfg.device)
        self.method = method.to(self.device)
        self.manual = bool(getattr(method, "manual_optimization", False))
        self.optimizers = self._build_optimizers()
        self.schedulers = [self._build_scheduler(opt) for opt in self.optimizers]
        self.amp_dtype = torch.bfloat16 if self.device.type == "cpu" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=cfg.amp and self.device.type == "cuda")
        self.step_module: nn.Module = _StepModule(self.method)
        if distributed.is_distributed():
            if self.manual:
                raise ValueError(
                    f"{type(method).__name__} uses manual optimisation, which the trainer does not "
                    "run "
                    "under DDP; train it in a single process"
                )
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.step_module = nn.parallel.DistributedDataParallel(self.step_module, device_ids=ids)
        self.epoch = 0
        self.global_step = 0
        self.best_metric: float | None = None
        self.best_epoch: int | None = None
        self.bad_evals = 0
        self.history: list[dict[str, float]] = []
        self._csv: Any = None
        self._tb: Any = None
        # Reading a loss on the host waits for the device. On the CPU that is free, so losses are
        # read (and checked for NaN before the update) every step; on an accelerator they stay on
        # the device and are read every ``host_read_every_s`` seconds, at logged steps and at the
        # end of an epoch, so the host does not wait for the device after every step.
        self.host_read_every_s = 0.0 if self.device.type == "cpu" else 0.5
        self._finite: Tensor | None = None

    # ------------------------------------------------------------------ setup
    def _build_optimizers(self) -> list[torch.optim.Optimizer]:
        configure = getattr(self.method, "configure_optimizers", None)
        if callable(configure):
            result = configure(self.cfg)
            opts = list(result) if isinstance(result, list | tuple) else [result]
        else:
            params = [p for p in self.method.parameters() if p.requires_grad]
            if not params:
                raise ValueError(f"{type(self.method).__name__} has no trainable parameters")
            opts = [make_optimizer(self.cfg, params)]
        if self.manual and not opts:
            raise ValueError("configure_optimizers returned no optimizer")
        return opts

    def _build_scheduler(
        self, opt: torch.optim.Optimizer
    ) -> torch.optim.lr_scheduler.LambdaLR | None:
        """Per-epoch schedule: linear warm-up, then cosine decay to 0 (``scheduler: cosine``)."""
        if self.cfg.scheduler == "none":
            return None
        warmup, total = self.cfg.warmup_epochs, self.cfg.epochs

        def factor(epoch: int) -> float:
            if epoch < warmup:
                return (epoch + 1) / (warmup + 1)
            progress = (epoch - warmup) / max(1, total - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

        return torch.optim.lr_scheduler.LambdaLR(opt, factor)

    # ------------------------------------------------------------ checkpoint
    def _state(self, train_batches: Any) -> dict[str, Any]:
        state = {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "model": self.method.state_dict(),
            "optimizers": [opt.state_dict() for opt in self.optimizers],
            "schedulers": [s.state_dict() if s else None for s in self.schedulers],
            "scaler": self.scaler.state_dict(),
            "rng": _rng_state(),
            "best_metric": self.best_metric,
            "best_epoch": self.best_epoch,
            "bad_evals": self.bad_evals,
            "history": self.history,
        }
        generator = getattr(train_batches, "generator", None)
        if isinstance(generator, torch.Generator):
            state["loader_generator"] = generator.get_state()
        return state

    def _restore(self, state: dict[str, Any], train_batches: Any) -> None:
        try:
            self.method.load_state_dict(state["model"])
        except RuntimeError as err:
            raise RuntimeError(
                f"checkpoint in {self.out_dir} does not fit this model (different architecture or "
                f"config?): {str(err).splitlines()[0]}"
            ) from err
        if len(state["optimizers"]) != len(self.optimizers):
            raise RuntimeError("checkpoint has a different number of optimisers than this method")
        for opt, opt_state in zip(self.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(opt_state)
        for sched, sched_state in zip(self.schedulers, state["schedulers"], strict=True):
            if sched is not None and sched_state is not None:
                sched.load_state_dict(sched_state)
        self.scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"])
        generator = getattr(train_batches, "generator", None)
        if isinstance(generator, torch.Generator) and "loader_generator" in state:
            generator.set_state(state["loader_generator"])
        self.epoch = state["epoch"]
        self.global_step = state["global_step"]
        self.best_metric = state["best_metric"]
        self.best_epoch = state["best_epoch"]
        self.bad_evals = state["bad_evals"]
        self.history = list(state["history"])

    # --------------------------------------------------------------- logging
    def _open_logs(self, resumed: bool) -> None:
        if not self.is_main:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        csv_path = self.out_dir / "metrics.csv"
        kept: list[list[str]] = []
        if resumed and csv_path.is_file():  # drop rows written after the checkpoint we resume from
            with csv_path.open(newline="") as fh:
                kept = [
                    row for row in list(csv.reader(fh))[1:] if row and int(row[0]) <= self.epoch
                ]
        fh = csv_path.open("w", newline="")
        self._csv = (fh, csv.writer(fh))
        self._csv[1].writerow(["epoch", "step", "split", "name", "value"])
        self._csv[1].writerows(kept)
        if self.cfg.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(
                log_dir=str(self.out_dir / "tensorboard"), purge_step=self.global_step
            )

    def _log(self, split: str, values: Mapping[str, float], step: int, epoch: int) -> None:
        """One CSV row per value; ``epoch`` is the 1-based epoch the values belong to."""
        if not self.is_main or self._csv is None:
            return
        for name, value in values.items():
            self._csv[1].writerow([epoch, step, split, name, f"{value:.8g}"])
            if self._tb is not None:
                self._tb.add_scalar(f"{split}/{name}", value, step)
        self._csv[0].flush()

    def _close_logs(self) -> None:
        if self._csv is not None:
            self._csv[0].close()
            self._csv = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    # ------------------------------------------------------------------ loop
    def _optimize(self, loss: Tensor, index: int = 0) -> None:
        finite = torch.isfinite(loss.detach())
        if self.host_read_every_s == 0:
            if not finite:
                raise FloatingPointError(
                    f"loss became {loss.item()} at epoch {self.epoch + 1}, step "
                    f"{self.global_step + 1}; {_NAN_ADVICE}"
                )
        else:
            self._finite = finite if self._finite is None else self._finite & finite
        opt = self.optimizers[index]
        opt.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.grad_clip > 0:
            self.scaler.unscale_(opt)
            params = [p for group in opt.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        self.scaler.step(opt)
        self.scaler.update()

    def _run_step(self, batch: Any) -> dict[str, Tensor]:
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.cfg.amp):
            if self.manual:
                losses = self.method.training_step(batch, self._optimize)
            else:
                losses = self.step_module(batch)
        if not isinstance(losses, Mapping) or "loss" not in losses:
            raise TypeError(
                f"{type(self.method).__name__}.training_step must return a dict with a 'loss' entry"
            )
        if not self.manual:
            self._optimize(losses["loss"])
        return losses

    def fit(
        self,
        train_batches: Iterable[Any],
        validate: Callable[[], Mapping[str, float]] | None = None,
    ) -> TrainResult:
        """Train; returns the per-epoch history and the best validation result."""
        cfg = self.cfg
        resumed = False
        if cfg.resume:
            last = self.out_dir / "last.pt"
            if last.is_file():
                self._restore(load_checkpoint(last, map_location=self.device), train_batches)
                resumed = True
                log.info("resumed from %s at epoch %d", last, self.epoch)
            else:
                log.warning(
                    "trainer.resume is set but %s does not exist; starting from scratch", last
                )
        if not resumed:
            if self.is_main and (self.out_dir / "last.pt").is_file():
                log.warning(
                    "%s already holds a run's last.pt; this new run will overwrite it (pass "
                    "--resume / trainer.resume=true to continue that run instead)",
                    self.out_dir,
                )
            seed_everything(cfg.seed + distributed.rank())
        if self.is_main and self.experiment is not None:
            save_config(self.experiment, self.out_dir / "config.yaml")
        self._open_logs(resumed)
        stopped_early = False
        try:
            while self.epoch < cfg.epochs and not stopped_early:
                summary = self._train_epoch(train_batches)
                self.epoch += 1
                for sched in self.schedulers:
                    if sched is not None:
                        sched.step()
                hook = getattr(self.method, "on_epoch_end", None)
                if callable(hook):
                    hook(self.epoch)
                if validate is not None and (
                    self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs
                ):
                    metrics = self._validate(validate)
                    summary.update({f"val_{k}": v for k, v in metrics.items()})
                    stopped_early = self._track_best(metrics)
                self.history.append({"epoch": float(self.epoch), **summary})
                self._log_epoch(summary)
                if (
                    self.is_main
                    and cfg.checkpoint_every
                    and (
                        self.epoch % cfg.checkpoint_every == 0
                        or self.epoch == cfg.epochs
                        or stopped_early
                    )
                ):
                    save_checkpoint_atomic(self._state(train_batches), self.out_dir / "last.pt")
        finally:
            self._close_logs()
        if (
            cfg.restore_best
            and self.best_epoch is not None
            and (self.out_dir / "best.pt").is_file()
        ):
            best = load_checkpoint(self.out_dir / "best.pt", map_location=self.device)
            self.method.load_state_dict(best["model"])
        if stopped_early:
            log.info(
                "early stopping at epoch %d: %s did not improve for %d evaluations",
                self.epoch,
                cfg.monitor,
                cfg.patience,
            )
        return TrainResult(
            epochs_run=self.epoch,
            global_step=self.global_step,
            history=self.history,
            best_epoch=self.best_epoch,
            best_metric=self.best_metric,
            stopped_early=stopped_early,
            out_dir=self.out_dir,
        )

    def _train_epoch(self, train_batches: Iterable[Any]) -> dict[str, float]:
        self.method.train()
        sampler = getattr(train_batches, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
        totals: dict[str, Tensor] = {}
        n_batches = n_samples = 0
        start = last_read = time.perf_counter()
        first_unread = self.global_step + 1
        bar = self._progress(train_batches)
        for batch in bar:
            batch = move_to_device(batch, self.device)
            losses = self._run_step(batch)
            self.global_step += 1
            n_batches += 1
            n_samples += batch_size_of(batch)
            for k, v in losses.items():
                value = v.detach().float() if isinstance(v, Tensor) else torch.tensor(float(v))
                totals[k] = totals[k] + value if k in totals else value
            log_now = bool(self.cfg.log_every) and self.global_step % self.cfg.log_every == 0
            now = time.perf_counter()
            if not (log_now or now - last_read >= self.host_read_every_s):
                continue
            self._check_finite(first_unread)
            first_unread, last_read = self.global_step + 1, now
            if log_now:
                values = {k: float(v) for k, v in losses.items()}
                self._log("train_step", values, self.global_step, self.epoch + 1)
            if bar is not train_batches:
                bar.set_postfix(
                    loss=f"{float(losses['loss']):.4f}",
                    samples_s=f"{n_samples / max(now - start, 1e-9):.0f}",
                )
        if n_batches == 0:
            raise ValueError("train_batches yielded no batch: the training set is empty")
        self._check_finite(first_unread)
        elapsed = time.perf_counter() - start
        summary = {k: float(v) / n_batches for k, v in totals.items()}
        summary["epoch_time_s"] = elapsed
        summary["samples_per_s"] = n_samples / max(elapsed, 1e-9)
        summary["lr"] = self.optimizers[0].param_groups[0]["lr"]
        return summary

    def _check_finite(self, first_step: int) -> None:
        """Raise if a loss of the steps since ``first_step`` was NaN or infinite (accelerators)."""
        finite, self._finite = self._finite, None
        if finite is not None and not bool(finite):
            raise FloatingPointError(
                f"the loss became NaN or infinite at a step between {first_step} and "
                f"{self.global_step} (epoch {self.epoch + 1}); the weights in memory are no longer "
                f"usable, the last checkpoint on disk is; {_NAN_ADVICE}"
            )

    def _progress(self, train_batches: Iterable[Any]) -> Any:
        if not (self.cfg.progress and self.is_main):
            return train_batches
        from tqdm.auto import tqdm

        total = len(train_batches) if hasattr(train_batches, "__len__") else None
        return tqdm(
            train_batches,
            total=total,
            desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}",
            unit="batch",
            leave=False,
            dynamic_ncols=True,
        )

    def _validate(self, validate: Callable[[], Mapping[str, float]]) -> dict[str, float]:
        self.method.eval()
        with torch.no_grad():
            metrics = {k: float(v) for k, v in validate().items()}
        self.method.train()
        if self.cfg.monitor and self.cfg.monitor not in metrics:
            raise KeyError(
                f"trainer.monitor='{self.cfg.monitor}' is not among the validation metrics "
                f"({', '.join(metrics) or 'none'})"
            )
        return metrics

    def _track_best(self, metrics: Mapping[str, float]) -> bool:
        """Update best.pt; return True when early stopping should end training."""
        if not self.cfg.monitor:
            return False
        value = metrics[self.cfg.monitor]
        better = self.best_metric is None or (
            value > self.best_metric if self.cfg.monitor_mode == "max" else value < self.best_metric
        )
        if better:
            self.best_metric, self.best_epoch, self.bad_evals = value, self.epoch, 0
            if self.is_main:
                save_checkpoint_atomic(
                    {
                        "format": CHECKPOINT_FORMAT,
                        "epoch": self.epoch,
                        "model": self.method.state_dict(),
                        "metric": value,
                    },
                    self.out_dir / "best.pt",
                )
            return False
        self.bad_evals += 1
        return bool(self.cfg.patience) and self.bad_evals >= self.cfg.patience

    def _log_epoch(self, summary: Mapping[str, float]) -> None:
        self._log("epoch", summary, self.global_step, self.epoch)
        if self.is_main:
            shown = "  ".join(f"{k} {v:.4g}" for k, v in summary.items() if k not in ("lr",))
            log.info("epoch %d/%d  %s", self.epoch, self.cfg.epochs, shown)
