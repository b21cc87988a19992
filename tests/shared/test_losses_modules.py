"""Every loss module equals its functional twin: same value, same gradients, bit for bit.

Each module only stores its hyper-parameters (and state, for iSogCLR / SwAV / Symile) and calls
the function; these cases, with non-default hyper-parameters, fail if a module ever grows a
second implementation or drops an argument on the way. A loss module exported by
``shared.losses`` without a case here fails the coverage test.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

import shared.losses as losses
from shared.losses import (
    CACR,
    DCL,
    DCLW,
    MVDHEL,
    InfoNCE,
    ISogCLR,
    MoCHi,
    MVInfoNCE,
    SupCon,
    SwAV,
    Symile,
    TiledInfoNCE,
    WeightedInfoNCE,
)

Inputs = list[Tensor]


def _randn(seed: int, *shape: int) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _leaves(*shapes: tuple[int, ...]) -> Inputs:
    return [_randn(k, *shape).requires_grad_() for k, shape in enumerate(shapes)]


def _seeded(seed: int = 7) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


POS = (_randn(20, 6, 8) > 0.3).double()
NEG = _randn(21, 6, 8).abs()
LABELS = torch.tensor([0, 1, 0, 2, 1, 2])


def _isogclr_function(module: ISogCLR, x: Inputs, index: Tensor) -> Tensor:
    step = losses.isogclr(
        x[0], x[1], module.tau[index], module.u[index], gamma=module.gamma, rho=module.rho
    )
    return step.loss


def _isogclr_module() -> ISogCLR:
    module = ISogCLR(12, tau_init=0.2, gamma=0.7, rho=0.5).double().eval()
    module.u[:4] = _randn(22, 4).abs()  # some samples seen before
    return module


def _swav_module() -> SwAV:
    torch.manual_seed(0)
    return SwAV(5, 7, 0.2, n_global=2, epsilon=0.1, n_iters=2).double().eval()


@dataclasses.dataclass(frozen=True)
class Case:
    """A module, built once per call of ``build``, and ``(module, inputs) -> module loss`` /
    ``(module, inputs) -> function loss`` on the same inputs."""

    cls: type[nn.Module]
    build: Callable[[], nn.Module]
    inputs: Callable[[], Inputs]
    module_call: Callable[[nn.Module, Inputs], Tensor]
    function_call: Callable[[nn.Module, Inputs], Tensor]


INDEX = torch.tensor([0, 2, 5, 7, 9, 11])
CASES = [
    Case(
        InfoNCE,
        lambda: InfoNCE(0.3, intra_view_negatives=False, symmetric=False, normalize=False),
        lambda: _leaves((6, 5), (6, 5), (4, 5)),
        lambda m, x: m(x[0], x[1], x[2]),
        lambda m, x: losses.info_nce(
            x[0],
            x[1],
            0.3,
            intra_view_negatives=False,
            symmetric=False,
            extra_negatives=x[2],
            normalize=False,
        ),
    ),
    Case(
        TiledInfoNCE,
        lambda: TiledInfoNCE(
            0.3, intra_view_negatives=False, symmetric=False, block_size=4, cache_bytes=200
        ),
        lambda: _leaves((6, 5), (6, 5), (4, 5)),
        lambda m, x: m(x[0], x[1], x[2]),
        lambda m, x: losses.tiled_info_nce(
            x[0],
            x[1],
            0.3,
            intra_view_negatives=False,
            symmetric=False,
            extra_negatives=x[2],
            block_size=4,
            cache_bytes=200,  # one 4 x 4 fp64 tile kept, the others recomputed
        ),
    ),
    Case(
        WeightedInfoNCE,
        lambda: WeightedInfoNCE(0.3, normalize=False, positive_form="in"),
        lambda: _leaves((6, 5), (8, 5)),
        lambda m, x: m(x[0], x[1], POS, NEG),
        lambda m, x: losses.weighted_info_nce(
            x[0], x[1], POS, NEG, 0.3, normalize=False, positive_form="in"
        ),
    ),
    Case(
        DCL,
        lambda: DCL(0.2, normalize=False),
        lambda: _leaves((6, 5), (6, 5)),
        lambda m, x: m(x[0], x[1]),
        lambda m, x: losses.dcl(x[0], x[1], 0.2, normalize=False),
    ),
    Case(
        DCLW,
        lambda: DCLW(0.2, 0.7, normalize=False),
        lambda: _leaves((6, 5), (6, 5)),
        lambda m, x: m(x[0], x[1]),
        lambda m, x: losses.dcl_w(x[0], x[1], 0.2, 0.7, normalize=False),
    ),
    Case(
        MoCHi,
        lambda: MoCHi(0.3, num_hard=5, num_mix=4, num_query_mix=2),
        lambda: _leaves((6, 5), (6, 5), (9, 5)),
        lambda m, x: m(x[0], x[1], x[2], _seeded()),
        lambda m, x: losses.mochi(
            x[0], x[1], x[2], 0.3, num_hard=5, num_mix=4, num_query_mix=2, generator=_seeded()
        ),
    ),
    Case(
        ISogCLR,
        _isogclr_module,
        lambda: _leaves((6, 5), (6, 5)),
        lambda m, x: m(x[0], x[1], INDEX),
        lambda m, x: _isogclr_function(m, x, INDEX),  # type: ignore[arg-type]
    ),
    Case(
        CACR,
        lambda: CACR(0.5, 0.7, alpha=0.3, beta=2.0, normalize=False),
        lambda: _leaves((3, 6, 5)),
        lambda m, x: m(x[0]),
        lambda m, x: losses.cacr(x[0], 0.5, 0.7, alpha=0.3, beta=2.0, normalize=False),
    ),
    Case(
        MVInfoNCE,
        lambda: MVInfoNCE(0.3, normalize=False),
        lambda: _leaves((3, 6, 5)),
        lambda m, x: m(x[0]),
        lambda m, x: losses.mv_info_nce(x[0], 0.3, normalize=False),
    ),
    Case(
        MVDHEL,
        lambda: MVDHEL(0.3, normalize=False),
        lambda: _leaves((3, 6, 5)),
        lambda m, x: m(x[0]),
        lambda m, x: losses.mv_dhel(x[0], 0.3, normalize=False),
    ),
    Case(
        SwAV,
        _swav_module,
        lambda: _leaves((3, 6, 5)),
        lambda m, x: m(x[0]),
        lambda m, x: losses.swav(
            m.scores(x[0]),  # type: ignore[operator]
            0.2,
            n_global=2,
            epsilon=0.1,
            n_iters=2,
        ),
    ),
    Case(
        SupCon,
        lambda: SupCon(0.2, 0.1, normalize=False),
        lambda: _leaves((6, 2, 5)),
        lambda m, x: m(x[0], LABELS),
        lambda m, x: losses.supcon(x[0], LABELS, 0.2, 0.1, normalize=False),
    ),
    Case(
        Symile,
        lambda: Symile("n", logit_scale=5.0, learnable_scale=False),
        lambda: _leaves((6, 5), (6, 5), (6, 5)),
        lambda m, x: m(x, _seeded()),
        lambda m, x: losses.symile(
            x, torch.tensor(math.log(5.0)).exp(), negative_sampling="n", generator=_seeded()
        ),
    ),
]


def _value_and_grads(call: Callable[[nn.Module, Inputs], Tensor], case: Case) -> list[Tensor]:
    module, inputs = case.build(), case.inputs()
    value = call(module, inputs)
    return [value.detach(), *torch.autograd.grad(value, inputs)]


@pytest.mark.parametrize("case", CASES, ids=[c.cls.__name__ for c in CASES])
def test_module_equals_its_function(case: Case) -> None:
    from_module = _value_and_grads(case.module_call, case)
    from_function = _value_and_grads(case.function_call, case)
    for a, b in zip(from_module, from_function, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_every_exported_loss_module_has_a_case() -> None:
    exported = {
        obj
        for name in losses.__all__
        if inspect.isclass(obj := getattr(losses, name))
        and issubclass(obj, nn.Module)
        and obj is not losses.MoCHiQueue  # the registry's queue adapter around MoCHi
    }
    assert exported == {case.cls for case in CASES}


def test_module_hyperparameters_mirror_the_function() -> None:
    """Every keyword of a module's constructor is a parameter of its function (no extra option
    lives only in the module)."""
    pairs: dict[type[nn.Module], Callable[..., Tensor]] = {
        InfoNCE: losses.info_nce,
        TiledInfoNCE: losses.tiled_info_nce,
        WeightedInfoNCE: losses.weighted_info_nce,
        DCL: losses.dcl,
        DCLW: losses.dcl_w,
        MoCHi: losses.mochi,
        CACR: losses.cacr,
        MVInfoNCE: losses.mv_info_nce,
        MVDHEL: losses.mv_dhel,
        SupCon: losses.supcon,
    }
    for cls, function in pairs.items():
        module_keys = set(inspect.signature(cls).parameters)
        assert module_keys <= set(inspect.signature(function).parameters), cls.__name__
