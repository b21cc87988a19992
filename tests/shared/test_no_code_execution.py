"""No file the suite reads can run code: each entry point gets a payload that would create a
marker folder when unpickled (or constructed from YAML), and must refuse it with a clear error.

The Planetoid raw files and the graph cache are covered by the graph tests
(``graph_cl.safe_pickle``, ``graph_cl.graph_cache``); this module covers every other reader and
greps the source tree so that no unsafe load comes back.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from shared.cli import main
from shared.config import ConfigError, load_config
from shared.errors import CheckpointError
from shared.training import Trainer, TrainerConfig
from shared.training.checkpoint import load_checkpoint, load_model_weights

REPO = Path(__file__).resolve().parents[2]


class _Payload:
    """Unpickling this object calls ``os.mkdir(marker)``: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "PAYLOAD_RAN"


def _poisoned_checkpoint(path: Path, marker: Path) -> Path:
    torch.save({"format": 1, "model": _Payload(marker), "epoch": 0}, path)
    return path


def test_the_payload_is_live(tmp_path: Path, marker: Path) -> None:
    """Positive control: an unsafe load of the same file does run the payload."""
    path = _poisoned_checkpoint(tmp_path / "last.pt", marker)
    torch.load(path, weights_only=False)
    assert marker.is_dir()


def test_checkpoint_readers_refuse_pickled_code(tmp_path: Path, marker: Path) -> None:
    path = _poisoned_checkpoint(tmp_path / "last.pt", marker)
    with pytest.raises(CheckpointError, match=re.escape(str(path))):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_model_weights(torch.nn.Linear(2, 2), path)
    assert not marker.exists()


