"""Patient-independent splits: train / validation / test by patient, stratified k-fold over
patients, label fractions, and the checks that stop a run whose splits cannot be trained or
scored.

No patient is in two splits of one split set. Patients are stratified by their (one) label, read
with :meth:`~timeseries_cl.dataset.HierarchicalDataset.patient_labels`, which refuses a patient
with two labels.

    >>> train, val, test = patient_split(data, (0.6, 0.2, 0.2), seed=0)
    >>> for train, val, test in patient_folds(data, k=5, seed=0):
    ...     ...
"""

from __future__ import annotations

import numpy as np

from shared.errors import InputError
from timeseries_cl.dataset import HierarchicalDataset

Splits = tuple[HierarchicalDataset, HierarchicalDataset, HierarchicalDataset]
SPLIT_NAMES = ("training", "validation", "test")


def check_splits(parts: Splits, source: str) -> None:
    """:class:`~shared.errors.InputError` naming ``source`` unless every split has at least two
    patients and the training split has at least two classes."""
    for name, part in zip(SPLIT_NAMES, parts, strict=True):
        patients = np.unique(part.patient)
        if patients.size < 2:
            raise InputError(
                f"{source}: the {name} split has {patients.size} patient(s) "
                f"({patients.tolist()}); every split needs at least two patients, so add patients "
                "or change data.split"
            )
    classes = np.unique(parts[0].label)
    if classes.size < 2:
        raise InputError(
            f"{source}: the training split has only class {classes.tolist()} (patients "
            f"{np.unique(parts[0].patient).tolist()}); it needs patients of at least two classes"
        )


def patient_split(
    dataset: HierarchicalDataset,
    fractions: tuple[float, float, float],
    seed: int = 0,
    source: str = "the data set",
) -> Splits:
    """Patient-independent train/val/test split: no patient in two splits.

    Patients are shuffled within each class and dealt to the splits in proportion to
    ``fractions`` so every split gets patients of every class when there are enough; each split
    gets at least one patient. The result is checked with :func:`check_splits`.
    """
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1) > 1e-6:
        raise InputError(f"data.split must be three positive numbers summing to 1, got {fractions}")
    labels = _patient_labels(dataset, source)
    ids = np.asarray(sorted(labels))
    if ids.size < 6:
        raise InputError(
            f"{source}: a patient-independent split needs at least 6 patients (two per split), "
            f"got {ids.size}"
        )
    patient_label = np.asarray([labels[int(p)] for p in ids])
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[], [], []]
    for label in np.unique(patient_label):
        group = rng.permutation(ids[patient_label == label])
        bounds = np.round(np.cumsum(fractions)[:2] * group.size).astype(int)
        for part, chunk in zip(parts, np.split(group, bounds), strict=True):
            part.extend(chunk.tolist())
    for k in (1, 2, 0):
        while len(parts[k]) < 2:
            donor = parts[max(range(3), key=lambda j: len(parts[j]))]
            # give away a patient of the donor's most frequent class, keeping classes spread
            counts = np.bincount([labels[p] for p in donor])
            give = next(p for p in reversed(donor) if labels[p] == int(np.argmax(counts)))
            donor.remove(give)
            parts[k].append(give)
    split = (
        dataset.patients(parts[0]),
        dataset.patients(parts[1]),
        dataset.patients(parts[2]),
    )
    check_splits(split, source)
    return split


def patient_folds(
    dataset: HierarchicalDataset, k: int, seed: int = 0, source: str = "the data set"
) -> list[Splits]:
    """Stratified patient-level k-fold: every patient is a test patient in exactly one fold.

    Patients of each class are shuffled with ``seed`` and dealt round-robin to the ``k`` test
    folds (so each fold's test patients follow the class balance). In fold i the validation
    patients are one patient of each class taken from fold (i + 1) mod k; the training patients
    are all the others. Every fold is checked with :func:`check_splits`.
    """
    labels = _patient_labels(dataset, source)
    ids = np.asarray(sorted(labels))
    if not 2 <= k <= ids.size // 2:
        raise InputError(
            f"{source}: k-fold needs 2 <= k <= patients / 2 (two test patients per fold), got "
            f"k={k} with {ids.size} patients"
        )
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    position = 0
    for label in sorted(set(labels.values())):
        for patient in rng.permutation(ids[[labels[int(p)] == label for p in ids]]):
            folds[position % k].append(int(patient))
            position += 1
    out = []
    for i in range(k):
        test = folds[i]
        val = _one_per_class(folds[(i + 1) % k], labels)
        train = [int(p) for p in ids if p not in test and p not in val]
        split = (dataset.patients(train), dataset.patients(val), dataset.patients(test))
        check_splits(split, f"{source}, fold {i}")
        out.append(split)
    return out


def _patient_labels(dataset: HierarchicalDataset, source: str) -> dict[int, int]:
    """Patient id -> label, refusing a data set whose patients are all of one class."""
    labels = dataset.patient_labels(source)
    classes = sorted(set(labels.values()))
    if len(classes) < 2:
        raise InputError(
            f"{source}: every patient has class {classes} (patients {sorted(labels)}); "
            "classification needs patients of at least two classes"
        )
    return labels


def _one_per_class(patients: list[int], labels: dict[int, int]) -> list[int]:
    chosen: dict[int, int] = {}
    for patient in patients:
        chosen.setdefault(labels[patient], patient)
    return sorted(chosen.values())


def label_fraction_indices(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted positions of a random ``fraction`` of the samples, stratified by label (at least one
    per class); all positions when ``fraction == 1``."""
    if not 0 < fraction <= 1:
        raise InputError(f"eval.fractions must lie in (0, 1], got {fraction}")
    labels = np.asarray(labels)
    if fraction == 1:
        return np.arange(labels.shape[0])
    rng = np.random.default_rng(seed)
    keep = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        n = max(1, round(fraction * members.size))
        keep.append(rng.choice(members, size=n, replace=False))
    return np.sort(np.concatenate(keep))
