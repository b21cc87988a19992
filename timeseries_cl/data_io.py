"""Readers of real medical time series, each returning a
:class:`~timeseries_cl.dataset.HierarchicalDataset`, and :func:`load_source`, which picks one from
a data config.

- :func:`load_uci_eeg`: UCI EEG Database (Begleiter; alcoholic vs control, 64 channels at 256 Hz,
  one gzip text file per 1-second trial). Public download: :data:`UCI_EEG_URL`.
- :func:`load_wfdb`: PhysioNet WFDB records read with ``wfdb``; each record is a patient, cut into
  trials of ``trial_length`` observations.
- :func:`load_comet_npy`: the processed layout of COMET's release (``DL4mHealth/COMET`` README,
  "Processed data"; the AD and PTB archives): ``Feature/feature_ID.npy`` (one file per patient,
  ``(n_trials, T, C)``) and ``Label/label.npy`` (``(n_patients, 2)``: label, patient ID), folder
  names case-exact as released.
- :func:`load_ptb_wfdb`: the PTB Diagnostic ECG Database from its WFDB records, processed as
  COMET's ``data_preprocessing/PTB/PTB_preprocessing.ipynb`` does (see there).

Labels are checked before anything trains: a patient with two labels, or a label that is not a
whole number, is an :class:`~shared.errors.InputError` naming the file and the patient.

    >>> data = load_comet_npy("datasets/AD", window=256, stride=128)
    >>> data = load_ptb_wfdb("ptb-diagnostic-ecg-database-1.0.0")
"""

from __future__ import annotations

import gzip
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.signal import decimate

from shared.errors import InputError
from timeseries_cl import ptb
from timeseries_cl.dataset import HierarchicalDataset, cut_windows, standardize
from timeseries_cl.synthetic import synthetic_hierarchical

if TYPE_CHECKING:
    from timeseries_cl.config import TimeseriesDataConfig

log = logging.getLogger("contrast")

UCI_EEG_URL = "https://archive.ics.uci.edu/static/public/121/eeg+database.zip"
UCI_EEG_NON_EEG_CHANNELS = ("X", "Y", "nd")
_UCI_CHANNEL_LINE = re.compile(r"^#\s+(\S+)\s+chan\s+(\d+)\s*$")
_FEATURE_FILE = re.compile(r"^feature_(\d+)\.npy$")


def load_source(cfg: TimeseriesDataConfig) -> HierarchicalDataset:
    """The data set named by ``cfg.source``, windowed with ``cfg.window`` / ``cfg.stride``."""
    if cfg.source == "synthetic":
        return synthetic_hierarchical(
            cfg.synthetic_patients,
            cfg.synthetic_trials,
            n_channels=cfg.synthetic_channels,
            window=cfg.window,
            stride=cfg.stride,
            seed=cfg.split_seed,
        )
    if not cfg.root:
        raise InputError(f"data.root must name the {cfg.source} folder")
    if cfg.source == "uci_eeg":
        return load_uci_eeg(
            cfg.root, window=cfg.window, stride=cfg.stride, downsample=cfg.downsample
        )
    if cfg.source == "ptb_wfdb":
        return load_ptb_wfdb(cfg.root, window=cfg.window)
    return load_comet_npy(cfg.root, window=cfg.window, stride=cfg.stride)


