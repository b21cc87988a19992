"""``contrast recsys ...``: train / evaluate a recommendation experiment, and the recsys part of
``contrast demo``.

    contrast recsys pretrain --config configs/recsys/mclrec_beauty.yaml   # alias: train
    contrast recsys evaluate --config configs/recsys/mclrec_beauty.yaml --checkpoint runs/x/best.pt
    contrast recsys pretrain --config configs/recsys/dccf_beauty.yaml
    contrast recsys summarize runs/recsys/mclrec_beauty_s0 runs/recsys/mclrec_beauty_s1

The methods train end to end (the contrastive terms are part of the recommender's loss), so
``pretrain`` is the whole training stage here, and ``train`` is its alias.
"""

from __future__ import annotations

import argparse
import math
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
    from recsys_cl.config import RecsysExperiment

# The commands import the domain when they run, so `contrast recsys --help` starts fast.


def domain() -> Domain:
    return Domain(
        name="recsys",
        help="recommendation: MCLRec (meta / joint), CL4SRec, SASRec; DCCF (graph CF)",
        add_commands=add_commands,
        demo=demo,
    )


def add_commands(sub: argparse._SubParsersAction) -> None:
    add_config_command(
        sub,
        "pretrain",
        "train with early stopping on validation, then rank the test items",
        _pretrain,
        aliases=["train"],
    )
    add_evaluate_command(sub, "full-ranking HR/NDCG/MRR of a checkpoint", _evaluate)
    add_summarize_command(sub)


def _pretrain(args: argparse.Namespace) -> int:
    from recsys_cl.config import RecsysExperiment
    from recsys_cl.experiment import run

    run(load_experiment(RecsysExperiment, args))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from recsys_cl.config import RecsysExperiment
    from recsys_cl.experiment import evaluate_checkpoint
    from shared.run_report import format_final_table

    exp = load_experiment(RecsysExperiment, args)
    checkpoint = args.checkpoint or default_checkpoint(exp.trainer.out_dir)
    metrics = evaluate_checkpoint(exp, checkpoint)
    print(format_final_table(f"{exp.method}: {checkpoint}", metrics, checkpoint.parent))
    return 0


def demo_experiment(name: str, out_dir: Path) -> RecsysExperiment:
    """The demo setting: 600 synthetic users over 300 items, a 32-wide SASRec, 6 epochs."""
    from recsys_cl.config import RecsysDataConfig, RecsysExperiment
    from recsys_cl.mclrec import MCLRecConfig
    from recsys_cl.sasrec import SASRecConfig
    from shared.training import TrainerConfig

    return RecsysExperiment(
        method=name,  # type: ignore[arg-type]
        data=RecsysDataConfig(name="synthetic", synthetic_users=600, max_length=20),
        model=SASRecConfig(
            hidden_size=32, inner_size=64, hidden_dropout=0.2, attn_dropout=0.2, max_length=20
        ),
        mclrec=MCLRecConfig(cl_weight=0.0, meta_weight=0.05),
        batch_size=128,
        trainer=TrainerConfig(
            epochs=6,
            lr=3e-3,
            out_dir=str(out_dir / name),
            monitor="NDCG@20",
        ),
    )


def demo(out_dir: Path) -> list[DemoRow]:
    """SASRec and MCLRec on the synthetic taste/Markov-chain users: test HR@10 and NDCG@20, next
    to a random ranking's (HR@k = k / items; NDCG@k = sum_{r<k} 1 / log2(r + 2) / items)."""
    from recsys_cl.config import RecsysDataConfig
    from recsys_cl.experiment import run

    items = RecsysDataConfig().synthetic_items
    random_hr = 10 / items
    random_ndcg = sum(1 / math.log2(r + 2) for r in range(20)) / items
    rows = []
    for name in ("sasrec", "mclrec"):
        metrics = run(demo_experiment(name, out_dir))
        note = (
            f"synthetic 600 users, {metrics['epochs_run']} epochs, full ranking over {items} items"
        )
        beat = "" if name == "sasrec" else "; > sasrec"
        rows += [
            DemoRow(
                "recsys",
                name,
                "test HR@10",
                metrics["test_HR@10"],
                f"random {random_hr:.3f}{beat}",
                note,
            ),
            DemoRow(
                "recsys",
                name,
                "test NDCG@20",
                metrics["test_NDCG@20"],
                f"random {random_ndcg:.3f}{beat}",
                note,
            ),
        ]
    return rows
