"""benchmarks/gpu_check_pointcloud.py runs on the CPU: CUDA-only rows are skipped with a reason."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check_pointcloud.py"


def _load():
    spec = importlib.util.spec_from_file_location("gpu_check_pointcloud", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_cpu_run_writes_the_table_and_json(tmp_path: Path, capsys) -> None:
    out = tmp_path / "check.json"
    assert _load().main(["--device", "cpu", "--small", "--reps", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    rows = {row["check"].split(" (")[0]: row for row in report["rows"]}
    assert report["device"] == "cpu" and report["gpu"] is None
    assert rows["backbone fp32 forward+backward"]["status"] == "ok"
    assert rows["backbone fp32 forward"]["median_s"] > 0
    assert "BEV (1, 128, 64, 64)" in rows["backbone fp32 forward"]["detail"]
    fp16 = rows["backbone fp16 autocast forward+backward"]
    assert fp16["status"] == "skipped" and "autocast" in fp16["detail"]
    assert "max |run1 - run2| = 0.00e+00" in rows["index_add_ determinism"]["detail"]
    assert rows["CUDA"]["status"] == "skipped"
    assert "| backbone fp32 forward | ok |" in capsys.readouterr().out


def test_bad_arguments_are_refused() -> None:
    module = _load()
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--reps", "0"])
    assert exit_info.value.code == 2
    if not module.torch.cuda.is_available():
        with pytest.raises(SystemExit):
            module.main(["--device", "cuda"])
