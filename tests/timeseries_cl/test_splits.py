"""Patient splits and k-fold refuse data that cannot be trained or scored, before training."""

from __future__ import annotations

import numpy as np
import pytest

from shared.errors import InputError
from timeseries_cl.dataset import HierarchicalDataset
from timeseries_cl.splits import check_splits, patient_folds, patient_split
from timeseries_cl.synthetic import synthetic_hierarchical


def _patients(labels: list[int], windows: int = 2) -> HierarchicalDataset:
    n = len(labels) * windows
    patient = np.repeat(np.arange(len(labels)), windows)
    return HierarchicalDataset(np.zeros((n, 4, 1)), np.asarray(labels)[patient], patient, patient)


def test_a_patient_with_two_labels_is_named() -> None:
    ds = HierarchicalDataset(np.zeros((4, 4, 1)), [0, 1, 0, 0], [5, 5, 6, 6], [0, 1, 2, 3])
    with pytest.raises(InputError, match=r"data/x: patient 5 has samples with labels \[0, 1\]"):
        patient_split(ds, (0.6, 0.2, 0.2), source="data/x")


def test_a_single_class_training_split_is_refused_before_training() -> None:
    with pytest.raises(InputError, match=r"every patient has class \[1\] \(patients \[0, 1,"):
        patient_split(_patients([1] * 8), (0.6, 0.2, 0.2))
    with pytest.raises(InputError, match=r"every patient has class \[1\]"):
        patient_folds(_patients([1] * 8), 2)
    ds = _patients([0, 0, 0, 1, 1, 1])
    with pytest.raises(InputError, match=r"x: the training split has only class \[0\]"):
        check_splits((ds.patients([0, 1]), ds.patients([2, 3]), ds.patients([4, 5])), "x")


def test_fewer_than_two_patients_per_split_is_refused() -> None:
    with pytest.raises(InputError, match="at least 6 patients"):
        patient_split(_patients([0, 1, 0, 1, 0]), (0.6, 0.2, 0.2))
    ds = _patients([0, 1, 0, 1, 0, 1])
    with pytest.raises(InputError, match=r"the test split has 1 patient\(s\) \(\[5\]\)"):
        check_splits((ds.patients([0, 1, 2]), ds.patients([3, 4]), ds.patients([5])), "x")


def test_split_gives_every_split_two_patients_even_when_fractions_are_small() -> None:
    parts = patient_split(_patients([0, 1] * 4), (0.8, 0.1, 0.1), seed=0)
    assert [np.unique(p.patient).size for p in parts] == [4, 2, 2]


def test_folds_put_every_patient_in_one_test_fold_stratified() -> None:
    ds = synthetic_hierarchical(n_patients=20, trials_per_patient=1, trial_length=64, window=64)
    folds = patient_folds(ds, k=5, seed=1)
    tests = [set(np.unique(test.patient).tolist()) for _, _, test in folds]
    assert sorted(p for t in tests for p in t) == list(range(20))  # each patient exactly once
    for train, val, test in folds:
        assert np.bincount(test.label).tolist() == [2, 2]
        assert np.bincount(val.label).tolist() == [1, 1]
        train_ids, val_ids = set(train.patient.tolist()), set(val.patient.tolist())
        assert not (train_ids & val_ids or train_ids & set(test.patient.tolist()))
        assert len(train_ids) == 14


def test_folds_refuse_k_that_leaves_a_fold_under_two_patients() -> None:
    with pytest.raises(InputError, match="k=4 with 6 patients"):
        patient_folds(_patients([0, 1] * 3), k=4)
