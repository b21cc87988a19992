"""Batches that keep trials and patients together, so COMET's trial and patient levels have
positives.

The reference (``DL4mHealth/COMET``, ``utils.trial_shuffle_feature_label`` + ``MyBatchSampler``)
sorts samples by trial, shuffles the trial order once, and cuts consecutive batches: same-trial
samples share a batch, same-patient samples only by chance. Here every epoch draws a new layout:

1. each patient's trials are shuffled and grouped into chunks of ``trials_per_patient`` trials;
2. the chunks of all patients are shuffled together and packed, in order, into batches of at
   most ``batch_size`` samples (a chunk is never split, so the last batch may be smaller);
3. each batch is shuffled internally.

A chunk holds every window of its trials, so each trial with >= 2 windows gives trial-level
positives and each chunk with >= 2 samples gives patient-level positives. The permutation is drawn
from a generator seeded from torch's global generator at the start of each epoch, as
``RandomSampler`` does, so ``seed_everything`` and the trainer's exact resume cover it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


class HierarchicalBatchSampler(Sampler[list[int]]):
    """Yields lists of sample indices; see the module docstring.

    Args:
        patient: (n,) patient id per sample.
        trial: (n,) trial id per sample (global ids; a trial belongs to one patient).
        batch_size: maximum samples per batch.
        trials_per_patient: trials of one patient placed together (a chunk).
    """

    def __init__(
        self, patient: np.ndarray, trial: np.ndarray, batch_size: int, trials_per_patient: int = 2
    ) -> None:
        patient, trial = np.asarray(patient), np.asarray(trial)
        if patient.shape != trial.shape or patient.ndim != 1:
            raise ValueError(
                f"patient and trial must be 1-D and equally long, got {patient.shape} and "
                f"{trial.shape}"
            )
        if batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (a contrastive batch), got {batch_size}")
        if trials_per_patient < 1:
            raise ValueError(f"trials_per_patient must be >= 1, got {trials_per_patient}")
        self.batch_size = batch_size
        self.trials_per_patient = trials_per_patient
        self._trial_members = {int(t): np.flatnonzero(trial == t) for t in np.unique(trial)}
        self._patient_trials = {int(p): np.unique(trial[patient == p]) for p in np.unique(patient)}
        biggest = max(
            sum(
                sorted((self._trial_members[int(t)].size for t in trials), reverse=True)[
                    :trials_per_patient
                ]
            )
            for trials in self._patient_trials.values()
        )
        if biggest > batch_size:
            raise ValueError(
                f"a chunk of {trials_per_patient} trial(s) can hold {biggest} samples, more than "
                f"batch_size={batch_size}; lower trials_per_patient or raise batch_size"
            )
        self._n = patient.shape[0]

    def _chunks(self, rng: np.random.Generator) -> list[np.ndarray]:
        chunks = []
        for trials in self._patient_trials.values():
            order = rng.permutation(trials)
            for start in range(0, order.size, self.trials_per_patient):
                group = order[start : start + self.trials_per_patient]
                chunks.append(np.concatenate([self._trial_members[int(t)] for t in group]))
        return [chunks[i] for i in rng.permutation(len(chunks))]

    def __iter__(self) -> Iterator[list[int]]:
        seed = int(torch.empty((), dtype=torch.int64).random_().item())
        rng = np.random.default_rng(seed)
        batch: list[np.ndarray] = []
        size = 0
        for chunk in self._chunks(rng):
            if size + chunk.size > self.batch_size:
                yield rng.permutation(np.concatenate(batch)).tolist()
                batch, size = [], 0
            batch.append(chunk)
            size += chunk.size
        if batch:
            yield rng.permutation(np.concatenate(batch)).tolist()

    def __len__(self) -> int:
        """An estimate (the packing varies per epoch): ceil(n / batch_size)."""
        return -(-self._n // self.batch_size)
