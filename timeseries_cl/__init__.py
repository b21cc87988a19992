"""Contrastive pretraining for medical time series: COMET (patient / trial / sample / observation
contrast) and a sample-level baseline on the TS2Vec encoder, hierarchical data loaders, a
patient-independent evaluation protocol and a scikit-learn transformer.

The CLI (``contrast timeseries ...``) lives in :mod:`timeseries_cl.cli`; import
:class:`timeseries_cl.sklearn.COMETTransformer` for the scikit-learn interface.

Names are imported on first use (PEP 562), so ``contrast timeseries --help`` does not pay for the
domain's dependencies.
"""

from __future__ import annotations

from shared.lazy import lazy_attributes

_EXPORTS = {
    "COMET": "timeseries_cl.comet",
    "DilatedConvEncoder": "timeseries_cl.encoder",
    "EncoderConfig": "timeseries_cl.comet",
    "HierarchicalBatchSampler": "timeseries_cl.sampler",
    "HierarchicalDataset": "timeseries_cl.dataset",
    "LevelWeights": "timeseries_cl.comet",
    "SampleContrast": "timeseries_cl.comet",
    "cut_windows": "timeseries_cl.dataset",
    "load_comet_npy": "timeseries_cl.data_io",
    "load_ptb_wfdb": "timeseries_cl.data_io",
    "load_uci_eeg": "timeseries_cl.data_io",
    "load_wfdb": "timeseries_cl.data_io",
    "patient_folds": "timeseries_cl.splits",
    "patient_split": "timeseries_cl.splits",
    "synthetic_hierarchical": "timeseries_cl.synthetic",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_attributes(__name__, _EXPORTS)
