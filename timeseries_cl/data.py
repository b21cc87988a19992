"""Old import path, kept only for :mod:`timeseries_cl.experiment` until it imports from
:mod:`timeseries_cl.dataset`, :mod:`timeseries_cl.data_io`, :mod:`timeseries_cl.synthetic` and
:mod:`timeseries_cl.splits` (issue 14's split); delete this file then."""

from timeseries_cl.data_io import load_comet_npy, load_uci_eeg
from timeseries_cl.dataset import HierarchicalDataset
from timeseries_cl.splits import patient_split
from timeseries_cl.synthetic import synthetic_hierarchical

__all__ = [
    "HierarchicalDataset",
    "load_comet_npy",
    "load_uci_eeg",
    "patient_split",
    "synthetic_hierarchical",
]
