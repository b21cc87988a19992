"""A scikit-learn transformer: COMET (or the sample baseline) pretraining as ``fit``, embeddings as
``transform``; accepts tslearn time-series datasets and works inside a ``Pipeline``.

    from sklearn.pipeline import make_pipeline
    from sklearn.linear_model import LogisticRegression
    from tslearn.utils import to_time_series_dataset

    X = to_time_series_dataset(list_of_series)          # (n, T_max, d), NaN-padded
    pipe = make_pipeline(COMETTransformer(epochs=20), LogisticRegression())
    pipe.fit(X, y, comettransformer__groups=patient_ids, comettransformer__trials=trial_ids)

``X`` is ``(n, T, d)`` (tslearn layout) or ``(n, T)`` for univariate series; NaN marks missing or
padded observations, which the encoder masks and pooling skips, so variable-length series need
no resampling. ``groups`` are patient ids and ``trials`` trial ids (any hashable labels; a trial
label is interpreted within its patient). Without ``groups`` every series is its own patient and
without ``trials`` its own trial; those levels then have no positives and contribute 0, so COMET
reduces to its sample and observation levels.

``transform`` keeps float32 input float32 and returns float64 for anything else, computed in
float64 (a float64 copy of the trained network), so float64 results do not depend on which
series share a batch. The transformer passes
``sklearn.utils.estimator_checks.check_estimator`` except for the checks in
:data:`NOT_APPLICABLE`, which assume that the columns of a 2-D ``X`` are features: here they are
the timestamps of univariate series, whose number may differ between ``fit`` and ``transform``
(series are pooled over time) and among which NaN marks a missing observation. Each entry gives
the reason.
"""

from __future__ import annotations

import copy
import tempfile

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from shared.training import Trainer, TrainerConfig
from timeseries_cl.comet import EncoderConfig, LevelWeights
from timeseries_cl.config import COMETConfig, SampleContrastConfig, TimeseriesExperiment
from timeseries_cl.dataset import HierarchicalDataset
from timeseries_cl.evaluation import encode
from timeseries_cl.experiment import build_method, hierarchical_batches

NOT_APPLICABLE = {
    "check_n_features_in": (
        "n_features_in_ counts channels; the columns of a 2-D X are the timestamps of univariate "
        "series (1 channel)"
    ),
    "check_n_features_in_after_fitting": (
        "n_features_in_ counts channels, and a 2-D X always has 1 channel, so a 2-D X with another "
        "number of columns is a valid input of other length"
    ),
    "check_transformer_general": (
        "series of another length (number of columns) are valid in transform: representations "
        "are pooled over time"
    ),
    "check_estimators_nan_inf": (
        "NaN marks a missing or padded observation (tslearn's layout), so NaN is valid input; inf "
        "is refused"
    ),
}
"""The ``check_estimator`` checks that do not apply to time series, with the reason (pass it as
``expected_failed_checks``)."""


