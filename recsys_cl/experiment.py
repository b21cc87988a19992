"""Train and evaluate one sequential-recommendation experiment (used by the CLI and the demo)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from recsys_cl.config import DCCFExperiment, RecsysDataConfig, RecsysExperiment
from recsys_cl.data import (
    PUBLIC_URLS,
    InteractionSequences,
    LeaveOneOut,
    SequenceBatches,
    download,
    leave_one_out,
    load_sequences,
    synthetic_sequences,
)
from recsys_cl.dccf import DCCF, BPRBatches, leave_one_out_graph
from recsys_cl.evaluation import evaluate_dccf, evaluate_ranking
from recsys_cl.mclrec import MCLRec
from shared.training import Trainer, load_checkpoint, seed_everything

log = logging.getLogger("contrast.recsys")


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


def build(exp: RecsysExperiment) -> tuple[LeaveOneOut, MCLRec]:
    """The split and a freshly initialised model (seeded by ``trainer.seed``)."""
    data = load_data(exp.data)
    split = leave_one_out(data, exp.data.max_length)
    if exp.model.max_length != exp.data.max_length:
        raise ValueError(
            f"model.max_length={exp.model.max_length} must equal "
            f"data.max_length={exp.data.max_length}"
        )
    seed_everything(exp.trainer.seed)
    return split, MCLRec(split.n_items, exp.model, exp.method)


def train(exp: RecsysExperiment) -> dict[str, float]:
    """Fit with early stopping on the validation metric, then rank the test targets.

    Writes ``metrics.json`` (validation of the kept model, test, epochs, seconds per epoch) to
    ``trainer.out_dir`` and returns it.
    """
    split, model = build(exp)
    batches = SequenceBatches(
        split.train,
        exp.batch_size,
        augmenter=exp.augment if model.needs_views else None,
        seed=exp.trainer.seed,
    )

    def validate() -> dict[str, float]:
        return evaluate_ranking(model, split.valid, ks=exp.eval.ks, batch_size=exp.eval.batch_size)

    start = time.perf_counter()
    result = Trainer(exp.trainer, model, experiment=exp).fit(batches, validate=validate)
    seconds = time.perf_counter() - start
    metrics: dict[str, float] = {
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch or result.epochs_run,
        "train_seconds": seconds,
        "epoch_seconds": sum(h["epoch_time_s"] for h in result.history)
        / max(len(result.history), 1),
    }
    metrics.update({f"valid_{k}": v for k, v in validate().items()})
    test = evaluate_ranking(model, split.test, ks=exp.eval.ks, batch_size=exp.eval.batch_size)
    metrics.update({f"test_{k}": v for k, v in test.items()})
    _write(metrics, exp)
    return metrics


def evaluate_checkpoint(exp: RecsysExperiment, checkpoint: str | Path) -> dict[str, float]:
    """Validation and test ranking metrics of a saved model, each with its standard error over
    users (``test_HR@20_se``, ...): the sampling noise to compare against a published number."""
    split, model = build(exp)
    model.load_state_dict(load_checkpoint(checkpoint)["model"])
    metrics = {}
    for name, samples in (("valid", split.valid), ("test", split.test)):
        scores = evaluate_ranking(
            model, samples, ks=exp.eval.ks, batch_size=exp.eval.batch_size, stderr=True
        )
        metrics.update({f"{name}_{k}": v for k, v in scores.items()})
    return metrics


def train_dccf(exp: DCCFExperiment) -> dict[str, float]:
    """Fit DCCF on each user's items but the last two, early-stop on the second-to-last, test on
    the last; writes and returns ``metrics.json`` like :func:`train`."""
    data = load_data(exp.data)
    graph, targets = leave_one_out_graph(data.sequences, data.n_items)
    seed_everything(exp.trainer.seed)
    model = DCCF(graph, exp.model)
    batches = BPRBatches(graph, exp.batch_size, exp.batches_per_epoch, seed=exp.trainer.seed)

    def validate() -> dict[str, float]:
        return evaluate_dccf(
            model, graph, targets, "valid", ks=exp.eval.ks, batch_size=exp.eval.batch_size
        )

    start = time.perf_counter()
    result = Trainer(exp.trainer, model, experiment=exp).fit(batches, validate=validate)
    metrics: dict[str, float] = {
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch or result.epochs_run,
        "train_seconds": time.perf_counter() - start,
        "epoch_seconds": sum(h["epoch_time_s"] for h in result.history)
        / max(len(result.history), 1),
    }
    metrics.update({f"valid_{k}": v for k, v in validate().items()})
    test = evaluate_dccf(
        model, graph, targets, "test", ks=exp.eval.ks, batch_size=exp.eval.batch_size
    )
    metrics.update({f"test_{k}": v for k, v in test.items()})
    _write(metrics, exp)
    return metrics


def _write(metrics: dict[str, float], exp: RecsysExperiment | DCCFExperiment) -> None:
    out = Path(exp.trainer.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"name": exp.name, "data": exp.data.name, "seed": exp.trainer.seed, **metrics}
    (out / "metrics.json").write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    log.info(
        "%s: test %s",
        exp.name,
        {k: round(v, 4) for k, v in metrics.items() if k.startswith("test_")},
    )
