"""Every bad time-series input a user can hand ``contrast timeseries``: one ``contrast: error:``
line naming the file (or the data set) and the patient or problem, exit 2, before any training
(no ``metrics.csv`` is written).

Cases: COMET's ``Feature/`` + ``Label/`` layout (conflicting, fractional, negative, missing
labels and patient ids, wrong label-table shape, lower-case folders, missing files, feature files
misnamed, without a label row, with wrong shapes, an empty dimension, inf, an all-NaN trial,
trials shorter than the window, different channel counts, truncated, pickled or non-npy files),
data that cannot be split (one class only, fewer than two patients per split, in ``pretrain`` and
in ``crossval``), PTB WFDB records (malformed header, missing signal file, one patient diagnosed
two ways) and UCI EEG trial files (not gzip, a malformed line, a non-numeric value, no channel
header).
"""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from shared.cli import main
from tests.timeseries_cl.test_ptb import _ecg, _write

TINY = [
    "trainer.epochs=1",
    "encoder.depth=1",
    "encoder.hidden_dims=8",
    "encoder.output_dims=8",
    "eval.finetune_epochs=1",
    "eval.fractions=[1.0]",
    "batch_size=16",
    "data.window=16",
    "data.stride=16",
]


def _run(tmp_path: Path, capsys, source: str, root: Path, command: str = "pretrain") -> str:
    """Run the CLI on ``root``; assert exit 2, one error line and no training; the message."""
    out = tmp_path / "run"
    args = ["timeseries", command, *TINY, f"data.source={source}", f"data.root={root}"]
    args += ["crossval.folds=2", "crossval.seeds=[0]"] if command == "crossval" else []
    code = main([*args, f"trainer.out_dir={out}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("contrast: error: ")
    assert not (out / "metrics.csv").exists()
    return err[0]


def _comet(root: Path, labels: list[tuple[float, float]], n_patients: int = 8) -> Path:
    """A valid COMET layout of ``n_patients`` (3 trials of 32 x 2 each) and ``labels`` rows."""
    (root / "Feature").mkdir(parents=True)
    (root / "Label").mkdir()
    rng = np.random.default_rng(0)
    for patient in range(1, n_patients + 1):
        trials = rng.standard_normal((3, 32, 2))
        np.save(root / "Feature" / f"feature_{patient:02d}.npy", trials)
    np.save(root / "Label" / "label.npy", np.array(labels, dtype=np.float64))
    return root


def _balanced(n: int = 8) -> list[tuple[float, float]]:
    return [(float(p % 2), float(p)) for p in range(1, n + 1)]


def _feature(root: Path, patient: int = 3) -> Path:
    return root / "Feature" / f"feature_{patient:02d}.npy"


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _pickled(path: Path) -> None:
    np.save(path, np.array([{"x": 1}, None], dtype=object))  # np.save pickles objects


def _not_npy(path: Path) -> None:
    path.write_bytes(pickle.dumps([[1.0, 2.0]]))


def _two_d(path: Path) -> None:
    np.save(path, np.zeros((32, 2)))


def _no_trials(path: Path) -> None:
    np.save(path, np.zeros((0, 32, 2)))


def _with_inf(path: Path) -> None:
    trials = np.load(path)
    trials[1, 4, 0] = np.inf
    np.save(path, trials)


def _nan_trial(path: Path) -> None:
    trials = np.load(path)
    trials[2] = np.nan
    np.save(path, trials)


def _short(path: Path) -> None:
    np.save(path, np.zeros((3, 8, 2)))


def _three_channels(path: Path) -> None:
    np.save(path, np.zeros((3, 32, 3)))


def _text_labels(path: Path) -> None:
    np.save(path, np.array([["a", "1"]]))


FEATURE_CASES: list[tuple[str, Callable[[Path], None], str]] = [
    ("truncated npy", _truncate, "not a readable numeric .npy array"),
    ("pickled object npy", _pickled, "not a readable numeric .npy array"),
    ("pickle, not npy", _not_npy, "not a readable numeric .npy array"),
    ("2-D trials", _two_d, "patient 3's trials must have shape (n_trials, T, C), got (32, 2)"),
    ("no trials", _no_trials, "patient 3's trials must have shape (n_trials, T, C), got (0, 32"),
    ("inf value", _with_inf, "patient 3 has inf values"),
    ("all-NaN trial", _nan_trial, "patient 3's trial 2 is entirely NaN"),
    ("shorter than window", _short, "patient 3's trials have 8 observations, shorter than"),
    ("other channel count", _three_channels, "patient 3 has 3 channels, feature_01.npy has 2"),
]


@pytest.mark.parametrize(
    ("case", "damage", "message"), FEATURE_CASES, ids=[c[0] for c in FEATURE_CASES]
)
def test_bad_feature_files_name_file_and_patient(tmp_path, capsys, case, damage, message) -> None:
    root = _comet(tmp_path / "data", _balanced())
    damage(_feature(root))
    error = _run(tmp_path, capsys, "comet_npy", root)
    assert str(_feature(root)) in error and message in error


LABEL_CASES = [
    ("conflicting labels", [*_balanced(), (0.0, 3.0)], "patient 3 has two labels, 1 and 0 (row 8)"),
    ("fractional label", [(0.5, 1.0), *_balanced()[1:]], "row 0: patient 1 has label 0.5"),
    ("negative label", [(-1.0, 1.0), *_balanced()[1:]], "row 0: patient 1 has label -1.0"),
    ("NaN label", [(np.nan, 1.0), *_balanced()[1:]], "row 0: patient 1 has label nan"),
    ("fractional patient id", [*_balanced(), (0.0, 9.5)], "row 8: patient ID 9.5 is not a whole"),
]


@pytest.mark.parametrize(("case", "rows", "message"), LABEL_CASES, ids=[c[0] for c in LABEL_CASES])
def test_bad_label_rows_name_file_row_and_patient(tmp_path, capsys, case, rows, message) -> None:
    root = _comet(tmp_path / "data", rows)
    error = _run(tmp_path, capsys, "comet_npy", root)
    assert str(root / "Label" / "label.npy") in error and message in error


def test_layout_problems_name_the_file(tmp_path, capsys) -> None:
    cases: list[tuple[Callable[[Path], object], str]] = [
        (lambda r: (r / "Feature").rename(r / "feature"), "rename"),
        (lambda r: (r / "Label" / "label.npy").unlink(), "COMET's labels are Label/label.npy"),
        (lambda r: np.save(r / "Label" / "label.npy", np.zeros((8, 3))), "shape (n_patients, 2)"),
        (lambda r: np.save(r / "Label" / "label.npy", np.zeros(8)), "shape (n_patients, 2)"),
        (lambda r: _text_labels(r / "Label" / "label.npy"), "holds <U1 values"),
        (lambda r: _feature(r).rename(r / "Feature" / "feature_x.npy"), "feature_ID.npy"),
        (lambda r: np.save(_feature(r, 9), np.zeros((3, 32, 2))), "patient 9 has no row"),
        (lambda r: [p.unlink() for p in (r / "Feature").glob("*.npy")], "holds no feature_ID"),
    ]
    for i, (damage, message) in enumerate(cases):
        root = _comet(tmp_path / f"data{i}", _balanced())
        damage(root)
        error = _run(tmp_path, capsys, "comet_npy", root)
        assert str(root) in error and message in error, (i, error)


@pytest.mark.parametrize("command", ["pretrain", "crossval"])
def test_data_that_cannot_be_split_fails_before_training(tmp_path, capsys, command) -> None:
    one_class = _comet(tmp_path / "one_class", [(0.0, float(p)) for p in range(1, 9)])
    error = _run(tmp_path, capsys, "comet_npy", one_class, command)
    assert f"{one_class}): every patient has class [0] (patients [1, 2" in error
    few = _comet(tmp_path / "few", _balanced(3), n_patients=3)
    error = _run(tmp_path, capsys, "comet_npy", few, command)
    assert str(few) in error and "patient" in error


def test_bad_ptb_records_name_the_header_or_patient(tmp_path, capsys) -> None:
    root = tmp_path / "ptb"
    _write(root / "patient001", "s0001_re", _ecg(12, 0.8, 0), "Myocardial infarction")
    _write(root / "patient002", "s0002_re", _ecg(12, 0.9, 1), "Healthy control")
    header = root / "patient002" / "s0002_re.hea"
    header.write_text("not a WFDB header\n")
    error = _run(tmp_path, capsys, "ptb_wfdb", root)
    assert f"{header}: not a readable WFDB record" in error

    header.unlink()
    _write(root / "patient002", "s0002_re", _ecg(12, 0.9, 1), "Healthy control")
    (root / "patient002" / "s0002_re.dat").unlink()
    error = _run(tmp_path, capsys, "ptb_wfdb", root)
    assert f"{header}: not a readable WFDB record" in error

    _write(root / "patient002", "s0002_re", _ecg(12, 0.9, 1), "Healthy control")
    _write(root / "patient002", "s0003_re", _ecg(12, 0.9, 2), "Myocardial infarction")
    error = _run(tmp_path, capsys, "ptb_wfdb", root)
    assert f"{root / 'patient002'}: patient 2 has records diagnosed" in error


def _uci_trial(lines: list[str]) -> bytes:
    return gzip.compress("".join(f"{line}\n" for line in lines).encode())


UCI_HEADER = ["# co2a0000001.rd", "# FP1 chan 0", "# FP2 chan 1"]
UCI_ROWS = [f"0 FP{c + 1} {t} {0.1 * t:.3f}" for c in range(2) for t in range(4)]
UCI_CASES = [
    ("not gzip", b"plain text, not gzip\n", "not a readable gzip text trial file"),
    ("truncated gzip", _uci_trial(UCI_HEADER + UCI_ROWS)[:30], "not a readable gzip text"),
    ("malformed line", _uci_trial([*UCI_HEADER, "0 FP1 0"]), "line 4: malformed line"),
    ("non-numeric value", _uci_trial([*UCI_HEADER, "0 FP1 0 x"]), "line 4: value 'x' is not"),
    ("no channel header", _uci_trial(UCI_ROWS), "no '# NAME chan k' header lines"),
]


@pytest.mark.parametrize(("case", "content", "message"), UCI_CASES, ids=[c[0] for c in UCI_CASES])
def test_bad_uci_eeg_trials_name_file_and_line(tmp_path, capsys, case, content, message) -> None:
    trial = tmp_path / "uci" / "co2a0000001" / "co2a0000001.rd.000.gz"
    trial.parent.mkdir(parents=True)
    trial.write_bytes(content)
    error = _run(tmp_path, capsys, "uci_eeg", tmp_path / "uci")
    assert f"{trial}: " in error and message in error
