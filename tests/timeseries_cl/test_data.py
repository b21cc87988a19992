"""Dataset type, windowing, loaders (UCI EEG, WFDB), synthetic data and splits."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from timeseries_cl.data_io import (
    load_uci_eeg,
    load_wfdb,
    read_uci_eeg_trial,
    read_wfdb_record,
)
from timeseries_cl.dataset import HierarchicalDataset, cut_windows, standardize
from timeseries_cl.splits import label_fraction_indices, patient_split
from timeseries_cl.synthetic import synthetic_hierarchical


def _dataset(n: int = 6) -> HierarchicalDataset:
    x = np.random.default_rng(0).standard_normal((n, 8, 2))
    return HierarchicalDataset(x, np.arange(n) % 2, np.arange(n) // 2, np.arange(n))


def test_dataset_converts_to_float32_and_int64() -> None:
    ds = _dataset()
    assert ds.x.dtype == np.float32 and ds.patient.dtype == np.int64
    assert (len(ds), ds.length, ds.n_channels) == (6, 8, 2)


@pytest.mark.parametrize("name", ["label", "patient", "trial"])
def test_mismatched_id_array_is_named(name: str) -> None:
    ids = {"label": np.zeros(6), "patient": np.zeros(6), "trial": np.arange(6)}
    ids[name] = np.zeros(5)
    with pytest.raises(ValueError, match=f"{name} has 5 entries but x has 6 samples"):
        HierarchicalDataset(np.zeros((6, 4, 1)), **ids)


def test_trial_shared_by_two_patients_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"trial ids \[0\] occur under more than one patient"):
        HierarchicalDataset(np.zeros((2, 4, 1)), [0, 0], [0, 1], [0, 0])


def test_nan_gaps_are_kept_but_all_nan_samples_and_inf_are_errors() -> None:
    x = np.zeros((3, 4, 1))
    x[0, 1] = np.nan
    assert np.isnan(HierarchicalDataset(x, [0] * 3, [0] * 3, [0, 1, 2]).x[0, 1, 0])
    x[2] = np.nan
    with pytest.raises(ValueError, match=r"samples \[2\] are entirely NaN"):
        HierarchicalDataset(x, [0] * 3, [0] * 3, [0, 1, 2])
    x[2] = np.inf
    with pytest.raises(ValueError, match="inf"):
        HierarchicalDataset(x, [0] * 3, [0] * 3, [0, 1, 2])


def test_standardize_zscores_channels_maps_constant_to_zero_and_ignores_nan() -> None:
    series = np.stack([np.arange(5.0), np.full(5, 3.0)], axis=1)
    series[2, 0] = np.nan
    out = standardize(series)
    observed = np.array([0.0, 1.0, 3.0, 4.0])
    np.testing.assert_allclose(out[[0, 1, 3, 4], 0], (observed - 2.0) / observed.std(), rtol=1e-6)
    assert np.isnan(out[2, 0])
    np.testing.assert_array_equal(out[:, 1], 0.0)


def test_cut_windows_counts_contents_and_ids() -> None:
    trials = [np.arange(10.0)[:, None], 100 + np.arange(7.0)[:, None]]
    ds = cut_windows(trials, labels=[1, 0], patients=[5, 6], window=4, stride=3)
    # 1 + (10 - 4) // 3 = 3 windows and 1 + (7 - 4) // 3 = 2 windows
    assert ds.x.shape == (5, 4, 1)
    np.testing.assert_array_equal(ds.x[:, 0, 0], [0, 3, 6, 100, 103])
    np.testing.assert_array_equal(ds.trial, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(ds.patient, [5, 5, 5, 6, 6])
    np.testing.assert_array_equal(ds.label, [1, 1, 1, 0, 0])


def test_series_shorter_than_window_is_an_error_naming_the_trial() -> None:
    with pytest.raises(ValueError, match="trial 1 has 3 observations, shorter than the window"):
        cut_windows([np.zeros((8, 1)), np.zeros((3, 1))], [0, 0], [0, 1], window=4, stride=2)


def test_synthetic_hierarchy_is_nested_and_class_balanced() -> None:
    ds = synthetic_hierarchical(
        n_patients=4, trials_per_patient=3, trial_length=64, window=32, stride=16, n_channels=2
    )
    assert ds.x.shape == (4 * 3 * 3, 32, 2)
    assert np.unique(ds.trial).size == 12 and np.unique(ds.patient).size == 4
    for p in range(4):
        assert np.unique(ds.label[ds.patient == p]).size == 1
    assert np.bincount(ds.label).tolist() == [18, 18]


def test_synthetic_classes_differ_in_their_rhythm() -> None:
    ds = synthetic_hierarchical(
        n_patients=8, trials_per_patient=4, trial_length=256, window=256, stride=256, noise=0.1
    )
    spectrum = np.abs(np.fft.rfft(ds.x[:, :, 0], axis=1))
    freq = np.fft.rfftfreq(256)
    slow, fast = np.argmin(np.abs(freq - 0.05)), np.argmin(np.abs(freq - 0.11))
    assert (spectrum[ds.label == 0, slow] > spectrum[ds.label == 0, fast]).all()
    assert (spectrum[ds.label == 1, fast] > spectrum[ds.label == 1, slow]).all()


def test_patient_split_is_disjoint_complete_and_has_both_classes() -> None:
    ds = synthetic_hierarchical(
        n_patients=20, trials_per_patient=2, trial_length=64, window=64, stride=64
    )
    train, val, test = patient_split(ds, (0.6, 0.2, 0.2), seed=3)
    sets = [set(d.patient.tolist()) for d in (train, val, test)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert sets[0] | sets[1] | sets[2] == set(range(20))
    assert [len(s) for s in sets] == [12, 4, 4]
    assert all(np.unique(d.label).size == 2 for d in (train, val, test))


def test_patient_split_rejects_bad_fractions() -> None:
    with pytest.raises(ValueError, match="summing to 1"):
        patient_split(_dataset(), (0.5, 0.2, 0.2))


def test_label_fraction_is_stratified_with_one_per_class_minimum() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    idx = label_fraction_indices(labels, 0.1, seed=0)
    assert np.bincount(labels[idx]).tolist() == [9, 1]
    idx = label_fraction_indices(labels, 0.01, seed=0)
    assert np.bincount(labels[idx]).tolist() == [1, 1]
    np.testing.assert_array_equal(label_fraction_indices(labels, 1.0, 0), np.arange(100))
    with pytest.raises(ValueError, match="fraction"):
        label_fraction_indices(labels, 0.0, 0)


def _write_uci_trial(path: Path, signal: np.ndarray, names: list[str]) -> None:
    lines = [
        "# co2a0000001.rd",
        "# 120 trials, 2 chans, 416 samples 368 post_stim samples",
        "# 3.906000 msecs uV",
        "# S1 obj , trial 0",
    ]
    for c, name in enumerate(names):
        lines.append(f"# {name} chan {c}")
        lines += [f"0 {name} {t} {signal[t, c]:.3f}" for t in range(signal.shape[0])]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(lines) + "\n")


def test_uci_eeg_parser_and_loader_on_written_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    names = ["FP1", "X", "nd", "Y", "CZ"]
    for subject, offset in (("co2a0000001", 0.0), ("co2c0000002", 5.0)):
        (tmp_path / subject).mkdir()
        for k in range(2):
            signal = np.round(rng.standard_normal((16, 5)) + offset, 3)
            _write_uci_trial(tmp_path / subject / f"{subject}.rd.{k:03d}.gz", signal, names)
    signal, parsed = read_uci_eeg_trial(tmp_path / "co2a0000001" / "co2a0000001.rd.000.gz")
    assert parsed == names and signal.shape == (16, 5)
    ds = load_uci_eeg(tmp_path, window=8, stride=8)
    assert ds.x.shape == (2 * 2 * 2, 8, 2)  # X, Y, nd dropped
    np.testing.assert_array_equal(ds.label, [1] * 4 + [0] * 4)
    np.testing.assert_array_equal(ds.patient, [0] * 4 + [1] * 4)
    np.testing.assert_allclose(ds.x.reshape(4, 16, 2).mean(axis=1), 0.0, atol=1e-5)


def test_uci_eeg_loader_without_subjects_names_the_download(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="archive.ics.uci.edu"):
        load_uci_eeg(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_uci_eeg(tmp_path / "missing")


@pytest.mark.realdata
def test_uci_eeg_real_trial(data_dir: Path) -> None:
    path = data_dir / "timeseries/uci_eeg/co2a0000364/co2a0000364.rd.000.gz"
    signal, names = read_uci_eeg_trial(path)
    assert signal.shape == (256, 64)
    assert names[:2] == ["FP1", "FP2"] and names[-2:] == ["nd", "Y"]
    np.testing.assert_allclose(signal[:3, 0], [-8.921, -8.433, -2.574], rtol=1e-6)


@pytest.mark.realdata
def test_uci_eeg_real_subjects(data_dir: Path, tmp_path: Path) -> None:
    root = data_dir / "timeseries/uci_eeg"
    for subject in ("co2a0000364", "co2c0000337"):
        (tmp_path / subject).symlink_to(root / subject)
    ds = load_uci_eeg(tmp_path, window=32, stride=16, downsample=4)
    assert ds.x.shape == (2 * 30 * 3, 32, 61)
    assert np.bincount(ds.label).tolist() == [90, 90]
    assert np.unique(ds.trial).size == 60 and np.isfinite(ds.x).all()


@pytest.mark.realdata
def test_wfdb_reader_and_loader_on_real_records(data_dir: Path) -> None:
    root = data_dir / "timeseries/wfdb_sample_ecg"
    signal, fs, leads = read_wfdb_record(root / "100")
    assert signal.shape == (650000, 2) and fs == 360.0 and leads == ["MLII", "V5"]
    ds = load_wfdb([root / "100"], [0], trial_length=3600, window=720, stride=360, max_trials=4)
    assert ds.x.shape == (4 * 9, 720, 2)
    np.testing.assert_array_equal(np.unique(ds.trial), np.arange(4))
    with pytest.raises(ValueError, match="shorter than trial_length"):
        load_wfdb([root / "100"], [0], trial_length=10**7, window=10, stride=10)
    with pytest.raises(ValueError, match="1 records but 2 labels"):
        load_wfdb([root / "100"], [0, 1], trial_length=3600, window=720, stride=360)
