"""The hierarchical data set type and how trials become its samples (standardising, windowing).

COMET (Wang et al., NeurIPS 2023, "Contrast Everything: A Hierarchical Contrastive Framework for
Medical Time-Series") organises data as patient -> trial -> sample -> observation: a patient has
several trials (recording sessions), each trial is cut into fixed-length samples (windows), and a
sample is a sequence of observations (timestamps). :class:`HierarchicalDataset` holds the sample
level in tslearn's layout ``(n_samples, T, channels)`` with a label, a patient id and a trial id
per sample.

Bad input, and how it is handled:

- id arrays whose length differs from ``x``, or a trial id shared by two patients: error naming
  the array / the trial;
- NaN inside a sample (a gap): kept; the encoder treats a timestamp with any NaN channel as
  missing (TS2Vec convention) and pooling skips it. A sample that is entirely NaN: error;
  inf: error;
- constant channels: standardisation maps them to 0 instead of dividing by a zero deviation;
- a series shorter than the window: error naming the trial and both lengths.

    >>> data = cut_windows([np.zeros((256, 2))], labels=[1], patients=[7], window=64, stride=32)
    >>> len(data), data.patient_labels()
    (7, {7: 1})
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.errors import InputError


@dataclass(frozen=True)
class HierarchicalDataset:
    """Samples ``x`` of shape (n, T, C) (tslearn layout) with per-sample label, patient and trial.

    Trial ids are global: a trial belongs to exactly one patient. ``x`` is float32; NaN marks
    missing observations (see the module docstring).
    """

    x: np.ndarray
    label: np.ndarray
    patient: np.ndarray
    trial: np.ndarray

    def __post_init__(self) -> None:
        x = np.asarray(self.x)
        if x.ndim != 3:
            raise ValueError(f"x must have shape (n_samples, T, channels), got {x.shape}")
        if x.shape[0] == 0 or x.shape[1] == 0 or x.shape[2] == 0:
            raise ValueError(f"x has an empty dimension: {x.shape}")
        if not np.issubdtype(x.dtype, np.number):
            raise TypeError(f"x must be numeric, got dtype {x.dtype}")
        x = x.astype(np.float32, copy=False)
        if np.isinf(x).any():
            raise ValueError("x contains inf; mark missing observations with NaN instead")
        all_nan = np.isnan(x).all(axis=(1, 2))
        if all_nan.any():
            raise ValueError(f"samples {np.flatnonzero(all_nan)[:5].tolist()} are entirely NaN")
        object.__setattr__(self, "x", x)
        for name in ("label", "patient", "trial"):
            object.__setattr__(self, name, _id_array(getattr(self, name), name, x.shape[0]))
        _check_trials_nested(self.patient, self.trial)

    def __len__(self) -> int:
        return self.x.shape[0]

    @property
    def length(self) -> int:
        return self.x.shape[1]

    @property
    def n_channels(self) -> int:
        return self.x.shape[2]

    def subset(self, indices: np.ndarray) -> HierarchicalDataset:
        """The samples at ``indices`` (integer positions or a boolean mask)."""
        idx = np.asarray(indices)
        return HierarchicalDataset(self.x[idx], self.label[idx], self.patient[idx], self.trial[idx])

    def patients(self, patient_ids: Sequence[int] | np.ndarray) -> HierarchicalDataset:
        """The samples of the given patients."""
        return self.subset(np.isin(self.patient, np.asarray(patient_ids)))

    def patient_labels(self, source: str = "the data set") -> dict[int, int]:
        """Patient id -> its one label; :class:`~shared.errors.InputError` naming ``source`` and
        the patient when a patient's samples carry two labels (COMET's labels are per patient)."""
        pairs = np.unique(np.stack([self.patient, self.label], axis=1), axis=0)
        ids, counts = np.unique(pairs[:, 0], return_counts=True)
        if (counts > 1).any():
            patient = int(ids[counts > 1][0])
            found = sorted(pairs[pairs[:, 0] == patient, 1].tolist())
            raise InputError(
                f"{source}: patient {patient} has samples with labels {found}; a patient must "
                "have one label"
            )
        return {int(p): int(y) for p, y in pairs}


def _id_array(values: object, name: str, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (n_samples,), got shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} entries but x has {n} samples")
    if not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise TypeError(f"{name} must hold integer ids, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _check_trials_nested(patient: np.ndarray, trial: np.ndarray) -> None:
    pairs = np.unique(np.stack([trial, patient], axis=1), axis=0)
    trial_ids, counts = np.unique(pairs[:, 0], return_counts=True)
    shared = trial_ids[counts > 1]
    if shared.size:
        raise ValueError(
            f"trial ids {shared[:5].tolist()} occur under more than one patient; trial ids must "
            "be global (one patient per trial)"
        )


def standardize(series: np.ndarray) -> np.ndarray:
    """Per-channel z-score of one series (T, C), ignoring NaN; constant channels become 0."""
    mean = np.nanmean(series, axis=0, keepdims=True)
    std = np.nanstd(series, axis=0, keepdims=True)
    std = np.where(std > 0, std, 1.0)
    return ((series - mean) / std).astype(np.float32)


def cut_windows(
    trials: Sequence[np.ndarray],
    labels: Sequence[int] | np.ndarray,
    patients: Sequence[int] | np.ndarray,
    window: int,
    stride: int,
) -> HierarchicalDataset:
    """Cut each trial (T_i, C) into windows of ``window`` observations every ``stride`` steps.

    Trial ``i`` gets trial id ``i``; its windows inherit ``labels[i]`` and ``patients[i]``
    (COMET's ``split_data_label``; a trial of length T gives ``1 + (T - window) // stride``
    windows, the tail that does not fill a window is dropped).
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got window={window}, stride={stride}")
    if len(trials) == 0:
        raise ValueError("trials is empty")
    if not len(labels) == len(patients) == len(trials):
        raise ValueError(
            f"trials, labels and patients must have one entry per trial, got {len(trials)}, "
            f"{len(labels)} and {len(patients)}"
        )
    channels = {np.asarray(t).shape[-1] for t in trials}
    if len(channels) != 1 or any(np.asarray(t).ndim != 2 for t in trials):
        raise ValueError("every trial must be a (T, C) array with the same number of channels C")
    xs, ys, ps, ts = [], [], [], []
    for i, trial in enumerate(trials):
        trial = np.asarray(trial, dtype=np.float32)
        if trial.shape[0] < window:
            raise ValueError(
                f"trial {i} has {trial.shape[0]} observations, shorter than the window ({window})"
            )
        starts = np.arange(0, trial.shape[0] - window + 1, stride)
        xs.append(np.stack([trial[s : s + window] for s in starts]))
        ys.append(np.full(starts.size, labels[i]))
        ps.append(np.full(starts.size, patients[i]))
        ts.append(np.full(starts.size, i))
    return HierarchicalDataset(
        np.concatenate(xs), np.concatenate(ys), np.concatenate(ps), np.concatenate(ts)
    )
