"""Moving batch dataclasses between devices (the trainer calls ``batch.to(device, ...)``)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

import torch

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def _move(value: Any, device: torch.device | str, non_blocking: bool) -> Any:
    if isinstance(value, tuple):
        return tuple(_move(v, device, non_blocking) for v in value)
    if isinstance(value, list):
        return [_move(v, device, non_blocking) for v in value]
    if hasattr(value, "to") and not isinstance(value, type):
        return value.to(device, non_blocking=non_blocking)
    return value


def batch_to(batch: T, device: torch.device | str, non_blocking: bool = False) -> T:
    """A copy of dataclass ``batch`` with every tensor / ``.to``-able field (also inside tuples and
    lists) on ``device``; other fields (ints) are kept."""
    changes = {
        f.name: _move(getattr(batch, f.name), device, non_blocking)
        for f in dataclasses.fields(batch)
    }
    return dataclasses.replace(batch, **changes)
