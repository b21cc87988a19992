"""``contrast graph pretrain / evaluate`` end to end on a tiny SBM, and config errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from graph_cl.cli import domain
from shared.cli import main
from shared.domain import Domain
from tests.run_folder import assert_run_folder

TINY = [
    "data.sbm_nodes=150",
    "data.sbm_blocks=3",
    "data.sbm_feature_dim=8",
    "trainer.epochs=3",
    "gcool.encoder.hidden_dim=16",
    "gcool.encoder.out_dim=8",
    "gcool.encoder.proj_dim=8",
    "gcool.num_communities=3",
    "eval.random_splits=2",
]


def test_domain_is_registered() -> None:
    d = domain()
    assert isinstance(d, Domain) and d.name == "graph"


def test_pretrain_then_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["graph", "pretrain", *TINY, f"trainer.out_dir={out}"]) == 0
    metrics = assert_run_folder(out, tsne=True)
    assert {"random_accuracy", "random_accuracy_std", "kmeans_nmi", "community_nmi"} <= set(metrics)
    row = re.compile(rf"random_accuracy +{metrics['random_accuracy']:.4f}\n")
    printed = capsys.readouterr().out
    assert row.search(printed) and f"run folder: {out}" in printed
    assert main(["graph", "evaluate", *TINY, f"trainer.out_dir={out}"]) == 0
    assert row.search(capsys.readouterr().out)


def test_validation_curve_is_written_every_eval_every_epochs(tmp_path: Path) -> None:
    import csv

    out = tmp_path / "curve"
    overrides = ["trainer.epochs=4", "trainer.eval_every=2", "eval.validation_curve=true"]
    assert main(["-q", "graph", "pretrain", *TINY, *overrides, f"trainer.out_dir={out}"]) == 0
    with (out / "metrics.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["name"] == "val_accuracy"]
    assert [int(r["epoch"]) for r in rows] == [2, 4]
    assert all(0.0 <= float(r["value"]) <= 1.0 for r in rows)


def test_unknown_key_and_missing_checkpoint_are_clear_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["graph", "pretrain", "gcool.num_comunities=3"]) == 2
    assert "num_comunities" in capsys.readouterr().err
    assert main(["graph", "evaluate", *TINY, f"trainer.out_dir={tmp_path}"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


def test_a_checkpoint_of_another_method_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "gcool"
    assert (
        main(["-q", "graph", "pretrain", *TINY, "trainer.epochs=1", f"trainer.out_dir={out}"]) == 0
    )
    capsys.readouterr()
    code = main(["graph", "evaluate", *TINY, "method=scgc", f"trainer.out_dir={out}"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("contrast: error: checkpoint ")
    assert "does not fit this model" in err and len(err.strip().splitlines()) == 1
    (out / "last.pt").write_bytes((out / "last.pt").read_bytes()[:64])  # truncated
    assert main(["graph", "evaluate", *TINY, f"trainer.out_dir={out}"]) == 2
    assert "corrupt or truncated" in capsys.readouterr().err


def test_shipped_configs_load() -> None:
    from graph_cl.config import GraphExperiment
    from shared.config import load_config

    configs = sorted(
        Path(__file__).resolve().parents[2].joinpath("configs", "graph").glob("*.yaml")
    )
    assert configs
    for path in configs:
        load_config(GraphExperiment, path, [])


def test_trainer_seed_fixes_the_whole_run(tmp_path: Path) -> None:
    """The same seed gives the same weights even when the process's RNG was used before."""
    import torch

    from shared.training import load_checkpoint

    states = []
    for i in range(2):
        torch.rand(i + 1)  # a different global RNG state before each run
        out = tmp_path / f"run{i}"
        assert main(["graph", "pretrain", *TINY, f"trainer.out_dir={out}"]) == 0
        states.append(load_checkpoint(out / "last.pt")["model"])
    for name, value in states[0].items():
        assert torch.equal(value, states[1][name]), name
