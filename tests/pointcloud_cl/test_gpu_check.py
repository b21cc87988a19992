"""benchmarks/gpu_check.py on a machine without CUDA: the refusal, its arguments, the table, and
a tiny ``--allow-cpu`` dry run of its checks (the CUDA numbers need a GPU)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_refuses_without_cuda_with_one_line_and_exit_2(gpu_check) -> None:
    if gpu_check.torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gpu_check: no CUDA device") and "--allow-cpu" in lines[0]


def test_bad_arguments_are_refused(gpu_check) -> None:
    for argv in (["--reps", "0"], ["--only", "vision"], ["--unknown"]):
        with pytest.raises(SystemExit) as exit_info:
            gpu_check.parse_args(argv)
        assert exit_info.value.code == 2
    args = gpu_check.parse_args(["--allow-cpu", "--only", "ddp", "graph", "--reps", "2"])
    assert args.allow_cpu and args.only == ["ddp", "graph"] and args.reps == 2
    assert gpu_check.parse_args([]).only == list(gpu_check.GROUPS)


def test_table_has_one_line_per_row(gpu_check) -> None:
    rows = [
        gpu_check.Row("infonce", "tiled", "ok", 0.01234, 512.4, "loss 1.0"),
        gpu_check.Row("ddp", "DDP step", "skipped", None, None, "1 GPU: needs two"),
    ]
    assert gpu_check.markdown(rows).splitlines() == [
        "| group | check | status | median s | peak MiB | detail |",
        "|---|---|---|---|---|---|",
        "| infonce | tiled | ok | 0.0123 | 512 | loss 1.0 |",
        "| ddp | DDP step | skipped |  |  | 1 GPU: needs two |",
    ]


def test_cpu_dry_run_of_infonce_and_backbone(gpu_check, tmp_path: Path, capsys) -> None:
    out = tmp_path / "check.json"
    argv = ["--allow-cpu", "--reps", "1", "--only", "infonce", "backbone"]
    assert gpu_check.main([*argv, "--data", str(tmp_path), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["device"] == "cpu" and report["gpu"] is None
    rows = {row["check"]: row for row in report["rows"]}
    assert rows["import spconv.pytorch"]["status"] == "ok"
    assert {r["group"] for r in report["rows"]} == {"env", "infonce", "backbone"}
    tiled = rows["tiled InfoNCE 2 x 512 x 32 float32"]
    assert tiled["status"] == "ok" and tiled["median_s"] > 0
    assert rows["tiled InfoNCE 2 x 512 x 32 bfloat16"]["status"] == "ok"
    assert "|dense - tiled|" in rows["dense InfoNCE 2 x 512 fp32"]["detail"]
    assert rows["fp32 forward+backward"]["status"] == "ok"
    assert rows["fp16 autocast forward+backward"]["status"] == "skipped"  # spconv CPU kernels
    assert "bit-identical" in next(r for c, r in rows.items() if "index_add_" in c)["detail"]
    printed = capsys.readouterr().out
    assert "gpu_check on CPU dry run" in printed
    assert "| infonce | tiled InfoNCE 2 x 512 x 32 float32 | ok |" in printed


def test_ddp_row_matches_the_single_process_gradient_on_two_gloo_ranks(gpu_check, tmp_path):
    (row,) = gpu_check.ddp_rows(
        gpu_check.torch.device("cpu"), gpu_check.Sizes.for_device(False), tmp_path, 300.0
    )
    assert row.status == "ok" and row.detail.startswith("gloo"), row.detail
    assert float(row.detail.rsplit("= ", 1)[1]) < 1e-4


def test_missing_data_skips_and_a_failed_row_exits_1(gpu_check, tmp_path, monkeypatch) -> None:
    out = tmp_path / "check.json"
    argv = ["--allow-cpu", "--reps", "1", "--data", str(tmp_path), "--out", str(out)]
    assert gpu_check.main([*argv, "--only", "graph", "recsys"]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [r["status"] for r in rows if r["group"] in ("graph", "recsys")] == ["skipped"] * 2
    broken = gpu_check.Row("infonce", "tiled", "FAILED", None, None, "loss nan")
    monkeypatch.setattr(gpu_check, "infonce_rows", lambda *args: [broken])
    assert gpu_check.main([*argv, "--only", "infonce"]) == 1


@pytest.mark.slow
def test_full_cpu_dry_run(gpu_check, tmp_path: Path, data_dir: Path) -> None:
    """Every group, the pointcloud methods on a fresh synthetic set included (about 2 min)."""
    out = tmp_path / "check.json"
    argv = ["--allow-cpu", "--reps", "1", "--data", str(data_dir), "--out", str(out)]
    assert gpu_check.main(argv) == 0
    rows = {row["check"]: row for row in json.loads(out.read_text())["rows"]}
    for method in ("PRC", "RAD", "SLidR", "fine-tuning (BEV seg + CenterPoint)"):
        assert rows[f"{method} step fp32"]["status"] == "ok"
        assert rows[f"{method} step AMP"]["status"] in ("ok", "skipped")
