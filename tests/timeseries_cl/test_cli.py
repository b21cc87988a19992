"""Configs, the ``contrast timeseries`` commands and the downstream protocol on synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shared.cli import main
from shared.config import ConfigError, load_config
from tests.run_folder import assert_run_folder
from timeseries_cl.cli import demo
from timeseries_cl.config import TimeseriesExperiment
from timeseries_cl.experiment import hierarchical_batches
from timeseries_cl.synthetic import synthetic_hierarchical

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "timeseries"
TINY = [
    "trainer.epochs=1",
    "encoder.depth=1",
    "encoder.hidden_dims=8",
    "encoder.output_dims=8",
    "data.synthetic_patients=6",
    "data.synthetic_trials=2",
    "eval.finetune_epochs=1",
    "eval.fractions=[1.0]",
    "batch_size=32",
]


@pytest.mark.parametrize("name", ["comet_uci_eeg.yaml", "sample_uci_eeg.yaml"])
def test_shipped_configs_load(name: str) -> None:
    exp = load_config(TimeseriesExperiment, CONFIGS / name, ["data.root=/somewhere"])
    assert exp.data.source == "uci_eeg" and exp.encoder.output_dims == 320
    assert exp.eval.fractions == (1.0, 0.1, 0.01)


def test_config_rejects_unknown_method() -> None:
    with pytest.raises(ConfigError):
        load_config(TimeseriesExperiment, None, ["method=simclr"])


def test_batches_carry_ids_and_keep_trials_together() -> None:
    data = synthetic_hierarchical(
        n_patients=4, trials_per_patient=3, trial_length=64, window=32, stride=16
    )
    exp = TimeseriesExperiment()
    batches = list(hierarchical_batches(data, exp.batch_size, exp.trials_per_patient))
    assert sum(b["x"].shape[0] for b in batches) == len(data)
    first = batches[0]
    assert set(first) == {"x", "patient", "trial", "index"} and first["x"].shape[1:] == (32, 4)
    trials = first["trial"].numpy()
    assert all((trials == t).sum() == 3 for t in np.unique(trials))


def test_pretrain_supervised_and_summarize_commands(tmp_path: Path, capsys) -> None:
    comet_dir, sup_dir = tmp_path / "comet", tmp_path / "sup"
    assert main(["-q", "timeseries", "pretrain", *TINY, f"trainer.out_dir={comet_dir}"]) == 0
    assert main(["-q", "timeseries", "supervised", *TINY, f"trainer.out_dir={sup_dir}"]) == 0
    results = assert_run_folder(comet_dir, tsne=True)
    assert {r["protocol"] for r in results["rows"]} == {"linear", "finetune"}
    assert 0 <= results["linear@1_accuracy"] <= 1 and "finetune@1_auroc" in results
    assert_run_folder(comet_dir / "downstream" / "finetune@1")  # the fine-tuned model is kept
    patients = results["patients"]
    assert not set(patients["train"]) & set(patients["test"])
    supervised = json.loads((sup_dir / "metrics.json").read_text())
    assert {r["protocol"] for r in supervised["rows"]} == {"supervised"}
    assert main(["-q", "timeseries", "evaluate", *TINY, f"trainer.out_dir={comet_dir}"]) == 0
    capsys.readouterr()
    assert main(["timeseries", "summarize", str(comet_dir), str(sup_dir)]) == 0
    table = capsys.readouterr().out
    assert "| comet | 1 |" in table and "linear@1_accuracy" in table


def test_evaluate_without_checkpoint_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main(["timeseries", "evaluate", *TINY, f"trainer.out_dir={tmp_path}"]) == 2
    assert "checkpoint not found" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_rows(tmp_path: Path) -> None:
    rows = demo(tmp_path)
    assert {r.method for r in rows} == {"comet", "sample"}
    assert all(0.0 <= r.value <= 1.0 for r in rows)


@pytest.mark.parametrize(
    ("name", "source", "window", "sample_weight"),
    [
        ("comet_ad.yaml", "comet_npy", 256, 0.25),
        ("comet_ptb.yaml", "ptb_wfdb", 300, 0.1),
        ("comet_tdbrain.yaml", "comet_npy", 256, 0.25),
    ],
)
def test_official_configs_hold_the_official_hyper_parameters(
    name: str, source: str, window: int, sample_weight: float
) -> None:
    """DL4mHealth/COMET config_files/*_Configs.py at commit a769779."""
    exp = load_config(TimeseriesExperiment, CONFIGS / name, [])
    assert (exp.data.source, exp.data.window) == (source, window)
    w = exp.comet.weights
    assert (w.patient, w.trial, w.sample, w.observation) == (1, 1, sample_weight, sample_weight)
    assert exp.comet.pairing == "official"
    assert (exp.trainer.lr, exp.batch_size, exp.trainer.epochs) == (1e-4, 256, 100)
    assert (exp.eval.finetune_lr, exp.eval.finetune_batch_size) == (1e-4, 128)
