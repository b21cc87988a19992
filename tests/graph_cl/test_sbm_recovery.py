"""On a planted-community SBM whose features alone barely separate the blocks, gCooL's DeCA
communities and the embeddings recover the blocks far better than k-means on raw features."""

from __future__ import annotations

from pathlib import Path

import torch

from graph_cl.config import GraphExperiment
from graph_cl.data import GraphDataConfig, build_graph
from graph_cl.encoders import EncoderConfig
from graph_cl.evaluation import EvalConfig
from graph_cl.experiment import run
from graph_cl.gcool import GCoolConfig
from shared.evaluation import cluster_scores
from shared.training import TrainerConfig


def test_deca_recovers_planted_communities(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    data_cfg = GraphDataConfig(
        sbm_nodes=400, sbm_blocks=4, sbm_feature_dim=32, sbm_feature_signal=0.15
    )
    exp = GraphExperiment(
        method="gcool",
        data=data_cfg,
        gcool=GCoolConfig(
            encoder=EncoderConfig(hidden_dim=64, out_dim=32, proj_dim=32),
            num_communities=4,
            stride=80,
            alpha_rate=1.0,
        ),
        trainer=TrainerConfig(
            epochs=80,
            lr=1e-3,
            weight_decay=1e-5,
            out_dir=str(tmp_path),
            progress=False,
            log_every=0,
            tensorboard=False,
            checkpoint_every=0,
        ),
        eval=EvalConfig(random_splits=2, public_split=False),
    )
    _, metrics = run(exp)
    raw = cluster_scores(build_graph(data_cfg).x, build_graph(data_cfg).y, seed=0)["nmi"]
    assert raw < 0.1
    assert metrics["community_nmi"] > raw + 0.3
    assert metrics["kmeans_nmi"] > 0.6
