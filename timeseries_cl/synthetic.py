"""Synthetic hierarchical data with a planted patient / trial / class structure (the embedded
default data set, for demos and tests).

    >>> data = synthetic_hierarchical(n_patients=4, trials_per_patient=2, window=64, stride=32)
    >>> data.x.shape
    (56, 64, 4)
"""

from __future__ import annotations

import numpy as np

from timeseries_cl.dataset import HierarchicalDataset, cut_windows, standardize


def synthetic_hierarchical(
    n_patients: int = 16,
    trials_per_patient: int = 6,
    trial_length: int = 256,
    n_channels: int = 4,
    *,
    window: int = 64,
    stride: int = 32,
    noise: float = 0.5,
    seed: int = 0,
) -> HierarchicalDataset:
    """Planted hierarchy: x_c(t) = g_r [sin(2 pi f_y t + phi_r) + a_pc sin(2 pi f_p t)] + noise.

    Patients alternate between two classes y (rhythm f_y: 0.05 or 0.11 cycles per step), carry a
    personal rhythm f_p and per-channel gains a_pc (their signature); trial r adds a random phase
    phi_r and gain g_r; Gaussian noise with std ``noise`` is added per observation. Each trial is
    standardised and windowed.
    """
    if n_patients < 2 or trials_per_patient < 1:
        raise ValueError("need n_patients >= 2 and trials_per_patient >= 1")
    rng = np.random.default_rng(seed)
    t = np.arange(trial_length)[:, None]
    class_freq = (0.05, 0.11)
    trials, labels, patients = [], [], []
    for p in range(n_patients):
        label = p % 2
        personal_freq = rng.uniform(0.15, 0.3)
        gains = rng.uniform(0.3, 1.0, size=n_channels)
        for _ in range(trials_per_patient):
            phase = rng.uniform(0, 2 * np.pi)
            trial_gain = rng.uniform(0.7, 1.3)
            signal = trial_gain * (
                np.sin(2 * np.pi * class_freq[label] * t + phase)
                + gains * np.sin(2 * np.pi * personal_freq * t)
            )
            signal = signal + noise * rng.standard_normal((trial_length, n_channels))
            trials.append(standardize(signal))
            labels.append(label)
            patients.append(p)
    return cut_windows(trials, labels, patients, window, stride)
