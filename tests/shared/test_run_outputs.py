"""What every run leaves and prints: metrics.json, plots, hparams, the final table; summarize over
run folders; the CLI's one error path and its lazy start."""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from shared.cli import main
from shared.domain import default_checkpoint
from shared.run_report import finish_run, format_final_table
from shared.summarize import summarize_runs

PNG = b"\x89PNG\r\n\x1a\n"


def write_run(folder, method, seed, acc):
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"method": method, "seed": seed}))
    (folder / "metrics.json").write_text(json.dumps({"acc": acc, "nested": {"nmi": acc / 2}}))


def test_finish_run_writes_metrics_plots_hparams_and_prints_a_table(tmp_path, capsys):
    (tmp_path / "metrics.csv").write_text(
        "epoch,step,split,name,value\n1,1,train_step,loss,2.0\n1,2,epoch,loss,1.5\n"
        "1,2,epoch,lr,0.001\n2,4,epoch,loss,1.0\n2,4,epoch,val_NDCG@10,0.1\n"
    )
    rng = np.random.default_rng(0)
    emb, labels = rng.normal(size=(40, 5)), rng.integers(0, 3, 40)
    finish_run(
        tmp_path,
        {"probe_accuracy": 0.8125, "epochs": 2},
        title="GRACE on SBM",
        experiment={"method": "grace", "trainer": {"lr": 0.001, "out_dir": str(tmp_path)}},
        embeddings=emb,
        labels=labels,
    )
    assert json.loads((tmp_path / "metrics.json").read_text()) == {
        "epochs": 2,
        "probe_accuracy": 0.8125,
    }
    assert (tmp_path / "plots" / "training_curves.png").read_bytes()[:8] == PNG
    assert (tmp_path / "plots" / "tsne.png").read_bytes()[:8] == PNG
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents.*"))
    out = capsys.readouterr().out
    assert "GRACE on SBM" in out and "probe_accuracy  0.8125" in out
    assert f"run folder: {tmp_path}" in out and "plots/" in out


def test_final_table_lists_only_numbers(tmp_path):
    text = format_final_table("x", {"a": 1.23456, "name": "grace", "big": 123456.0}, tmp_path)
    assert "a       1.2346" in text and "big     1.235e+05" in text and "grace" not in text


def test_summarize_groups_runs_by_method(tmp_path, capsys):
    for seed, acc in enumerate((0.8, 0.82, 0.84)):
        write_run(tmp_path / f"grace_s{seed}", "grace", seed, acc)
    write_run(tmp_path / "gcool_s0", "gcool", 0, 0.9)
    runs = sorted(tmp_path.iterdir())
    rows = {row["method"]: row for row in summarize_runs(runs)}
    assert rows["grace"]["runs"] == 3 and rows["grace"]["acc"] == "0.8200 ± 0.0200"
    assert rows["gcool"]["nested.nmi"] == "0.4500 ± 0.0000"
    assert main(["graph", "summarize", *map(str, runs), "--metrics", "acc"]) == 0
    assert "| grace | 3 | 0.8200 ± 0.0200 |" in capsys.readouterr().out


def test_summarize_of_a_folder_without_metrics_is_one_clear_error(tmp_path, capsys):
    assert main(["recsys", "summarize", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("contrast: error: ") and "metrics.json not found" in err
    assert len(err.strip().splitlines()) == 1


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="metrics.json not found"):
        main(["--debug", "graph", "summarize", str(tmp_path)])


def test_default_checkpoint_prefers_best(tmp_path):
    assert default_checkpoint(tmp_path) == tmp_path / "last.pt"
    (tmp_path / "best.pt").write_bytes(b"")
    assert default_checkpoint(tmp_path) == tmp_path / "best.pt"


def test_help_imports_no_domain_and_not_torch():
    code = (
        "import sys\nfrom shared.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'graph_cl', 'recsys_cl', 'timeseries_cl', 'pointcloud_cl')"
        " if m in sys.modules]\nprint('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    assert "HEAVY []" in out and "timeseries" in out
