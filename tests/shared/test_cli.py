import subprocess
import sys

import pytest

from shared.cli import build_parser, discover_domains, main


def test_help_lists_commands_and_domains(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for word in ("demo", "info", "graph", "recsys", "timeseries", "pointcloud", "--config"):
        assert word in out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: contrast" in capsys.readouterr().out


def test_info_reports_versions(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "torch" in out and "contrastive-suite" in out


def test_unknown_demo_part_is_a_clear_error(capsys):
    assert main(["demo", "--only", "nope"]) == 2
    assert "unknown demo part(s) nope" in capsys.readouterr().err


def test_core_demo_prints_a_table(tmp_path, capsys):
    assert main(["-q", "demo", "--only", "core", "--out-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| domain" in out and "NT-Xent MLP" in out and "probe acc" in out
    assert (tmp_path / "core" / "config.yaml").is_file()


def test_plot_draws_a_runs_loss_curve(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text(
        "epoch,step,split,name,value\n1,1,train_step,loss,2.0\n1,2,train_step,loss,1.5\n"
    )
    assert main(["plot", str(run)]) == 0
    assert (run / "plots" / "training_curves.png").stat().st_size > 0
    assert main(["plot", str(tmp_path / "missing")]) == 2
    assert "metrics.csv not found" in capsys.readouterr().err


def test_every_registered_domain_loads():
    domains = discover_domains()
    assert {d.name for d in domains} == {"graph", "pointcloud", "recsys", "timeseries"}
    broken = [d for d in domains if not hasattr(d, "demo")]
    assert not broken, f"domains failed to load: {broken}"
    build_parser(domains)


def test_console_script_is_installed():
    proc = subprocess.run(
        [sys.executable, "-m", "shared.cli", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "contrast" in proc.stdout
