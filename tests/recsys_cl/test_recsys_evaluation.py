"""Leave-one-out full ranking against a naive per-sample computation; the CLI end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from recsys_cl.data import leave_one_out, synthetic_sequences
from recsys_cl.evaluation import evaluate_ranking
from recsys_cl.mclrec import MCLRec, MCLRecConfig
from recsys_cl.sasrec import SASRecConfig
from shared.cli import main


def test_full_ranking_matches_a_naive_loop_over_samples():
    split = leave_one_out(synthetic_sequences(n_users=40, n_items=60, seed=2), max_length=10)
    torch.manual_seed(0)
    model = MCLRec(
        60, SASRecConfig(hidden_size=16, inner_size=32, max_length=10), MCLRecConfig(meta_weight=0)
    )
    metrics = evaluate_ranking(model, split.test, ks=(1, 5, 20), batch_size=7)
    model.eval()
    hits, ndcg = {k: [] for k in (1, 5, 20)}, {k: [] for k in (1, 5, 20)}
    with torch.no_grad():
        for i in range(len(split.test)):
            seqs, lengths = split.test.histories(np.array([i]))
            scores = model.score(seqs, lengths)[0, 1:]  # all real items, padding left out
            target = int(split.test.targets[i]) - 1
            rank = int((scores >= scores[target]).sum()) - 1
            for k in hits:
                hits[k].append(float(rank < k))
                ndcg[k].append(1 / math.log2(rank + 2) if rank < k else 0.0)
    for k in hits:
        assert metrics[f"HR@{k}"] == pytest.approx(np.mean(hits[k]))
        assert metrics[f"NDCG@{k}"] == pytest.approx(np.mean(ndcg[k]))
    model.train()
    evaluate_ranking(model, split.valid, batch_size=16)
    assert model.training


def test_cli_train_and_evaluate_on_synthetic_data(tmp_path, capsys):
    out = tmp_path / "run"
    overrides = [
        "data.synthetic_users=120",
        "data.synthetic_items=60",
        "data.max_length=10",
        "model.max_length=10",
        "model.hidden_size=16",
        "model.inner_size=32",
        "batch_size=64",
        "trainer.epochs=2",
        "trainer.tensorboard=false",
        "trainer.monitor=NDCG@20",
        f"trainer.out_dir={out}",
    ]
    assert main(["-q", "recsys", "train", *overrides]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and 0 <= metrics["test_NDCG@20"] <= metrics["test_HR@20"] <= 1
    capsys.readouterr()
    assert main(["-q", "recsys", "evaluate", *overrides]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["test_HR@20"] == pytest.approx(metrics["test_HR@20"])
    # a binary hit's standard error over the 120 test users: sqrt(p (1 - p) / (n - 1))
    p = evaluated["test_HR@20"]
    assert evaluated["test_HR@20_se"] == pytest.approx(math.sqrt(p * (1 - p) / 119))


def test_cli_train_dccf_on_synthetic_data(tmp_path):
    out = tmp_path / "dccf"
    overrides = [
        "data.synthetic_users=100", "data.synthetic_items=60", "model.n_intents=8",
        "batch_size=64", "batches_per_epoch=2", "trainer.epochs=2", "trainer.tensorboard=false",
        f"trainer.out_dir={out}",
    ]
    assert main(["-q", "recsys", "train-dccf", *overrides]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["name"] == "dccf" and 0 <= metrics["test_NDCG@20"] <= metrics["test_HR@20"] <= 1


def test_cli_reports_a_missing_data_file(tmp_path, capsys):
    code = main(["-q", "recsys", "train", "data.name=Beauty.txt", f"data.root={tmp_path}"])
    assert code == 2
    assert "Beauty.txt does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_sasrec_learns_the_synthetic_chain(tmp_path):
    from recsys_cl.cli import demo_experiment
    from recsys_cl.experiment import train

    metrics = train(demo_experiment("sasrec", tmp_path))
    # 300 items: a random ranking gives HR@10 = 10/300
    assert metrics["test_HR@10"] > 0.3


def test_every_shipped_config_loads():
    from pathlib import Path

    from recsys_cl.config import DCCFExperiment, RecsysExperiment
    from shared.config import load_config

    paths = sorted((Path(__file__).parents[2] / "configs" / "recsys").glob("*.yaml"))
    assert {p.stem for p in paths} >= {"sasrec_beauty", "cl4srec_beauty", "mclrec_beauty",
                                       "mclrec_j_beauty", "mclrec_sports", "dccf_beauty"}
    for path in paths:
        cls = DCCFExperiment if path.stem.startswith("dccf") else RecsysExperiment
        cfg = load_config(cls, path)
        assert cfg.trainer.monitor and cfg.trainer.out_dir.endswith(path.stem)
