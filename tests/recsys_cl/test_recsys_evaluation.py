"""Leave-one-out full ranking against a naive per-sample computation; the CLI end to end."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

from recsys_cl.config import RecsysExperiment
from recsys_cl.evaluation import evaluate_ranking
from recsys_cl.experiment import evaluate_checkpoint
from recsys_cl.mclrec import MCLRec, MCLRecConfig
from recsys_cl.sasrec import SASRecConfig
from recsys_cl.splits import leave_one_out
from recsys_cl.synthetic import synthetic_sequences
from shared.cli import main
from shared.config import load_config
from tests.run_folder import assert_run_folder


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
        "trainer.monitor=NDCG@20",
        f"trainer.out_dir={out}",
    ]
    assert main(["-q", "recsys", "pretrain", *overrides]) == 0
    metrics = assert_run_folder(out, checkpoint="best.pt")
    assert metrics["epochs_run"] == 2 and 0 <= metrics["test_NDCG@20"] <= metrics["test_HR@20"] <= 1
    assert re.search(rf"test_HR@20 +{metrics['test_HR@20']:.4f}", capsys.readouterr().out)
    exp = load_config(RecsysExperiment, None, overrides)
    evaluated = evaluate_checkpoint(exp, out / "best.pt")
    assert evaluated["test_HR@20"] == pytest.approx(metrics["test_HR@20"])
    # a binary hit's standard error over the 120 test users: sqrt(p (1 - p) / (n - 1))
    p = evaluated["test_HR@20"]
    assert evaluated["test_HR@20_se"] == pytest.approx(math.sqrt(p * (1 - p) / 119))
    assert main(["-q", "recsys", "evaluate", *overrides]) == 0  # best.pt by default
    assert re.search(rf"test_HR@20_se +{evaluated['test_HR@20_se']:.4f}", capsys.readouterr().out)
    # the S3Rec protocol leaves the history out: every metric can only rise
    history_left_out = evaluate_checkpoint(
        load_config(RecsysExperiment, None, [*overrides, "eval.exclude_history=true"]),
        out / "best.pt",
    )
    assert history_left_out["test_HR@20"] >= evaluated["test_HR@20"]
    assert history_left_out["test_MRR@20"] >= evaluated["test_MRR@20"]


def test_train_is_an_alias_of_pretrain_and_sasrec_is_selected_by_name(tmp_path):
    from recsys_cl.experiment import build

    base = ["data.synthetic_users=60", "data.synthetic_items=40", "model.hidden_size=8"]
    sasrec = build(load_config(RecsysExperiment, None, [*base, "method=sasrec"])).model
    cl4srec = build(load_config(RecsysExperiment, None, [*base, "method=cl4srec"])).model
    assert not sasrec.needs_views and cl4srec.needs_views
    assert sasrec.cfg.cl_weight == 0.0 and cl4srec.cfg.cl_weight == 0.1
    out = tmp_path / "alias"
    args = [*base, "model.inner_size=16", "batch_size=32", "trainer.epochs=1"]
    assert main(["-q", "recsys", "train", *args, f"trainer.out_dir={out}"]) == 0
    assert (out / "metrics.json").is_file()


def test_cli_train_dccf_on_synthetic_data(tmp_path):
    out = tmp_path / "dccf"
    overrides = [
        "method=dccf",
        "data.synthetic_users=100",
        "data.synthetic_items=60",
        "dccf.n_intents=8",
        "batch_size=64",
        "dccf.batches_per_epoch=2",
        "trainer.epochs=2",
        f"trainer.out_dir={out}",
    ]
    assert main(["-q", "recsys", "pretrain", *overrides]) == 0
    metrics = assert_run_folder(out, checkpoint="best.pt")
    assert 0 <= metrics["test_NDCG@20"] <= metrics["test_HR@20"] <= 1
    assert "method: dccf" in (out / "config.yaml").read_text()


def test_cli_reports_a_missing_data_file(tmp_path, capsys):
    code = main(["-q", "recsys", "pretrain", "data.name=Beauty.txt", f"data.root={tmp_path}"])
    assert code == 2
    assert "Beauty.txt does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_sasrec_learns_the_synthetic_chain(tmp_path):
    from recsys_cl.cli import demo_experiment
    from recsys_cl.experiment import run

    metrics = run(demo_experiment("sasrec", tmp_path))
    # 300 items: a random ranking gives HR@10 = 10/300
    assert metrics["test_HR@10"] > 0.3


def test_every_shipped_config_loads():
    from pathlib import Path

    paths = sorted((Path(__file__).parents[2] / "configs" / "recsys").glob("*.yaml"))
    assert {p.stem for p in paths} >= {
        "sasrec_beauty",
        "cl4srec_beauty",
        "mclrec_beauty",
        "mclrec_j_beauty",
        "mclrec_sports",
        "dccf_beauty",
    }
    for path in paths:
        cfg = load_config(RecsysExperiment, path)
        assert cfg.trainer.monitor and cfg.trainer.out_dir.endswith(path.stem)
        assert cfg.trainer.progress and path.stem.startswith(cfg.method)