def read_uci_eeg_trial(path: str | Path) -> tuple[np.ndarray, list[str]]:
    """One UCI EEG trial file (gzip text) -> (signal (256, 64) in microvolts, channel names).

    The file has a ``#`` header naming each channel (``# FP1 chan 0``) followed by one line per
    observation: ``trial channel sample value``.
    """
    path = Path(path)
    names: dict[int, str] = {}
    values: list[float] = []
    try:
        with gzip.open(path, "rt") as f:
            for number, line in enumerate(f, 1):
                if line.startswith("#"):
                    match = _UCI_CHANNEL_LINE.match(line)
                    if match:
                        names[int(match.group(2))] = match.group(1)
                    continue
                parts = line.split()
                if len(parts) != 4:
                    raise InputError(
                        f"{path}: line {number}: malformed line {line!r} (expected 4 fields)"
                    )
                try:
                    values.append(float(parts[3]))
                except ValueError:
                    raise InputError(
                        f"{path}: line {number}: value {parts[3]!r} is not a number"
                    ) from None
    except (OSError, EOFError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a readable gzip text trial file ({err})") from err
    if not names:
        raise InputError(f"{path}: no '# NAME chan k' header lines")
    n_channels = len(names)
    if len(values) % n_channels or not values:
        raise InputError(f"{path}: {len(values)} values do not split into {n_channels} channels")
    signal = np.asarray(values, dtype=np.float32).reshape(n_channels, -1).T
    return signal, [names[k] for k in range(n_channels)]


def load_uci_eeg(
    root: str | Path,
    *,
    window: int = 128,
    stride: int = 64,
    downsample: int = 1,
    eeg_only: bool = True,
) -> HierarchicalDataset:
    """UCI EEG Database: subjects ``co2a*`` (alcoholic, label 1) and ``co2c*`` (control, label 0).

    Each subject folder holds one ``*.gz`` file per trial (1 s, 256 Hz). Every trial is
    standardised per channel (COMET's ``process_ts``), optionally decimated by ``downsample``
    (``scipy.signal.decimate``, zero-phase anti-aliasing filter) and cut into windows. Patient
    ids are the subjects' positions in sorted folder order. ``eeg_only`` drops the non-EEG
    channels X, Y and nd (61 channels remain). Download: :data:`UCI_EEG_URL`.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"UCI EEG folder {root} does not exist; download {UCI_EEG_URL}")
    subjects = sorted(p for p in root.iterdir() if p.is_dir() and p.name[:4] in ("co2a", "co2c"))
    if not subjects:
        raise FileNotFoundError(
            f"no UCI EEG subject folders (co2a*/co2c*) under {root}; download {UCI_EEG_URL}"
        )
    if downsample < 1:
        raise ValueError(f"downsample must be >= 1, got {downsample}")
    trials, labels, patients = [], [], []
    for patient_id, subject in enumerate(subjects):
        files = sorted(subject.glob("*.gz"))
        if not files:
            raise FileNotFoundError(f"subject folder {subject} holds no .gz trial files")
        for file in files:
            signal, names = read_uci_eeg_trial(file)
            if eeg_only:
                keep = [i for i, n in enumerate(names) if n not in UCI_EEG_NON_EEG_CHANNELS]
                signal = signal[:, keep]
            signal = standardize(signal)
            if downsample > 1:
                signal = decimate(signal, downsample, axis=0, zero_phase=True).astype(np.float32)
            trials.append(signal)
            labels.append(1 if subject.name[3] == "a" else 0)
            patients.append(patient_id)
    return cut_windows(trials, labels, patients, window, stride)


def read_wfdb_record(path: str | Path) -> tuple[np.ndarray, float, list[str]]:
    """A WFDB record (``path`` without extension) -> (physical signal (T, C), fs in Hz, leads)."""
    import wfdb

    record = wfdb.rdrecord(str(path))
    if record.p_signal is None:
        raise ValueError(f"WFDB record {path} has no physical signal")
    return record.p_signal.astype(np.float32), float(record.fs), list(record.sig_name)


def load_wfdb(
    records: Sequence[str | Path],
    labels: Sequence[int],
    *,
    trial_length: int,
    window: int,
    stride: int,
    max_trials: int | None = None,
) -> HierarchicalDataset:
    """WFDB records as patients: record i (label ``labels[i]``) is cut into consecutive trials of
    ``trial_length`` observations (at most ``max_trials``), each standardised per channel and
    windowed. All records must have the same leads."""
    if len(records) != len(labels):
        raise ValueError(f"got {len(records)} records but {len(labels)} labels")
    trials, trial_labels, patients = [], [], []
    leads: list[str] | None = None
    for patient_id, (path, label) in enumerate(zip(records, labels, strict=True)):
        signal, _, names = read_wfdb_record(path)
        if leads is not None and names != leads:
            raise ValueError(f"record {path} has leads {names}, expected {leads}")
        leads = names
        n_trials = signal.shape[0] // trial_length
        if n_trials == 0:
            raise ValueError(
                f"record {path} has {signal.shape[0]} observations, shorter than trial_length "
                f"({trial_length})"
            )
        if max_trials is not None:
            n_trials = min(n_trials, max_trials)
        for k in range(n_trials):
            trials.append(standardize(signal[k * trial_length : (k + 1) * trial_length]))
            trial_labels.append(label)
            patients.append(patient_id)
    return cut_windows(trials, trial_labels, patients, window, stride)


def load_comet_npy(root: str | Path, *, window: int, stride: int) -> HierarchicalDataset:
    """COMET's processed layout: ``root/Feature/feature_ID.npy`` and ``root/Label/label.npy``.

    ``feature_ID.npy`` holds patient ID's trials, ``(n_trials, T, C)``; ``label.npy`` has one row
    ``(label, ID)`` per patient. Files are matched to rows by the ID in the file name (the
    official loader pairs the i-th sorted file with row i, which is the same for the released
    archives). Trials are windowed as given (COMET's preprocessing already normalised them),
    trial ids numbered over the sorted files. Errors name the file and the patient: a missing or
    lower-case folder, a file with no row, a patient ID in two rows with different labels, a
    label that is not a whole number.
    """
    root = Path(root)
    feature_dir, label_path = root / "Feature", root / "Label" / "label.npy"
    for released, wrong in ((feature_dir, root / "feature"), (label_path.parent, root / "label")):
        if not released.is_dir():
            hint = (
                f"; rename {wrong} to {released.name}/ (the case COMET releases)"
                if (wrong.is_dir())
                else ""
            )
            raise InputError(
                f"{released} does not exist: COMET's layout is Feature/ and Label/{hint}"
            )
    if not label_path.is_file():
        raise InputError(f"{label_path} does not exist: COMET's labels are Label/label.npy")
    table = _load_npy(label_path)
    if table.ndim != 2 or table.shape[1] != 2:
        raise InputError(
            f"{label_path} must have shape (n_patients, 2) with columns (label, patient ID), got "
            f"{table.shape}"
        )
    labels = _patient_label_table(table, label_path)
    files = sorted(feature_dir.glob("*.npy"))
    if not files:
        raise InputError(f"{feature_dir} holds no feature_ID.npy files")
    trials: list[np.ndarray] = []
    trial_labels: list[int] = []
    patients: list[int] = []
    channels: tuple[Path, int] | None = None
    for file in files:
        match = _FEATURE_FILE.match(file.name)
        if match is None:
            raise InputError(f"{file}: expected a name feature_ID.npy with an integer patient ID")
        patient = int(match.group(1))
        if patient not in labels:
            raise InputError(f"{file}: patient {patient} has no row in {label_path}")
        array = _load_npy(file)
        if array.ndim != 3 or 0 in array.shape:
            raise InputError(
                f"{file}: patient {patient}'s trials must have shape (n_trials, T, C), got "
                f"{array.shape}"
            )
        _check_feature_values(array, file, patient, window)
        if channels is not None and array.shape[2] != channels[1]:
            raise InputError(
                f"{file}: patient {patient} has {array.shape[2]} channels, {channels[0].name} has "
                f"{channels[1]}; every patient needs the same channels"
            )
        channels = channels or (file, array.shape[2])
        trials.extend(array)
        trial_labels.extend([labels[patient]] * array.shape[0])
        patients.extend([patient] * array.shape[0])
    return cut_windows(trials, trial_labels, patients, window, stride)


def _load_npy(path: Path) -> np.ndarray:
    """A numeric ``.npy`` array, never unpickling; a truncated, pickled or foreign file is an
    :class:`InputError` naming it."""
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        reason = " ".join(str(err).split())
        raise InputError(f"{path}: not a readable numeric .npy array ({reason})") from err
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        kind = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
        raise InputError(f"{path}: holds {kind} values; COMET's arrays are numeric")
    return array


def _check_feature_values(array: np.ndarray, path: Path, patient: int, window: int) -> None:
    """Refuse what would fail later without the file's name: inf, an all-NaN trial, trials
    shorter than the window."""
    if np.isinf(array).any():
        raise InputError(f"{path}: patient {patient} has inf values; mark missing ones with NaN")
    empty = np.isnan(array).all(axis=(1, 2))
    if empty.any():
        raise InputError(
            f"{path}: patient {patient}'s trial {int(np.flatnonzero(empty)[0])} is entirely NaN"
        )
    if array.shape[1] < window:
        raise InputError(
            f"{path}: patient {patient}'s trials have {array.shape[1]} observations, shorter "
            f"than data.window ({window})"
        )


def _patient_label_table(table: np.ndarray, path: Path) -> dict[int, int]:
    """Patient ID -> label from COMET's ``label.npy`` rows, refusing missing, negative and
    fractional values and a patient listed with two labels."""
    out: dict[int, int] = {}
    for row, (label, patient) in enumerate(table.tolist()):
        if not np.isfinite(patient) or float(patient) != int(patient):
            raise InputError(f"{path} row {row}: patient ID {patient} is not a whole number")
        if not np.isfinite(label) or float(label) != int(label) or label < 0:
            raise InputError(
                f"{path} row {row}: patient {int(patient)} has label {label}, not a whole number "
                ">= 0 (labels are class indices 0, 1, ...)"
            )
        patient, label = int(patient), int(label)
        if out.get(patient, label) != label:
            raise InputError(
                f"{path}: patient {patient} has two labels, {out[patient]} and {label} (row "
                f"{row}); a patient has one label"
            )
        out[patient] = label
    return out


def _read_ptb_record(header: Path) -> Any:
    """``wfdb.rdrecord`` of ``header``'s record; an unreadable header or signal file is an
    :class:`InputError` naming the header."""
    import wfdb

    try:
        record = wfdb.rdrecord(str(header.with_suffix("")))
    except (ValueError, IndexError, KeyError, TypeError, OSError, EOFError) as err:  # wfdb's
        reason = " ".join(str(err).split()) or type(err).__name__
        raise InputError(f"{header}: not a readable WFDB record ({reason})") from err
    if record.p_signal is None or record.p_signal.ndim != 2 or record.p_signal.shape[0] == 0:
        raise InputError(f"{header}: the record has no physical signal")
    return record


PTB_CLASSES = {"Healthy control": 0, "Myocardial infarction": 1}
_PTB_PATIENT = re.compile(r"^patient(\d+)$")


def ptb_diagnosis(comments: Sequence[str]) -> str | None:
    """The ``Reason for admission:`` value of a PTB header's comments (COMET reads comment 4,
    which is that line in every PTB header), or None when the header has none."""
    for line in comments:
        key, _, value = line.partition(":")
        if key.strip().lower() == "reason for admission":
            return value.strip()
    return None


def load_ptb_wfdb(
    root: str | Path, *, window: int = ptb.BEAT_LENGTH, beats_per_trial: int = ptb.BEATS_PER_TRIAL
) -> HierarchicalDataset:
    """The PTB Diagnostic ECG Database (PhysioNet ``ptbdb``) from its WFDB records, as COMET
    processes it (:mod:`timeseries_cl.ptb`): myocardial infarction (label 1) vs healthy control
    (label 0), one sample per heartbeat of ``window`` samples at 250 Hz, ``beats_per_trial``
    consecutive beats per trial.

    ``root/patientNNN/*.hea``: folder ``patientNNN`` is patient NNN. A patient is kept when one
    of its records' headers says ``Reason for admission: Myocardial infarction`` or ``Healthy
    control``; then all its records are used (as COMET does). Dropped records and patients are
    logged. Errors name the record: no patient folders, a patient whose records give both
    diagnoses, records with different leads.
    """

    root = Path(root)
    folders = (
        sorted(p for p in root.glob("patient*") if p.is_dir() and _PTB_PATIENT.match(p.name))
        if root.is_dir()
        else []
    )
    if not folders:
        raise InputError(
            f"{root}: no patientNNN/ folders of WFDB records; point data.root at the PTB "
            "Diagnostic ECG Database (physionet.org/content/ptbdb)"
        )
    trials, labels, patients = [], [], []
    leads: list[str] | None = None
    for folder in folders:
        patient = int(_PTB_PATIENT.match(folder.name).group(1))  # type: ignore[union-attr]
        records = [_read_ptb_record(h) for h in sorted(folder.glob("*.hea"))]
        diagnoses = {
            (r.record_name, d) for r in records if (d := ptb_diagnosis(r.comments)) in PTB_CLASSES
        }
        if not diagnoses:
            log.info("PTB: %s skipped (neither myocardial infarction nor healthy control)", folder)
            continue
        if len({d for _, d in diagnoses}) > 1:
            raise InputError(
                f"{folder}: patient {patient} has records diagnosed "
                f"{sorted(diagnoses)}; a patient has one label"
            )
        label = PTB_CLASSES[next(iter(diagnoses))[1]]
        beats: list[np.ndarray] = []
        for record in records:
            if leads is not None and list(record.sig_name) != leads:
                raise InputError(
                    f"{folder / record.record_name}: leads {record.sig_name}, expected {leads}"
                )
            leads = list(record.sig_name)
            found, why = ptb.record_beats(record.p_signal, float(record.fs), window)
            if found is None:
                log.info("PTB: record %s dropped: %s", folder / record.record_name, why)
                continue
            beats.extend(
                found[k : k + beats_per_trial]
                for k in range(0, found.shape[0] - beats_per_trial + 1, beats_per_trial)
            )
        if not beats:
            log.info("PTB: patient %d dropped: no record gave %d beats", patient, beats_per_trial)
            continue
        for group in beats:
            trials.append(group.reshape(-1, group.shape[-1]))
            labels.append(label)
            patients.append(patient)
    if not trials:
        raise InputError(f"{root}: no PTB record gave a trial of {beats_per_trial} heartbeats")
    return cut_windows(trials, labels, patients, window, window)
