"""``contrast graph ...``: pretrain / evaluate a graph experiment, and the graph part of
``contrast demo``.

    contrast graph pretrain --config configs/graph/gcool_cora.yaml data.root=../shared/data/graph
    contrast graph evaluate --config configs/graph/gcool_cora.yaml \
        --checkpoint runs/graph/gcool_cora/last.pt
    contrast graph summarize runs/graph/grace_s0 runs/graph/grace_s1 runs/graph/grace_s2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

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
    from graph_cl.config import GraphExperiment

# The commands import the domain when they run, so `contrast graph --help` starts fast.

DEMO_METHODS: tuple[Literal["grace", "gcool"], ...] = ("grace", "gcool")


def domain() -> Domain:
    return Domain(
        name="graph",
        help="graph contrastive learning: gCooL (DeCA + ReSC), GRACE, POT, SCGC",
        add_commands=add_commands,
        demo=demo,
    )


def add_commands(sub: argparse._SubParsersAction) -> None:
    add_config_command(
        sub, "pretrain", "train a graph method, then evaluate its frozen embeddings", _pretrain
    )
    add_evaluate_command(
        sub, "linear probe (random + public splits) and clustering of a checkpoint", _evaluate
    )
    add_summarize_command(sub)


def _pretrain(args: argparse.Namespace) -> int:
    from graph_cl.config import GraphExperiment
    from graph_cl.experiment import run

    run(load_experiment(GraphExperiment, args))
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from graph_cl.config import GraphExperiment
    from graph_cl.experiment import evaluate_checkpoint
    from shared.run_report import format_final_table

    exp = load_experiment(GraphExperiment, args)
    checkpoint = args.checkpoint or default_checkpoint(exp.trainer.out_dir)
    metrics = evaluate_checkpoint(exp, checkpoint)
    print(format_final_table(f"{exp.method}: {checkpoint}", metrics, checkpoint.parent))
    return 0


def demo_experiment(method: Literal["grace", "gcool"], out_dir: Path) -> GraphExperiment:
    """The demo setting: a 1,000-node, 5-block SBM whose features alone barely separate the
    blocks, 100 epochs, 5 random splits."""
    from graph_cl.config import GraphExperiment
    from graph_cl.data import GraphDataConfig
    from graph_cl.evaluation import EvalConfig
    from graph_cl.gcool import GCoolConfig
    from graph_cl.grace import GraceConfig
    from shared.training import TrainerConfig

    data = GraphDataConfig(name="sbm", sbm_nodes=1000, sbm_blocks=5, sbm_feature_signal=0.15)
    trainer = TrainerConfig(
        epochs=100,
        lr=1e-3,
        weight_decay=1e-5,
        out_dir=str(out_dir / method),
        log_every=0,
    )
    return GraphExperiment(
        method=method,
        data=data,
        gcool=GCoolConfig(num_communities=5, stride=100, alpha_rate=1.0),
        grace=GraceConfig(tiled=True),
        trainer=trainer,
        eval=EvalConfig(random_splits=5, public_split=False),
    )


def demo(out_dir: Path) -> list[DemoRow]:
    """GRACE and gCooL on the synthetic SBM: probe accuracy, k-means NMI, DeCA community NMI,
    each next to what good looks like (chance, and k-means on the raw features)."""
    from graph_cl.data import build_graph
    from graph_cl.experiment import run
    from shared.evaluation import cluster_scores

    data_cfg = demo_experiment("gcool", out_dir).data
    data = build_graph(data_cfg)
    raw = cluster_scores(data.x, data.y, seed=0)["nmi"]
    chance = f"chance {1 / data_cfg.sbm_blocks:.2f}"
    beat_raw = f"> raw features {raw:.2f} (chance 0)"
    rows = []
    for method in DEMO_METHODS:
        start = time.perf_counter()
        _, metrics = run(demo_experiment(method, out_dir))
        note = f"SBM 1000 nodes, 100 epochs, {time.perf_counter() - start:.0f} s"
        rows.append(
            DemoRow("graph", method, "probe accuracy", metrics["random_accuracy"], chance, note)
        )
        rows.append(DemoRow("graph", method, "k-means NMI", metrics["kmeans_nmi"], beat_raw, note))
        if "community_nmi" in metrics:
            rows.append(
                DemoRow(
                    "graph", method, "DeCA community NMI", metrics["community_nmi"], beat_raw, note
                )
            )
    return rows
