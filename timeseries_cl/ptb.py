"""COMET's PTB Diagnostic ECG processing: a record -> 250 Hz -> z-scored -> R peaks -> heartbeats.

The steps of ``DL4mHealth/COMET`` ``data_preprocessing/PTB/PTB_preprocessing.ipynb``, per record
(15 leads at 1000 Hz):

1. resample every lead to 250 Hz by linear interpolation onto ``int(n / fs * 250)`` evenly spaced
   points between the first and the last sample (:func:`resample_linear`);
2. z-score each lead over the record (scikit-learn's ``StandardScaler``: population standard
   deviation; a constant lead becomes 0);
3. detect R peaks on every lead; the i-th beat sits at the median over leads of each lead's i-th
   peak, and the record's beat length is m = the median over leads of each lead's median R-R
   interval (:func:`r_peaks`);
4. a record with m > 300 samples (a heart rate under 50 bpm, or a failed detection) is an outlier
   and dropped, as is a record with fewer than two peaks on some lead;
5. beat i is ``x[int(p_i) - int(m / 2) : int(p_i) + int(m / 2)]`` (clipped to the record),
   zero-padded on both sides to 300 samples, the left pad ``int((300 - len) / 2)``
   (:func:`heartbeats`);
6. every 10 consecutive beats form one trial (the tail that does not fill 10 is dropped); each
   beat is a sample.

One difference, deliberate: COMET cleans each lead with NeuroKit2 (``ecg_clean``) and detects
peaks with ``ecg_peaks``; here the detector is ``wfdb.processing.xqrs_detect`` (its own band-pass
filter), so the project needs no NeuroKit2. Peak positions can differ by a few samples.

    >>> beats = heartbeats(zscore(resample_linear(signal, fs=1000)))   # (n_beats, 300, 15)
"""

from __future__ import annotations

import numpy as np

TARGET_FS = 250
BEAT_LENGTH = 300
BEATS_PER_TRIAL = 10


def resample_linear(signal: np.ndarray, fs: float, target_fs: int = TARGET_FS) -> np.ndarray:
    """(n, C) at ``fs`` -> (int(n / fs * target_fs), C) by linear interpolation (COMET's
    ``resampling``: ``interp1d`` from ``linspace(1, n, n)`` to ``linspace(1, n, n_new)``)."""
    n = signal.shape[0]
    n_new = int(n / fs * target_fs)
    old, new = np.linspace(1, n, n), np.linspace(1, n, n_new)
    return np.stack([np.interp(new, old, signal[:, c]) for c in range(signal.shape[1])], axis=1)


def zscore(signal: np.ndarray) -> np.ndarray:
    """Per-lead z-score over the record; population std; a constant lead becomes 0."""
    std = signal.std(axis=0)
    return (signal - signal.mean(axis=0)) / np.where(std > 0, std, 1.0)


def r_peaks(signal: np.ndarray, fs: int = TARGET_FS) -> tuple[np.ndarray, float] | None:
    """(beat positions, beat length m) of a (n, C) record, or None when a lead has < 2 peaks.

    Positions: the median over leads of each lead's i-th detected peak (leads with fewer peaks
    drop out of the later medians, as COMET's ragged DataFrame does); m: the median over leads of
    each lead's median R-R interval.
    """
    from wfdb import processing

    per_lead = [
        np.asarray(processing.xqrs_detect(signal[:, c], fs=fs, verbose=False), dtype=float)
        for c in range(signal.shape[1])
    ]
    if min(p.size for p in per_lead) < 2:
        return None
    ragged = np.full((len(per_lead), max(p.size for p in per_lead)), np.nan)
    for c, peaks in enumerate(per_lead):
        ragged[c, : peaks.size] = peaks
    positions = np.nanmedian(ragged, axis=0)
    length = float(np.median([np.median(np.diff(p)) for p in per_lead]))
    return positions, length


def heartbeats(
    signal: np.ndarray, positions: np.ndarray, length: float, beat_length: int = BEAT_LENGTH
) -> np.ndarray:
    """(n_beats, beat_length, C): a window of ``length`` around each position, zero-padded to
    ``beat_length`` with the left pad ``int((beat_length - len) / 2)`` (COMET's ``sample``)."""
    half = int(length / 2)
    beats = np.zeros((positions.size, beat_length, signal.shape[1]))
    for i, position in enumerate(positions):
        beat = signal[max(0, int(position) - half) : min(int(position) + half, signal.shape[0])]
        left = int((beat_length - beat.shape[0]) / 2)
        beats[i, left : left + beat.shape[0]] = beat
    return beats


def record_beats(
    signal: np.ndarray, fs: float, beat_length: int = BEAT_LENGTH
) -> tuple[np.ndarray | None, str]:
    """Steps 1-5 for one record: (beats (n, beat_length, C), "") or (None, why it was dropped)."""
    x = zscore(resample_linear(signal, fs))
    found = r_peaks(x)
    if found is None:
        return None, "fewer than two R peaks on some lead"
    positions, length = found
    if length > beat_length:
        return None, f"median R-R interval {length:.0f} samples at 250 Hz exceeds {beat_length}"
    return heartbeats(x, positions, length, beat_length), ""
