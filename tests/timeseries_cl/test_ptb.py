"""COMET's PTB processing (``timeseries_cl.ptb``, ``data_io.load_ptb_wfdb``) on WFDB records the
test writes (several patients, both classes) and on the real PTB record in the shared data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from shared.errors import InputError
from timeseries_cl import ptb
from timeseries_cl.data_io import load_ptb_wfdb, ptb_diagnosis

FS = 1000
LEADS = ["i", "ii", "v1"]


def _ecg(seconds: float, rr: float, seed: int) -> np.ndarray:
    """Narrow R waves every ``rr`` seconds on a small noisy baseline, per lead gains, in mV."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    beats = np.arange(0.4, seconds - 0.2, rr)
    wave = sum(np.exp(-0.5 * ((t - b) / 0.012) ** 2) for b in beats)
    gains = np.array([1.0, 1.4, 0.8])
    return wave[:, None] * gains + 0.02 * rng.standard_normal((t.size, len(LEADS)))


def _write(folder: Path, name: str, signal: np.ndarray, diagnosis: str) -> None:
    import wfdb

    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(
        name,
        fs=FS,
        units=["mV"] * len(LEADS),
        sig_name=LEADS,
        p_signal=signal,
        fmt=["16"] * len(LEADS),
        comments=[
            "age: 60",
            "sex: male",
            "ECG date: 01/01/1990",
            "Diagnose:",
            f"Reason for admission: {diagnosis}",
        ],
        write_dir=str(folder),
    )


def test_resampling_is_linear_interpolation_onto_250_hz() -> None:
    ramp = np.arange(1000.0)[:, None] * [1.0, -2.0]
    out = ptb.resample_linear(ramp, fs=1000)
    assert out.shape == (250, 2)
    np.testing.assert_allclose(out[:, 0], np.linspace(0, 999, 250))
    np.testing.assert_allclose(out[:, 1], -2 * np.linspace(0, 999, 250))


def test_heartbeats_centre_each_window_and_zero_pad_as_comet() -> None:
    signal = np.arange(1000.0)[:, None]
    beats = ptb.heartbeats(signal, np.array([100.0, 500.0, 990.0]), length=201)
    assert beats.shape == (3, 300, 1)
    # window [p - 100, p + 100) (int(201 / 2) = 100), left pad int((300 - 200) / 2) = 50
    np.testing.assert_array_equal(beats[0, 50:250, 0], np.arange(0, 200))
    assert not beats[0, :50].any() and not beats[0, 250:].any()
    np.testing.assert_array_equal(beats[1, 50:250, 0], np.arange(400, 600))
    # clipped at the record's end: 890..999 (110 samples), left pad int(190 / 2) = 95
    np.testing.assert_array_equal(beats[2, 95:205, 0], np.arange(890, 1000))


def test_diagnosis_comes_from_the_reason_for_admission_line() -> None:
    comments = ["age: 81", "sex: female", "Diagnose:", "Reason for admission: Healthy control"]
    assert ptb_diagnosis(comments) == "Healthy control"
    assert ptb_diagnosis(["age: 81"]) is None


def test_synthetic_patients_become_heartbeat_samples_with_folder_ids(tmp_path: Path) -> None:
    # patient 3: two records (MI); patient 7: healthy; patient 9: another diagnosis (skipped)
    _write(tmp_path / "patient003", "s0001_re", _ecg(13, 0.8, 0), "Myocardial infarction")
    _write(tmp_path / "patient003", "s0002_re", _ecg(9, 0.8, 1), "Myocardial infarction")
    _write(tmp_path / "patient007", "s0003_re", _ecg(13, 1.0, 2), "Healthy control")
    _write(tmp_path / "patient009", "s0004_re", _ecg(13, 1.0, 3), "Cardiomyopathy")
    ds = load_ptb_wfdb(tmp_path)
    assert ds.x.shape[1:] == (300, 3)
    assert ds.patient_labels() == {3: 1, 7: 0}
    # record 1: 16 beats -> 1 trial; record 2: 11 beats -> 1 trial; patient 7: 13 beats -> 1
    assert np.unique(ds.trial).size == 3 and len(ds) == 30
    np.testing.assert_array_equal(np.bincount(ds.trial), [10, 10, 10])
    # an R wave sits at the centre of every beat window (beat length 200 or 250 at 250 Hz),
    # except patient 7's first: its window [100 - 125, 100 + 125) is clipped to [0, 225), so the
    # left pad is int(75 / 2) = 37 and the peak sits at 37 + 100
    peak = np.abs(ds.x[:, :, 1]).argmax(axis=1)
    expected = np.full(30, 150)
    expected[20] = 137
    assert np.all(np.abs(peak - expected) <= 1)
    # patient 3's beats are 0.8 s = 200 samples long: 50 zeros either side
    assert not ds.x[ds.patient == 3][:, :45].any() and ds.x[ds.patient == 3][:, 60:240].any()


def test_a_patient_with_both_diagnoses_is_named(tmp_path: Path) -> None:
    _write(tmp_path / "patient001", "s0001_re", _ecg(13, 0.8, 0), "Myocardial infarction")
    _write(tmp_path / "patient001", "s0002_re", _ecg(13, 0.8, 1), "Healthy control")
    with pytest.raises(InputError, match="patient001: patient 1 has records diagnosed"):
        load_ptb_wfdb(tmp_path)


def test_a_folder_without_patients_says_what_to_point_at(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no patientNNN/ folders"):
        load_ptb_wfdb(tmp_path)


def test_slow_rhythm_records_are_dropped_as_outliers(tmp_path: Path) -> None:
    _write(tmp_path / "patient001", "s0001_re", _ecg(30, 1.5, 0), "Healthy control")
    with pytest.raises(InputError, match="no PTB record gave a trial of 10 heartbeats"):
        load_ptb_wfdb(tmp_path)


def test_the_real_ptb_record(data_dir: Path, tmp_path: Path) -> None:
    """PTB record s0010_re (patient001, myocardial infarction, 15 leads, 38.4 s at 1000 Hz)."""
    source = data_dir / "timeseries" / "wfdb_sample_ecg"
    folder = tmp_path / "patient001"
    folder.mkdir()
    for suffix in (".hea", ".dat", ".xyz"):
        shutil.copy(source / f"s0010_re{suffix}", folder)
    ds = load_ptb_wfdb(tmp_path)
    assert ds.patient_labels() == {1: 1}
    assert ds.x.shape[1:] == (300, 15)
    # about 52 beats in 38.4 s -> 5 trials of 10 heartbeats
    assert np.unique(ds.trial).size == 5 and len(ds) == 50
    np.testing.assert_array_equal(np.bincount(ds.trial), [10] * 5)


def test_data_source_ptb_wfdb_reads_the_folder(tmp_path: Path) -> None:
    from timeseries_cl.config import TimeseriesDataConfig
    from timeseries_cl.data_io import load_source

    _write(tmp_path / "patient002", "s0001_re", _ecg(13, 0.8, 0), "Healthy control")
    cfg = TimeseriesDataConfig(source="ptb_wfdb", root=str(tmp_path), window=300)
    ds = load_source(cfg)
    assert ds.patient_labels() == {2: 0} and ds.x.shape == (10, 300, 3)
