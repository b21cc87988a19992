"""Running a recommendation experiment, through the three entry points every domain's
``experiment.py`` has:

- :func:`build` -> the data (its statistics logged first), the model ``exp.method`` names, its
  training batches and its ranking evaluation;
- :func:`run` -> train with early stopping on validation, rank the test targets, write the run
  folder (``metrics.json``, ``plots/``) and print the final table;
- :func:`evaluate_checkpoint` -> validation and test ranking of a saved model, with standard
  errors.

    >>> exp = load_config(RecsysExperiment, "configs/recsys/mclrec_beauty.yaml", [])
    >>> metrics = run(exp)
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from recsys_cl.batches import SequenceBatches
from recsys_cl.config import RecsysDataConfig, RecsysExperiment, mclrec_config
from recsys_cl.data_io import PUBLIC_URLS, download, load_sequences
from recsys_cl.dataset import InteractionSequences
from recsys_cl.dccf import DCCF
from recsys_cl.evaluation import evaluate_dccf, evaluate_ranking
from recsys_cl.interaction_graph import BPRBatches, leave_one_out_graph
from recsys_cl.mclrec import MCLRec
from recsys_cl.splits import leave_one_out
from recsys_cl.synthetic import synthetic_sequences
from shared.errors import InputError
from shared.run_report import finish_run
from shared.training import Trainer, load_model_weights, seed_everything

log = logging.getLogger("contrast")

Evaluate = Callable[[str, bool], dict[str, float]]
"""``evaluate(split, stderr)``: ranking metrics on ``"valid"`` or ``"test"``."""


@dataclass
class RecsysRun:
    """What :func:`build` returns: the model, its training batches and its evaluation."""

    model: nn.Module
    batches: Iterable[Any]
    evaluate: Evaluate


def load_data(cfg: RecsysDataConfig) -> InteractionSequences:
    """The synthetic generator or the file ``root/name`` (downloaded first when asked to)."""
    if cfg.name == "synthetic":
        return synthetic_sequences(
            n_users=cfg.synthetic_users,
            n_items=cfg.synthetic_items,
            n_tastes=cfg.synthetic_tastes,
            mean_length=cfg.synthetic_mean_length,
            seed=cfg.synthetic_seed,
        )
    path = Path(cfg.root) / cfg.name
    if not path.is_file() and cfg.download:
        if cfg.name not in PUBLIC_URLS:
            raise ValueError(
                f"data.download: no public URL for '{cfg.name}'; known: {', '.join(PUBLIC_URLS)}"
            )
        path = download(cfg.name, cfg.root)
    return load_sequences(path)


def build(exp: RecsysExperiment) -> RecsysRun:
    """Data, split, a freshly initialised model (seeded by ``trainer.seed``), batches and the
    evaluation for ``exp.method``."""
    data = load_data(exp.data)
    stats = data.stats()
    log.info(
        "%s: %d users, %d items, %d interactions (%.1f per user); leave-one-out: each user's "
        "last item is the test target, the second-to-last the validation target",
        exp.data.name,
        stats["users"],
        stats["items"],
        stats["interactions"],
        stats["avg_length"],
    )
    if exp.method == "dccf":
        return _build_dccf(exp, data)
    split = leave_one_out(data, exp.data.max_length)
    if exp.model.max_length != exp.data.max_length:
        raise ValueError(
            f"model.max_length={exp.model.max_length} must equal "
            f"data.max_length={exp.data.max_length}"
        )
    log.info(
        "split: %d training prefixes, %d validation and %d test users",
        len(split.train),
        len(split.valid),
        len(split.test),
    )
    seed_everything(exp.trainer.seed)
    model = MCLRec(split.n_items, exp.model, mclrec_config(exp), objective=exp.objective)
    batches = SequenceBatches(
        split.train,
        exp.batch_size,
        augmenter=exp.augment if model.needs_views else None,
        seed=exp.trainer.seed,
    )

    def evaluate(name: str, stderr: bool) -> dict[str, float]:
        return evaluate_ranking(
            model,
            split.valid if name == "valid" else split.test,
            ks=exp.eval.ks,
            batch_size=exp.eval.batch_size,
            stderr=stderr,
            exclude_history=exp.eval.exclude_history,
        )

    return RecsysRun(model, batches, evaluate)


def _build_dccf(exp: RecsysExperiment, data: InteractionSequences) -> RecsysRun:
    if exp.objective:
        raise InputError(
            "objective: DCCF's intent / graph contrasts keep their published InfoNCE; "
            "objective.name applies to method=cl4srec and method=mclrec"
        )
    graph, targets = leave_one_out_graph(data.sequences, data.n_items)
    seed_everything(exp.trainer.seed)
    model = DCCF(graph, exp.dccf)
    batches = BPRBatches(graph, exp.batch_size, exp.dccf.batches_per_epoch, seed=exp.trainer.seed)

    def evaluate(name: str, stderr: bool) -> dict[str, float]:
        return evaluate_dccf(
            model, graph, targets, name, ks=exp.eval.ks, batch_size=exp.eval.batch_size
        )

    return RecsysRun(model, batches, evaluate)


def run(exp: RecsysExperiment) -> dict[str, float]:
    """Fit with early stopping on the validation metric, then rank the test targets; writes the
    run folder and returns ``metrics.json``'s numbers (validation of the kept model, test, epochs,
    seconds per epoch)."""
    built = build(exp)
    start = time.perf_counter()
    result = Trainer(exp.trainer, built.model, experiment=exp).fit(
        built.batches, validate=lambda: built.evaluate("valid", False)
    )
    metrics: dict[str, float] = {
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch or result.epochs_run,
        "train_seconds": time.perf_counter() - start,
        "epoch_seconds": sum(h["epoch_time_s"] for h in result.history)
        / max(len(result.history), 1),
    }
    metrics.update({f"valid_{k}": v for k, v in built.evaluate("valid", False).items()})
    metrics.update({f"test_{k}": v for k, v in built.evaluate("test", False).items()})
    finish_run(
        Path(exp.trainer.out_dir),
        metrics,
        title=f"{exp.method} on {exp.data.name} ({_protocol(exp)})",
        experiment=exp,
        tensorboard=exp.trainer.tensorboard,
    )
    return metrics


def evaluate_checkpoint(exp: RecsysExperiment, checkpoint: str | Path) -> dict[str, float]:
    """Validation and test ranking metrics of a saved model; sequential models also get each
    metric's standard error over users (``test_HR@20_se``, ...): the sampling noise to compare
    against a published number."""
    built = build(exp)
    load_model_weights(built.model, checkpoint)
    metrics = {}
    for name in ("valid", "test"):
        scores = built.evaluate(name, exp.method != "dccf")
        metrics.update({f"{name}_{k}": v for k, v in scores.items()})
    return metrics


def _protocol(exp: RecsysExperiment) -> str:
    if exp.method == "dccf" or exp.eval.exclude_history:
        return "ranking without the user's history"
    return "ranking over all items"
