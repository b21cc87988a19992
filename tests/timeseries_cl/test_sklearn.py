"""The scikit-learn transformer with tslearn datasets, groups/trials, inside a Pipeline, under
scikit-learn's estimator checks and with float64 / float32 kept."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import check_estimator
from tslearn.utils import to_time_series_dataset

from timeseries_cl.sklearn import NOT_APPLICABLE, COMETTransformer, _hierarchy

FAST = {"hidden_dims": 8, "output_dims": 16, "depth": 2, "epochs": 2, "batch_size": 16}


def _series(n: int = 24, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Variable-length 2-channel series; class 1 oscillates twice as fast."""
    rng = np.random.default_rng(seed)
    series, labels = [], []
    for i in range(n):
        label = i % 2
        t = np.arange(rng.integers(20, 33))
        wave = np.sin(2 * np.pi * (0.05 + 0.1 * label) * t + rng.uniform(0, 6))
        series.append(np.stack([wave, -wave], axis=1) + 0.1 * rng.standard_normal((t.size, 2)))
        labels.append(label)
    return series, np.array(labels), np.arange(n) // 4


def test_fit_transform_accepts_nan_padded_tslearn_datasets() -> None:
    series, _, groups = _series()
    X = to_time_series_dataset(series)
    assert np.isnan(X).any()  # variable length -> NaN padding
    z = COMETTransformer(**FAST).fit(X, groups=groups).transform(X)
    assert z.shape == (24, 16) and np.isfinite(z).all()


def test_padding_does_not_change_a_series_embedding() -> None:
    series, _, groups = _series()
    model = COMETTransformer(**FAST).fit(to_time_series_dataset(series), groups=groups)
    alone = model.transform(to_time_series_dataset([series[0]]))
    padded = model.transform(to_time_series_dataset([series[0], np.zeros((40, 2))]))[:1]
    np.testing.assert_allclose(alone, padded, rtol=1e-5, atol=1e-6)


def test_pipeline_with_a_classifier_and_routed_groups() -> None:
    series, y, groups = _series(32)
    X = to_time_series_dataset(series)
    pipe = make_pipeline(COMETTransformer(**FAST), LogisticRegression(max_iter=500))
    pipe.fit(X, y, comettransformer__groups=groups, comettransformer__trials=np.arange(32) // 2)
    assert pipe.predict(X).shape == (32,)
    assert pipe.score(X, y) > 0.5
    assert clone(pipe).get_params()["comettransformer__depth"] == 2


def test_univariate_2d_input_and_sample_baseline() -> None:
    X = np.random.default_rng(0).standard_normal((10, 16))
    z = COMETTransformer(method="sample", **FAST).fit(X).transform(X)
    assert z.shape == (10, 16)


def test_trial_labels_are_scoped_to_their_patient() -> None:
    patient, trial = _hierarchy(4, np.array(["a", "a", "b", "b"]), np.array([0, 1, 0, 1]))
    assert patient.tolist() == [0, 0, 1, 1]
    assert np.unique(trial).size == 4


def test_bad_input_is_reported() -> None:
    X = np.zeros((4, 8, 2))
    with pytest.raises(NotFittedError):
        COMETTransformer().transform(X)
    with pytest.raises(ValueError, match="groups has 3 entries but X has 4 series"):
        COMETTransformer(**FAST).fit(X, groups=[0, 0, 1])
    with pytest.raises(ValueError, match="like tslearn"):
        COMETTransformer(**FAST).fit(np.zeros((2, 3, 4, 5)))
    X[1] = np.nan
    with pytest.raises(ValueError, match=r"series \[1\] are entirely NaN"):
        COMETTransformer(**FAST).fit(X)
    with pytest.raises(ValueError, match="method must be"):
        COMETTransformer(method="simclr").fit(np.zeros((4, 8, 2)))
    fitted = COMETTransformer(**FAST).fit(np.random.default_rng(0).standard_normal((4, 8, 2)))
    with pytest.raises(ValueError, match="fitted on 2"):
        fitted.transform(np.zeros((4, 8, 3)))


def test_check_estimator_passes_but_the_checks_that_do_not_apply_to_time_series() -> None:
    """Every scikit-learn estimator check passes except those of ``NOT_APPLICABLE`` (documented
    with their reason), and those do fail, so the list is not stale."""
    results = check_estimator(
        COMETTransformer(**{**FAST, "epochs": 1}),
        expected_failed_checks=NOT_APPLICABLE,
        on_fail=None,
    )
    status: dict[str, set[str]] = {}
    for r in results:
        status.setdefault(r["status"], set()).add(r["check_name"])
    assert status.get("failed", set()) == set()
    assert status["xfail"] == set(NOT_APPLICABLE)
    assert len(status["passed"]) > 35


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transform_keeps_float64_and_float32(dtype) -> None:
    X = np.random.default_rng(0).standard_normal((12, 16, 2)).astype(dtype)
    model = COMETTransformer(**FAST).fit(X)
    z = model.transform(X)
    assert z.dtype == dtype
    # a series' embedding does not depend on the batch it is in (exactly in float64)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(z[:5], model.transform(X[:5]), rtol=tolerance, atol=tolerance)
    assert model.transform(X.astype(np.int64)).dtype == np.float64
