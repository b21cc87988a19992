"""``contrast timeseries ...`` and the time-series part of ``contrast demo``.

    contrast timeseries pretrain --config configs/timeseries/comet_uci_eeg.yaml trainer.seed=1
    contrast timeseries supervised --config configs/timeseries/comet_uci_eeg.yaml
    contrast timeseries evaluate --config configs/timeseries/comet_uci_eeg.yaml
    contrast timeseries summarize runs/timeseries/comet/seed_0 runs/timeseries/comet/seed_1

``pretrain`` trains ``method`` (comet or sample) and then runs the downstream protocol (linear
probe and fine-tuning at each label fraction on held-out patients); ``supervised`` is the
from-scratch baseline of that protocol on the same splits.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from shared.domain import (
    DemoRow,
    Domain,
    add_config_command,
    add_evaluate_command,
    add_summarize_command,
    default_checkpoint,
    load_experiment,
)

if TYPE_CHECKING:
    from timeseries_cl.config import TimeseriesExperiment

# The commands import the domain when they run, so `contrast timeseries --help` starts fast.


def domain() -> Domain:
    return Domain(
        name="timeseries",
        help="medical time series: COMET (patient/trial/sample/observation contrast), "
        "sample-level baseline, supervised baseline",
        add_commands=add_commands,
        demo=demo,
    )


def add_commands(sub: argparse._SubParsersAction) -> None:
    add_config_command(
        sub,
        "pretrain",
        "pretrain (method=comet or sample), then linear probe + fine-tune on held-out patients",
        _pretrain,
    )
    add_config_command(
        sub,
        "supervised",
        "the from-scratch supervised baseline on the same split and fractions",
        _supervised,
    )
    add_evaluate_command(sub, "linear probe + fine-tune of a pretrained checkpoint", _evaluate)
    add_config_command(
        sub,
        "crossval",
        "patient-level k-fold cross-validation: COMET, sample baseline, supervised and raw-input "
        "probe at each label fraction, one summary table",
        _crossval,
    )
    add_summarize_command(sub)


def _pretrain(args: argparse.Namespace) -> int:
    from timeseries_cl.config import TimeseriesExperiment
    from timeseries_cl.experiment import run

    run(load_experiment(TimeseriesExperiment, args))
    return 0


def _supervised(args: argparse.Namespace) -> int:
    from timeseries_cl.config import TimeseriesExperiment
    from timeseries_cl.experiment import run_supervised

    run_supervised(load_experiment(TimeseriesExperiment, args))
    return 0


def _crossval(args: argparse.Namespace) -> int:
    from timeseries_cl.config import TimeseriesExperiment
    from timeseries_cl.crossval import run_crossval

    run_crossval(load_experiment(TimeseriesExperiment, args))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from shared.run_report import format_final_table
    from timeseries_cl.config import TimeseriesExperiment
    from timeseries_cl.experiment import evaluate_checkpoint

    exp = load_experiment(TimeseriesExperiment, args)
    checkpoint = args.checkpoint or default_checkpoint(exp.trainer.out_dir)
    metrics = evaluate_checkpoint(exp, checkpoint)
    print(format_final_table(f"{exp.method}: {checkpoint}", metrics, checkpoint.parent))
    return 0


def demo_experiment(method: str, out_dir: Path) -> TimeseriesExperiment:
    """Synthetic hierarchy (16 patients x 6 trials x 7 windows, 4 channels), small encoder,
    2 epochs, 100% and 10% labels."""
    from shared.training import TrainerConfig
    from timeseries_cl.comet import EncoderConfig
    from timeseries_cl.config import TimeseriesExperiment

    exp = TimeseriesExperiment(method=method)  # type: ignore[arg-type]
    exp.encoder = EncoderConfig(hidden_dims=32, output_dims=64, depth=4)
    exp.trainer = TrainerConfig(
        epochs=2, lr=1e-3, optimizer="adamw", out_dir=str(out_dir / method), log_every=0
    )
    exp.eval.fractions = (1.0, 0.1)
    exp.eval.finetune_epochs = 2
    exp.eval.finetune_lr = 1e-3
    return exp


def demo(out_dir: Path) -> list[DemoRow]:
    """COMET and the sample-level baseline on synthetic patients: linear-probe accuracy on
    held-out patients, next to chance (the majority class)."""
    from timeseries_cl.experiment import run

    rows = []
    for method in ("comet", "sample"):
        start = time.perf_counter()
        _, metrics = run(demo_experiment(method, out_dir))
        note = f"synthetic, 2 epochs, {time.perf_counter() - start:.0f} s"
        scored = metrics["rows"]
        assert isinstance(scored, list)
        for row in scored:
            if row["protocol"] == "linear":
                label = f"probe accuracy ({row['fraction']:.0%} labels)"
                rows.append(
                    DemoRow("timeseries", method, label, row["accuracy"], "chance 0.50", note)
                )
    return rows
