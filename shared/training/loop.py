"""The one training loop every method runs through.

A *method* is an ``nn.Module`` with ``training_step(batch) -> dict[str, Tensor]`` (the dict holds
``"loss"``; other entries are logged) and ``embed(inputs) -> Tensor``. The :class:`Trainer` owns
everything else: seeding, device and AMP, optimiser and schedule, gradient clipping, progress with
ETA, CSV + TensorBoard logs, atomic checkpoints with exact resume, validation with early stopping,
and DDP when launched with ``torchrun``.

Optional method hooks: ``configure_optimizers(cfg)``, ``on_after_optimizer_step(index)`` (called
right after optimiser ``index`` stepped, e.g. to update a weight average), ``on_epoch_end(epoch)``.
Methods that alternate several optimisers (MCLRec's encoder / augmenter steps) set
``manual_optimization = True``; the trainer then calls ``training_step(batch, optimize)`` and
``optimize(loss, index)`` performs zero-grad, (scaled) backward, clipping and the step of
optimiser ``index``.

    >>> result = Trainer(TrainerConfig(epochs=5, out_dir="runs/x"), method).fit(loader)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from shared import distributed
from shared.config import save_config
from shared.training.batches import batch_size_of, move_to_device, resolve_device
from shared.training.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    load_checkpoint,
    load_resume_checkpoint,
    remove_orphan_temp_files,
    save_checkpoint_atomic,
)
from shared.training.config import TrainerConfig, TrainResult
from shared.training.progress import LOG_EVERY_S, EpochProgress, format_duration
from shared.training.rng import rng_state, seed_everything, set_rng_state
from shared.training.run_log import MetricsLog
from shared.training.schedule import make_optimizer, make_scheduler

log = logging.getLogger("contrast")

_NAN_ADVICE = "lower the learning rate, enable trainer.grad_clip, or check the inputs for NaN"


def _training_step(method: nn.Module) -> Callable[..., object]:
    """``method.training_step``, checked to be callable (``nn.Module`` types unknown attributes as
    ``Tensor | Module``; what the step returns is checked by the trainer)."""
    step = getattr(method, "training_step", None)
    if not callable(step):
        raise TypeError(f"{type(method).__name__} has no training_step(batch) method")
    return step


class _StepModule(nn.Module):
    """Routes ``forward`` to ``training_step`` so DDP sees (and synchronises) every step."""

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, batch: Any) -> object:
        return _training_step(self.method)(batch)


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
        _training_step(method)
        self.cfg = cfg
        self.experiment = experiment
        self.out_dir = Path(cfg.out_dir)
        distributed.init_from_env()
        self.is_main = distributed.rank() == 0
        self.device = resolve_device(cfg.device)
        self.method = method.to(self.device)
        self.manual = bool(getattr(method, "manual_optimization", False))
        self.optimizers = self._build_optimizers()
        self.schedulers = [make_scheduler(cfg, opt) for opt in self.optimizers]
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
        self._log_file: MetricsLog | None = None
        self._run_start = self._last_epoch_log = 0.0
        self._epochs_at_start = 0
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

    # ------------------------------------------------------------ checkpoint
    def _state(self, train_batches: Any, rank_rngs: list[dict[str, Any]]) -> dict[str, Any]:
        """What ``last.pt`` holds. ``rank_rngs`` is every rank's generator state in rank order
        (one entry without DDP): each rank draws its own dropout masks and augmentations, so each
        must resume from its own state; ``rng`` is rank 0's, for a resume on one process."""
        state = {
            "format": CHECKPOINT_FORMAT,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "model": self.method.state_dict(),
            "optimizers": [opt.state_dict() for opt in self.optimizers],
            "schedulers": [s.state_dict() if s else None for s in self.schedulers],
            "scaler": self.scaler.state_dict(),
            "rng": rank_rngs[0],
            "rank_rngs": rank_rngs,
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
            raise CheckpointError(
                f"checkpoint in {self.out_dir} does not fit this model (different architecture or "
                f"config?): {str(err).splitlines()[0]}"
            ) from err
        if len(state["optimizers"]) != len(self.optimizers):
            raise CheckpointError(
                f"the checkpoint in {self.out_dir} has a different number of optimisers than this "
                "method (another method's run folder?)"
            )
        for opt, opt_state in zip(self.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(opt_state)
        for sched, sched_state in zip(self.schedulers, state["schedulers"], strict=True):
            if sched is not None and sched_state is not None:
                sched.load_state_dict(sched_state)
        self.scaler.load_state_dict(state["scaler"])
        rank_rngs = state.get("rank_rngs", [])
        if len(rank_rngs) == distributed.world_size():
            set_rng_state(rank_rngs[distributed.rank()])
        else:
            if rank_rngs:
                log.warning(
                    "%s was written by %d processes and resumed by %d: every process continues "
                    "from rank 0's random state, so dropout and augmentations do not replay",
                    self.out_dir,
                    len(rank_rngs),
                    distributed.world_size(),
                )
            set_rng_state(state["rng"])
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
        if self.is_main:
            self._log_file = MetricsLog(
                self.out_dir,
                keep_epochs=self.epoch if resumed else None,
                global_step=self.global_step,
                tensorboard=self.cfg.tensorboard,
            )

    def _log(self, split: str, values: Mapping[str, float], step: int, epoch: int) -> None:
        """One CSV row per value; ``epoch`` is the 1-based epoch the values belong to."""
        if self._log_file is not None:
            self._log_file.log(split, values, step, epoch)

    def _close_logs(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

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
        hook = getattr(self.method, "on_after_optimizer_step", None)
        if callable(hook):
            hook(index)

    def _run_step(self, batch: Any) -> Mapping[str, Tensor]:
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.cfg.amp):
            if self.manual:
                losses = _training_step(self.method)(batch, self._optimize)
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
        if self.is_main:
            remove_orphan_temp_files(self.out_dir)
        if cfg.resume:
            last = self.out_dir / "last.pt"
            if last.is_file():
                state, source = load_resume_checkpoint(last, map_location=self.device)
                self._restore(state, train_batches)
                resumed = True
                log.info("resumed from %s at epoch %d", source, self.epoch)
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
        self._run_start, self._epochs_at_start = time.perf_counter(), self.epoch
        self._last_epoch_log = self._run_start
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
                # Every rank takes part in the gather each epoch (no rank-dependent condition can
                # leave one waiting); the checkpoint itself is written by rank 0.
                rank_rngs = distributed.all_gather_object(rng_state())
                if (
                    self.is_main
                    and cfg.checkpoint_every
                    and (
                        self.epoch % cfg.checkpoint_every == 0
                        or self.epoch == cfg.epochs
                        or stopped_early
                    )
                ):
                    save_checkpoint_atomic(
                        self._state(train_batches, rank_rngs),
                        self.out_dir / "last.pt",
                        keep_previous=True,
                    )
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
        if sampler is not None and hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
        totals: dict[str, Tensor] = {}
        n_batches = n_samples = 0
        start = last_read = time.perf_counter()
        first_unread = self.global_step + 1
        bar = EpochProgress(
            train_batches,
            desc=f"epoch {self.epoch + 1}/{self.cfg.epochs}",
            enabled=self.cfg.progress and self.is_main,
        )
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
                values = {k: _detached_float(v) for k, v in losses.items()}
                self._log("train_step", values, self.global_step, self.epoch + 1)
            bar.set_values(
                loss=_detached_float(losses["loss"]),
                samples_s=n_samples / max(now - start, 1e-9),
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
        now = time.perf_counter()
        # Every epoch gets a line when epochs are slow or validated; fast epochs (a full-graph
        # step takes milliseconds) get one at least every LOG_EVERY_S seconds, plus the last.
        quiet = (
            summary.get("epoch_time_s", 0.0) < 1.0
            and not any(k.startswith("val_") for k in summary)
            and now - self._last_epoch_log < LOG_EVERY_S
            and self.epoch not in (self._epochs_at_start + 1, self.cfg.epochs)
        )
        if self.is_main and not quiet:
            self._last_epoch_log = now
            shown = "  ".join(f"{k} {v:.4g}" for k, v in summary.items() if k not in ("lr",))
            done = self.epoch - self._epochs_at_start
            elapsed = now - self._run_start
            eta = elapsed / max(done, 1) * (self.cfg.epochs - self.epoch)
            log.info(
                "epoch %d/%d  %s  (ETA %s)",
                self.epoch,
                self.cfg.epochs,
                shown,
                format_duration(eta),
            )


def _detached_float(value: Tensor | float) -> float:
    """A logged value as a float, without autograd's warning about tensors that require grad."""
    return float(value.detach()) if isinstance(value, Tensor) else float(value)