class COMETTransformer(TransformerMixin, BaseEstimator):
    """Contrastive pretraining on ``X`` in ``fit``; ``transform`` returns (n, output_dims).

    Args:
        method: ``"comet"`` (four levels) or ``"sample"`` (SimCLR-style baseline).
        weights: COMET level weights (patient, trial, sample, observation).
        hidden_dims, output_dims, depth: TS2Vec encoder sizes.
        epochs, batch_size, lr: pretraining schedule (AdamW).
        trials_per_patient: trials of one patient kept together in a batch.
        temperature: temperature of the patient/trial levels (and of the sample baseline).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        random_state: seed of the pretraining run.
    """

    def __init__(
        self,
        method: str = "comet",
        weights: tuple[float, float, float, float] = (0.25, 0.25, 0.25, 0.25),
        hidden_dims: int = 64,
        output_dims: int = 320,
        depth: int = 10,
        epochs: int = 10,
        batch_size: int = 64,
        lr: float = 1e-3,
        trials_per_patient: int = 2,
        temperature: float = 0.1,
        device: str = "cpu",
        random_state: int = 0,
    ) -> None:
        self.method = method
        self.weights = weights
        self.hidden_dims = hidden_dims
        self.output_dims = output_dims
        self.depth = depth
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.trials_per_patient = trials_per_patient
        self.temperature = temperature
        self.device = device
        self.random_state = random_state

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray | None = None,
        groups: np.ndarray | None = None,
        trials: np.ndarray | None = None,
    ) -> COMETTransformer:
        """Pretrain on ``X``; ``y`` is ignored (self-supervised)."""
        if self.method not in ("comet", "sample"):
            raise ValueError(f"method must be 'comet' or 'sample', got {self.method!r}")
        x = _series(X, "X")
        patient, trial = _hierarchy(x.shape[0], groups, trials)
        data = HierarchicalDataset(x, np.zeros(x.shape[0], dtype=np.int64), patient, trial)
        exp = TimeseriesExperiment(
            method="comet" if self.method == "comet" else "sample",
            encoder=EncoderConfig(self.hidden_dims, self.output_dims, self.depth),
            comet=COMETConfig(LevelWeights(*self.weights), self.temperature),
            sample=SampleContrastConfig(self.temperature),
            batch_size=min(self.batch_size, max(2, x.shape[0])),
            trials_per_patient=self.trials_per_patient,
        )
        torch.manual_seed(self.random_state)
        method = build_method(exp, x.shape[2])
        with tempfile.TemporaryDirectory() as tmp:
            exp.trainer = TrainerConfig(
                epochs=self.epochs,
                lr=self.lr,
                optimizer="adamw",
                seed=self.random_state,
                out_dir=tmp,
                checkpoint_every=0,
                progress=False,
                tensorboard=False,
                log_every=0,
                device=self.device,
            )
            batches = hierarchical_batches(data, exp.batch_size, exp.trials_per_patient)
            Trainer(exp.trainer, method).fit(batches)
        self.model_ = method.eval()
        self.n_features_in_ = x.shape[2]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """(n, output_dims) max-pooled representations of the observed timestamps."""
        check_is_fitted(self, "model_")
        single = isinstance(X, np.ndarray) and X.dtype == np.float32
        x = _series(X, "X", np.float32 if single else np.float64)
        if x.shape[2] != self.n_features_in_:
            raise ValueError(
                f"X has {x.shape[2]} channels but the transformer was fitted on "
                f"{self.n_features_in_}"
            )
        return encode(self.model_ if single else copy.deepcopy(self.model_).double(), x)


def _series(X: object, name: str, dtype: type[np.floating] = np.float32) -> np.ndarray:
    """``X`` as (n, T, channels) of ``dtype``, refusing what the encoder cannot take."""
    if sp.issparse(X):
        raise TypeError(
            f"Sparse data was passed for {name}, but dense data is required: sparse input is not "
            "supported (use X.toarray())"
        )
    raw = np.asarray(X)
    if np.iscomplexobj(raw):
        raise ValueError(f"Complex data not supported: {name} has dtype {raw.dtype}")
    x = raw.astype(dtype)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.ndim != 3:
        raise ValueError(
            f"{name} must be (n_series, T, channels) like tslearn's to_time_series_dataset, or "
            f"(n_series, T) for univariate series; got shape {x.shape}. Reshape your data: "
            "X.reshape(1, -1) for one univariate series"
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} holds no series (shape={raw.shape})")
    if x.shape[1] < 2:
        raise ValueError(
            f"Found array with {x.shape[1]} feature(s) (shape={raw.shape}) while a minimum of 2 "
            f"is required: n_features = {x.shape[1]}, but COMET contrasts timestamps, so each "
            "series needs at least 2"
        )
    if np.isinf(x).any():
        raise ValueError(f"{name} contains inf; mark missing observations with NaN")
    empty = np.isnan(x).all(axis=(1, 2))
    if empty.any():
        raise ValueError(f"{name} series {np.flatnonzero(empty)[:5].tolist()} are entirely NaN")
    return x


def _hierarchy(
    n: int, groups: np.ndarray | None, trials: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Integer patient ids, and global trial ids coded per (patient, trial label) pair."""
    for name, values in (("groups", groups), ("trials", trials)):
        if values is not None and len(values) != n:
            raise ValueError(f"{name} has {len(values)} entries but X has {n} series")
    if groups is None:
        patient = np.arange(n)
    else:
        patient = np.unique(np.asarray(groups), return_inverse=True)[1]
    if trials is None:
        return patient.reshape(-1), np.arange(n)
    trial_label = np.unique(np.asarray(trials), return_inverse=True)[1].reshape(-1)
    pairs = np.stack([patient.reshape(-1), trial_label], axis=1)
    trial = np.unique(pairs, axis=0, return_inverse=True)[1].reshape(-1)
    return patient.reshape(-1), trial
