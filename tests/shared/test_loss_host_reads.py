"""No loss reads a tensor value back to the host on its default path (issue 19, item 4).

A host read (``.item()``, ``bool(t)``, ``if t:``, a data-dependent shape such as ``x[mask]``)
waits on an accelerator for every queued kernel. The counter below is a ``TorchDispatchMode``
that records each aten call which copies a value or a value-dependent size to the host; forward +
backward of every registry objective, of ``info_nce``, ``tiled_info_nce`` (both schedules) and
``weighted_info_nce`` must record none. With ``CHECK_VALUES`` on, the value checks do read, which
the last test asserts so the counter itself is shown to work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import shared.losses._checks as checks
from shared.losses import info_nce, tiled_info_nce, weighted_info_nce
from tests.shared.test_objective_registry import NAMES, _build, _inputs

HOST_READS = {
    "aten::_local_scalar_dense",
    "aten::is_nonzero",
    "aten::item",
    "aten::nonzero",
    "aten::equal",
    "aten::masked_select",
    "aten::unique_consecutive",
    "aten::_unique2",
}


class HostReads(TorchDispatchMode):
    """Records the aten ops in :data:`HOST_READS` dispatched while the mode is active."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        name = func._schema.name
        if name in HOST_READS or ("index" in name and _has_bool_index(args)):
            self.reads.append(name)
        return func(*args, **(kwargs or {}))


def _has_bool_index(args: tuple) -> bool:
    indices = args[1] if len(args) > 1 and isinstance(args[1], (list, tuple)) else ()
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices)


def _reads(step: Callable[[], torch.Tensor]) -> list[str]:
    with HostReads() as mode:
        step().backward()
    return mode.reads


def _views(n: int = 12, d: int = 8, batch: tuple[int, ...] = ()) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return [torch.randn(*batch, n, d, generator=gen).requires_grad_() for _ in range(2)]


@pytest.mark.parametrize("name", NAMES)
def test_registry_objectives_read_nothing_back(name: str) -> None:
    torch.manual_seed(0)
    objective = _build(name)
    tensors, kwargs = _inputs(name, seed=1)
    assert _reads(lambda: objective(*tensors, **kwargs)) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda z1, z2: info_nce(z1, z2, 0.1, extra_negatives=z2.detach()[:3] * 2),
        lambda z1, z2: info_nce(z1, z2, 0.1, intra_view_negatives=False, symmetric=False),
        lambda z1, z2: tiled_info_nce(z1, z2, 0.1, block_size=5),  # bounded schedule
        lambda z1, z2: tiled_info_nce(z1, z2, 0.01, block_size=5),  # online schedule
        lambda z1, z2: tiled_info_nce(z1, z2, 0.1, normalize=False, block_size=5),
        lambda z1, z2: tiled_info_nce(z1, z2, 0.1, extra_negatives=z1.detach()[:4], block_size=5),
    ],
    ids=["info_nce", "info_nce_clip", "tiled_bounded", "tiled_online", "tiled_raw", "tiled_extra"],
)
def test_info_nce_and_tiled_read_nothing_back(call: Callable) -> None:
    z1, z2 = _views()
    assert _reads(lambda: call(z1, z2)) == []


def test_batched_tiled_reads_nothing_back() -> None:
    z1, z2 = _views(batch=(3,))
    assert _reads(lambda: tiled_info_nce(z1, z2, 0.1, block_size=5)) == []


@pytest.mark.parametrize("form", ["out", "in"])
def test_weighted_info_nce_reads_nothing_back(form: Literal["out", "in"]) -> None:
    z1, z2 = _views()
    pos = (torch.rand(12, 12, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    pos[3] = 0.0  # an anchor without positives is skipped without a read
    pos[0, 0] = 1.0
    reads = _reads(lambda: weighted_info_nce(z1, z2, pos, temperature=0.2, positive_form=form))
    assert reads == []


def test_value_checks_read_only_when_switched_on(monkeypatch: pytest.MonkeyPatch) -> None:
    z1, z2 = _views()
    monkeypatch.setattr(checks, "CHECK_VALUES", True)
    assert "aten::_local_scalar_dense" in _reads(lambda: info_nce(z1, z2))
    with pytest.raises(ValueError, match="z1 contains NaN or inf"):
        info_nce(torch.full((3, 2), float("nan")), torch.ones(3, 2))
