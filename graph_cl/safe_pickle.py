"""A restricted unpickler for the Planetoid raw files (``ind.<name>.x`` ...).

Those files are Python 2 pickles of numpy arrays, scipy CSR matrices and a ``defaultdict`` of
lists. ``pickle.load`` would call any global a file names, so a crafted file runs code; this
loader admits only the globals those files hold and refuses every other one with an
:class:`~shared.errors.InputError` naming the file.

    >>> graph = load_restricted_pickle(Path("data/graph/Cora/raw/ind.cora.graph"))
"""

from __future__ import annotations

import collections
import importlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from shared.errors import InputError


def _numpy_multiarray(name: str) -> Any:
    """``numpy.core.multiarray.<name>`` under numpy 1 and 2 (numpy 2 moved it to numpy._core)."""
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"numpy has no multiarray.{name}")


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("collections", "defaultdict"): collections.defaultdict,
    ("__builtin__", "list"): list,
    ("builtins", "list"): list,
    ("__builtin__", "dict"): dict,
    ("builtins", "dict"): dict,
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    for _name in ("_reconstruct", "scalar"):
        _ALLOWED[(_module, _name)] = _numpy_multiarray(_name)
for _module in ("scipy.sparse.csr", "scipy.sparse._csr"):
    _ALLOWED[(_module, "csr_matrix")] = scipy.sparse.csr_matrix


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise InputError(
                f"{self.path}: refused to load {module}.{name}; a Planetoid raw file holds only "
                "numpy arrays, scipy CSR matrices and lists (replace the file with the original)"
            ) from None


def load_restricted_pickle(path: Path) -> Any:
    """Unpickle ``path`` admitting only numpy / scipy CSR / list / dict types (module docstring).

    A truncated or foreign file raises :class:`InputError` naming it instead of ``EOFError``.
    """
    with open(path, "rb") as f:
        try:
            return _RestrictedUnpickler(f, path).load()
        except InputError:
            raise
        except Exception as err:  # truncated, foreign or corrupted bytes: many exception types
            raise InputError(
                f"{path}: not a readable Planetoid pickle ({type(err).__name__}: {err}); the file "
                "is truncated or not a Planetoid raw file: download it again"
            ) from None
