"""Devices and batches: which device a run uses, moving a batch there, counting its samples."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any

import torch
from torch import Tensor, nn

from shared import distributed


def resolve_device(name: str) -> torch.device:
    """``auto`` (the rank's GPU under torchrun, else the first GPU, else the CPU) or a torch
    device name; asking for CUDA on a machine without it is an error."""
    if name == "auto":
        if distributed.is_distributed() and torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"device '{name}' was requested but CUDA is not available on this machine"
        )
    return device


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Recursively move tensors (and objects with ``.to``, e.g. PyG ``Data``) to ``device``."""
    if isinstance(batch, Tensor) or (
        hasattr(batch, "to") and not isinstance(batch, nn.Module | type)
    ):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        mapping_type: Any = type(batch)  # a concrete mapping class, built from a dict
        return mapping_type({k: move_to_device(v, device) for k, v in batch.items()})
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(move_to_device(v, device) for v in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(move_to_device(v, device) for v in batch)
    return batch


def batch_size_of(batch: Any) -> int:
    """Samples in ``batch``: its integer ``batch_size`` attribute when it has one, a PyG graph's
    node count, else the leading dimension of the first tensor found (searching mappings,
    sequences and dataclass fields in order)."""
    if isinstance(batch, Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    size = getattr(batch, "batch_size", None)
    if isinstance(size, int) and not isinstance(size, bool):
        return size
    if hasattr(batch, "num_nodes") and isinstance(batch.num_nodes, int):
        return batch.num_nodes
    if is_dataclass(batch) and not isinstance(batch, type):
        items: Any = (getattr(batch, f.name) for f in fields(batch))
    elif isinstance(batch, Mapping):
        items = batch.values()
    elif isinstance(batch, list | tuple):
        items = batch
    else:
        items = ()
    for item in items:
        size = batch_size_of(item)
        if size:
            return size
    return 0
