"""COMET's released layout (``Feature/feature_ID.npy``, ``Label/label.npy`` with columns label,
patient ID; ``DL4mHealth/COMET`` README "Processed data"), written exactly so, and its bad
labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.errors import InputError
from timeseries_cl.data_io import load_comet_npy


def _write(root: Path, arrays: dict[str, np.ndarray], labels: list[list[float]]) -> None:
    (root / "Feature").mkdir()
    (root / "Label").mkdir()
    for name, array in arrays.items():
        np.save(root / "Feature" / name, array)
    np.save(root / "Label" / "label.npy", np.asarray(labels))


def test_reads_the_released_layout_matching_files_to_rows_by_patient_id(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 20, 2)), rng.standard_normal((2, 20, 2))
    # rows in another order than the files: the ID in the file name decides
    _write(tmp_path, {"feature_01.npy": a, "feature_02.npy": b}, [[0, 2], [1, 1]])
    ds = load_comet_npy(tmp_path, window=10, stride=10)
    assert ds.x.shape == (10, 10, 2)
    np.testing.assert_array_equal(ds.patient, [1] * 6 + [2] * 4)
    np.testing.assert_array_equal(ds.label, [1] * 6 + [0] * 4)
    np.testing.assert_array_equal(ds.trial, np.repeat(np.arange(5), 2))
    np.testing.assert_allclose(ds.x[1], a[0, 10:20])
    np.testing.assert_allclose(ds.x[9], b[1, 10:20])


def test_lower_case_folders_are_refused_with_the_released_names(tmp_path: Path) -> None:
    (tmp_path / "feature").mkdir()
    (tmp_path / "label").mkdir()
    with pytest.raises(InputError, match=r"Feature does not exist.*rename .*feature to Feature/"):
        load_comet_npy(tmp_path, window=5, stride=5)


def test_a_file_without_a_label_row_names_the_file_and_patient(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {"feature_01.npy": np.zeros((1, 10, 1)), "feature_03.npy": np.zeros((1, 10, 1))},
        [[1, 1], [0, 2]],
    )
    with pytest.raises(InputError, match=r"feature_03.npy: patient 3 has no row in .*label.npy"):
        load_comet_npy(tmp_path, window=5, stride=5)


def test_conflicting_labels_for_one_patient_name_the_file_and_patient(tmp_path: Path) -> None:
    _write(tmp_path, {"feature_01.npy": np.zeros((1, 10, 1))}, [[1, 1], [0, 1]])
    with pytest.raises(InputError, match=r"label.npy: patient 1 has two labels, 1 and 0"):
        load_comet_npy(tmp_path, window=5, stride=5)


def test_a_fractional_label_names_the_file_and_patient(tmp_path: Path) -> None:
    _write(tmp_path, {"feature_01.npy": np.zeros((1, 10, 1))}, [[0.5, 1]])
    with pytest.raises(InputError, match=r"label.npy row 0: patient 1 has label 0.5, not a whole"):
        load_comet_npy(tmp_path, window=5, stride=5)


def test_a_file_name_without_an_id_is_named(tmp_path: Path) -> None:
    _write(tmp_path, {"patient_a.npy": np.zeros((1, 10, 1))}, [[0, 1]])
    with pytest.raises(InputError, match="patient_a.npy: expected a name feature_ID.npy"):
        load_comet_npy(tmp_path, window=5, stride=5)
