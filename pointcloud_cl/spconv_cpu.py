"""The one CPU fix spconv needs: a backward pass that does not ask CUDA for a stream.

spconv 2.x (CPU wheel ``spconv`` as well as ``spconv-cu*``) calls
``torch.cuda.current_stream().cuda_stream`` inside its autograd functions, even for CPU tensors.
With a CPU build of torch that raises "Torch not compiled with CUDA enabled" in the backward of
every sparse convolution. The CPU kernels ignore the stream argument, so on a machine without CUDA
we hand them stream 0. With CUDA available the original function is kept untouched, so GPU runs
(``spconv-cu120``) use exactly the upstream code path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

_PATCHED_MODULES = ("spconv.pytorch.cppcore", "spconv.pytorch.ops", "spconv.pytorch.hash")


def _cpu_stream() -> int:
    return 0


def install_cpu_stream_patch() -> bool:
    """Point spconv's ``get_current_stream`` at stream 0 when CUDA is unavailable.

    Idempotent. Returns True when the patch is active (no CUDA), False when CUDA is available and
    spconv is left as shipped.
    """
    if torch.cuda.is_available():
        return False
    import importlib

    for name in _PATCHED_MODULES:
        module: Any = importlib.import_module(name)  # spconv ships no type hints
        current: Callable[[], int] = module.get_current_stream
        if current is not _cpu_stream:
            module.get_current_stream = _cpu_stream
    return True
