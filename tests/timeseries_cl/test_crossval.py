"""The k-fold protocol end to end on tiny synthetic data, and its table's paired difference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shared.config import load_config
from timeseries_cl.config import TimeseriesExperiment
from timeseries_cl.crossval import METRICS, run_crossval, summary_table

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "timeseries" / "crossval_uci_eeg.yaml"

TINY = [
    "data.source=synthetic",
    "data.synthetic_patients=8",
    "data.synthetic_trials=2",
    "data.synthetic_channels=2",
    "encoder.depth=1",
    "encoder.hidden_dims=8",
    "encoder.output_dims=8",
    "trainer.epochs=1",
    "trainer.progress=false",
    "eval.finetune_epochs=1",
    "eval.fractions=[1.0, 0.5]",
    "crossval.folds=2",
    "crossval.seeds=[0, 1]",
]


def test_every_method_fraction_fold_and_seed_is_scored_once(tmp_path: Path) -> None:
    exp = load_config(TimeseriesExperiment, CONFIG, [*TINY, f"trainer.out_dir={tmp_path}"])
    summary = run_crossval(exp)
    rows = summary["rows"]
    keys = [(r["method"], r["fraction"], r["fold"], r["seed"]) for r in rows]
    assert len(keys) == len(set(keys)) == 4 * 2 * 2 * 2
    assert {r["method"] for r in rows} == {"comet", "sample", "supervised", "raw_probe"}
    assert all(0 <= r["accuracy"] <= 1 for r in rows)
    assert len(summary["losses"]["comet"]) == 4 and len(summary["losses"]["comet"][0]) == 1
    saved = json.loads((tmp_path / "crossval.json").read_text())
    assert len(saved["rows"]) == len(rows)
    assert (tmp_path / "crossval.md").read_text().strip() == summary["table"]
    assert (tmp_path / "plots" / "pretraining_loss.png").stat().st_size > 0


def test_paired_difference_is_the_per_fold_mean_over_seeds() -> None:
    def row(method: str, fold: int, seed: int, acc: float) -> dict:
        return {
            "method": method,
            "fold": fold,
            "seed": seed,
            "fraction": 1.0,
            **{m: acc for m in METRICS},
        }

    # fold 0: differences 0.1 and 0.3 -> 0.2; fold 1: -0.1 and -0.1 -> -0.1
    rows = [
        row("comet", 0, 0, 0.6),
        row("sample", 0, 0, 0.5),
        row("comet", 0, 1, 0.8),
        row("sample", 0, 1, 0.5),
        row("comet", 1, 0, 0.4),
        row("sample", 1, 0, 0.5),
        row("comet", 1, 1, 0.4),
        row("sample", 1, 1, 0.5),
    ]
    table = summary_table(rows)
    paired = next(line for line in table.splitlines() if "paired" in line)
    mean, std = 100 * np.mean([0.2, -0.1]), 100 * np.std([0.2, -0.1], ddof=1)
    assert f"{mean:.2f} ± {std:.2f} (1/2 won)" in paired
    comet = next(line for line in table.splitlines() if "| comet |" in line)
    assert f"{100 * np.mean([0.6, 0.8, 0.4, 0.4]):.2f} ±" in comet


def test_the_shipped_config_is_the_uci_eeg_protocol() -> None:
    exp = load_config(TimeseriesExperiment, CONFIG, [])
    assert (exp.data.source, exp.crossval.folds, exp.crossval.seeds) == ("uci_eeg", 5, (0, 1, 2))
    assert exp.eval.fractions == (1.0, 0.1, 0.01)
    with pytest.raises(Exception, match="crossval"):
        load_config(TimeseriesExperiment, CONFIG, ["crossval.repeats=2"])


def test_an_interrupted_run_keeps_every_finished_fold(tmp_path: Path, monkeypatch) -> None:
    """Seeds run outer and the files are rewritten after every fold: a run stopped in its second
    fold leaves the first fold's rows, table and loss curves."""
    import timeseries_cl.crossval as crossval

    calls = []
    supervised = crossval.downstream_scores

    def stop_in_the_second_fold(*args, **kwargs):
        calls.append(kwargs["seed"])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return supervised(*args, **kwargs)

    monkeypatch.setattr(crossval, "downstream_scores", stop_in_the_second_fold)
    exp = load_config(TimeseriesExperiment, CONFIG, [*TINY, f"trainer.out_dir={tmp_path}"])
    with pytest.raises(KeyboardInterrupt):
        run_crossval(exp)
    saved = json.loads((tmp_path / "crossval.json").read_text())
    assert {(r["seed"], r["fold"]) for r in saved["rows"]} == {(0, 0)}
    assert calls == [0, 0]  # the second fold ran with the same seed
    assert len(saved["losses"]["comet"]) == 1
    assert "| 100% | comet | 1 |" in (tmp_path / "crossval.md").read_text()


def test_an_objective_that_does_not_fit_fails_before_loading_data(tmp_path: Path) -> None:
    from shared.errors import InputError

    bad = ["objective.name=swav", "data.source=uci_eeg", "data.root=/nonexistent"]
    exp = load_config(TimeseriesExperiment, CONFIG, [*TINY, *bad, f"trainer.out_dir={tmp_path}"])
    with pytest.raises(InputError, match="objectives that fit 'comet'"):
        run_crossval(exp)