class _TinyMethod(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(3, 2)

    def training_step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": self.layer(batch).pow(2).mean()}

    def embed(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layer(inputs)


def test_trainer_resume_refuses_pickled_code(tmp_path: Path, marker: Path) -> None:
    """``--resume`` reads ``last.pt`` and, failing that, ``last.prev.pt``: both poisoned."""
    out = tmp_path / "run"
    out.mkdir()
    _poisoned_checkpoint(out / "last.pt", marker)
    _poisoned_checkpoint(out / "last.prev.pt", marker)
    cfg = TrainerConfig(
        epochs=1, device="cpu", out_dir=str(out), resume=True, progress=False, tensorboard=False
    )
    with pytest.raises(CheckpointError, match="last.prev.pt"):
        Trainer(cfg, _TinyMethod()).fit([torch.randn(4, 3)])
    assert not marker.exists()


def test_evaluate_checkpoint_cli_refuses_pickled_code(
    tmp_path: Path, marker: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _poisoned_checkpoint(tmp_path / "best.pt", marker)
    argv = ["recsys", "evaluate", "--checkpoint", str(path), f"trainer.out_dir={tmp_path}"]
    argv += ["data.synthetic_users=40", "data.synthetic_items=60", "data.synthetic_tastes=3"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("contrast: error: checkpoint")
    assert str(path) in err[0]
    assert not marker.exists()


def test_pointcloud_pretrained_refuses_pickled_code(tmp_path: Path, marker: Path) -> None:
    from pointcloud_cl.experiment import load_pretrained

    path = _poisoned_checkpoint(tmp_path / "pretrained.pt", marker)
    with pytest.raises(CheckpointError, match="cannot be read as a pretrained.pt"):
        load_pretrained(torch.nn.Module(), path)  # the file is refused before the model is used
    assert not marker.exists()


def _comet_layout(root: Path) -> tuple[Path, Path]:
    (root / "Feature").mkdir(parents=True)
    (root / "Label").mkdir()
    return root / "Feature", root / "Label" / "label.npy"


@pytest.mark.parametrize("poisoned", ["label", "feature"])
def test_timeseries_npy_loader_refuses_object_arrays(
    tmp_path: Path, marker: Path, poisoned: str
) -> None:
    from timeseries_cl.data_io import load_comet_npy

    features, labels = _comet_layout(tmp_path / "comet")
    payload = np.array([_Payload(marker)], dtype=object)
    clean_label = np.array([[0, 1]], dtype=np.int64)
    clean_feature = np.zeros((2, 16, 1), dtype=np.float32)
    np.save(labels, payload if poisoned == "label" else clean_label, allow_pickle=True)
    np.save(features / "feature_1.npy", payload if poisoned == "feature" else clean_feature)
    with pytest.raises(ValueError, match="allow_pickle"):
        load_comet_npy(tmp_path / "comet", window=8, stride=8)
    assert not marker.exists()


def _yaml_payload(path: Path, marker: Path) -> Path:
    path.write_text(f"trainer: !!python/object/apply:os.mkdir ['{marker}']\n", encoding="utf-8")
    return path


def test_yaml_config_refuses_python_tags(tmp_path: Path, marker: Path) -> None:
    path = _yaml_payload(tmp_path / "exp.yaml", marker)
    with pytest.raises(ConfigError, match=r"exp\.yaml line 1, column 10: .*python/object/apply"):
        load_config(TrainerConfig, path)
    with pytest.raises(ConfigError, match="override 'epochs=.*python/object/apply"):
        load_config(TrainerConfig, None, [f"epochs=!!python/object/apply:os.mkdir ['{marker}']"])
    assert not marker.exists()


def test_cli_config_refuses_python_tags(
    tmp_path: Path, marker: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _yaml_payload(tmp_path / "exp.yaml", marker)
    assert main(["recsys", "pretrain", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"contrast: error: {path} line 1")
    assert not marker.exists()


# Calls that can run code from a file (this module, which holds the positive control, is skipped).
_UNSAFE = {
    "allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
    "weights_only=False": re.compile(r"weights_only\s*=\s*False"),
    "yaml.load(": re.compile(r"yaml\s*\.\s*(load|load_all|unsafe_load|full_load)\s*\("),
    "an unsafe YAML Loader": re.compile(
        r"\b(Unsafe|Full)?Loader\s*=\s*yaml\.(Unsafe|Full)?Loader\b"
    ),
    "pickle.load": re.compile(r"\b(c?pickle|dill|joblib)\s*\.\s*(loads?\s*\(|Unpickler\b)"),
    "builtin eval/exec": re.compile(r"(?<![\w.])(eval|exec)\s*\("),
    "pandas read_pickle": re.compile(r"\bread_pickle\s*\("),
}
# The one restricted unpickler (Planetoid raw files), reviewed with its own tests.
_ALLOWED = {("graph_cl/safe_pickle.py", "pickle.load")}


def _sources() -> list[Path]:
    skip = {".venv", ".git", "node_modules", "build", "dist"}
    files = []
    for path in REPO.rglob("*.py"):
        rel = path.relative_to(REPO)
        if rel.parts[0] in skip or rel.parts[0].startswith(".") or path == Path(__file__):
            continue
        files.append(path)
    return files


def _torch_load_calls(text: str) -> list[str]:
    """The full text of every ``torch.load(...)`` call (balanced parentheses)."""
    calls = []
    for match in re.finditer(r"torch\s*\.\s*load\s*\(", text):
        depth, pos = 1, match.end()
        while depth and pos < len(text):
            depth += {"(": 1, ")": -1}.get(text[pos], 0)
            pos += 1
        calls.append(text[match.start() : pos])
    return calls


def test_no_unsafe_load_in_the_source_tree() -> None:
    files = _sources()
    assert len(files) > 50, "the source walk found too few files"
    found = []
    for path in files:
        rel = path.relative_to(REPO).as_posix()
        text = path.read_text(encoding="utf-8")
        for name, pattern in _UNSAFE.items():
            if (rel, name) in _ALLOWED:
                continue
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{rel}:{line}: {name}")
        if rel.startswith("tests/"):  # tests re-read files they wrote; the rule is for the code
            continue
        for call in _torch_load_calls(text):
            if not re.search(r"weights_only\s*=\s*True", call):
                line = text.count("\n", 0, text.index(call)) + 1
                found.append(f"{rel}:{line}: torch.load without weights_only=True")
    assert not found, "unsafe loads:\n" + "\n".join(found)


def test_the_source_scan_catches_each_pattern() -> None:
    """Each pattern matches its unsafe form and leaves the safe forms alone."""
    bad = {
        "allow_pickle=True": "np.load(f, allow_pickle = True)",
        "weights_only=False": "torch.load(f, weights_only=False)",
        "yaml.load(": "yaml.load(text, Loader=yaml.Loader)",
        "an unsafe YAML Loader": "Loader=yaml.UnsafeLoader",
        "pickle.load": "pickle.loads(blob)",
        "builtin eval/exec": "eval(expr)",
        "pandas read_pickle": "pd.read_pickle(path)",
    }
    for name, snippet in bad.items():
        assert _UNSAFE[name].search(snippet), name
    safe = "model.eval(); yaml.safe_load(t); np.load(f, allow_pickle=False); ``pickle.load``"
    assert not any(p.search(safe) for p in _UNSAFE.values())
    assert _torch_load_calls("torch.load(Path(p), map_location='cpu')\n") == [
        "torch.load(Path(p), map_location='cpu')"
    ]
