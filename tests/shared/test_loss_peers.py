"""Each loss against its peer library or the official code, in fp64 (issue 19, item 5).

Every case runs twice:

* live, when the peer is importable: our value and the gradients of every input equal the
  peer's to 1e-10 (skipped with the reason otherwise);
* against golden values computed once from the peer on the same seeded inputs and pinned below:
  the value and two fingerprints of the gradients (sum of squares, and the sum weighted by a
  fixed random tensor), so the check runs in CI without the peer.

The goldens were produced by: lightly 1.6.0 (NTXentLoss, DCLLoss, DCLWLoss, SwaVLoss,
swav_loss.sinkhorn), pytorch-metric-learning 2.9.0 (NTXentLoss, SupConLoss), symile 0.1.0
(Symile, n_squared negatives), LibAUC 2.0.1 (GCLoss_v1 with enable_isogclr=True) and the official
multi-view code, github.com/pakoromilas/Multi-View-CL at c26ae77984b7e4b3b6b4568a6a58d028f6132c89
(models/losses.py: MVINFONCE, MVDHEL), all with torch 2.13.0 on CPU. The official multi-view code
is not a package: point ``MULTIVIEW_CL_LOSSES`` at a checkout's models/losses.py to run it live
(its imports of diffdist and the repo's utils are stubbed; einops must be installed).

Two differences are definitional and asserted as such: the official MVDHEL sums unordered view
pairs in the numerator, ours ordered pairs, so ours = official - log 2 (same gradients); LibAUC
decides the first-visit rule per batch (gamma = 1 only when no sample of the batch was seen, so
an unseen sample in a mixed batch gets u = gamma g), ours per sample (u = g on a sample's first
visit). LibAUC also sums the two directions where we average them: its gradients are twice ours.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import importlib.util
import math
import os
import sys
import types
from collections.abc import Callable, Iterator

import pytest
import torch
from torch import Tensor

from shared.losses import (
    ISogCLR,
    dcl,
    dcl_w,
    info_nce,
    mv_dhel,
    mv_info_nce,
    sinkhorn_knopp,
    supcon,
    swav,
    symile,
)

TOL = 1e-10
Inputs = list[Tensor]


def _randn(seed: int, *shape: int) -> Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def _leaves(seed: int, *shapes: tuple[int, ...]) -> Inputs:
    return [_randn(seed + k, *shape).requires_grad_() for k, shape in enumerate(shapes)]


def _lightly(module: str) -> types.ModuleType:
    """``lightly.loss.<module>``; ImportError when lightly is not installed (it lives in the
    benchmark environment, ``make bench-env``, beside the torchvision it needs), or when it is
    installed beside a torchvision that does not load (e.g. a CUDA wheel next to torch+cpu)."""
    try:
        return importlib.import_module(f"lightly.loss.{module}")
    except RuntimeError as err:  # torchvision's operators fail to register
        raise ImportError(f"lightly.loss does not import here: {err}") from err


def _multiview_official() -> types.ModuleType:
    """The official models/losses.py of pakoromilas/Multi-View-CL, from ``MULTIVIEW_CL_LOSSES``."""
    path = os.environ.get("MULTIVIEW_CL_LOSSES")
    if not path:
        raise ImportError("set MULTIVIEW_CL_LOSSES to Multi-View-CL's models/losses.py")
    import einops  # type: ignore[import-not-found]  # noqa: F401  (the official file needs it)

    for name in ("diffdist", "diffdist.functional", "utils", "utils.utils"):
        sys.modules.setdefault(name, types.ModuleType(name))
    spec = importlib.util.spec_from_file_location("multiview_cl_losses", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pml_ntxent(t: float, x: Inputs) -> Tensor:
    from pytorch_metric_learning.losses import NTXentLoss  # type: ignore[import-untyped]

    labels = torch.arange(x[0].shape[0])
    return NTXentLoss(temperature=t)(torch.cat(x), torch.cat([labels, labels]))


def _pml_supcon(t: float, labels: Tensor, x: Inputs) -> Tensor:
    from pytorch_metric_learning.losses import SupConLoss

    return SupConLoss(temperature=t)(torch.cat(x), torch.cat([labels] * len(x)))


def _symile_peer(scale: float, x: Inputs) -> Tensor:
    from symile import Symile  # type: ignore[import-not-found]

    unit = [torch.nn.functional.normalize(m, dim=1) for m in x]
    return Symile(negative_sampling="n_squared")(unit, scale)


def _official(cls: str, t: float, x: Inputs) -> Tensor:
    loss, _ = getattr(_multiview_official(), cls)(tau=t, multiplier=len(x))(torch.cat(x))
    return loss


LABELS = torch.tensor([0, 1, 0, 2, 1, 0, 2])


@dataclasses.dataclass(frozen=True)
class Case:
    """Our loss and a peer on the same seeded fp64 inputs; ``shift`` = ours - peer by definition."""

    name: str
    inputs: Callable[[], Inputs]
    ours: Callable[[Inputs], Tensor]
    peer: Callable[[Inputs], Tensor]
    shift: float = 0.0
    differentiable: bool = True  # False: the value alone (Sinkhorn codes carry no gradient)


CASES = [
    Case(
        "lightly_ntxent",
        lambda: _leaves(1, (7, 5), (7, 5)),
        lambda x: info_nce(x[0], x[1], 0.3),
        lambda x: _lightly("ntx_ent_loss").NTXentLoss(temperature=0.3)(x[0], x[1]),
    ),
    Case(
        "lightly_dcl",
        lambda: _leaves(3, (7, 5), (7, 5)),
        lambda x: dcl(x[0], x[1], 0.2),
        lambda x: _lightly("dcl_loss").DCLLoss(temperature=0.2)(x[0], x[1]),
    ),
    Case(
        "lightly_dcl_w",
        lambda: _leaves(5, (7, 5), (7, 5)),
        lambda x: dcl_w(x[0], x[1], 0.2, 0.7),
        lambda x: _lightly("dcl_loss").DCLWLoss(temperature=0.2, sigma=0.7)(x[0], x[1]),
    ),
    Case(
        "lightly_swav",
        lambda: _leaves(7, (4, 6, 9)),
        lambda x: swav(x[0], 0.1, n_global=2, epsilon=0.05, n_iters=3),
        lambda x: _lightly("swav_loss").SwaVLoss(0.1, 3, 0.05)(list(x[0][:2]), list(x[0][2:])),
    ),
    Case(  # the (6, 9) codes, compared through a fixed random weighting of their entries
        "lightly_sinkhorn",
        lambda: [_randn(9, 6, 9)],
        lambda x: (sinkhorn_knopp(x[0], 0.05, 3) * _randn(99, 6, 9)).sum(),
        lambda x: (_lightly("swav_loss").sinkhorn(x[0], 3, 0.05) * _randn(99, 6, 9)).sum(),
        differentiable=False,
    ),
    Case(
        "pml_ntxent",
        lambda: _leaves(11, (7, 5), (7, 5)),
        lambda x: info_nce(x[0], x[1], 0.3),
        lambda x: _pml_ntxent(0.3, x),
    ),
    Case(
        "pml_supcon",
        lambda: _leaves(13, (7, 5), (7, 5)),
        lambda x: supcon(torch.stack(x, dim=1), LABELS, 0.2, base_temperature=0.2),
        lambda x: _pml_supcon(0.2, LABELS, x),
    ),
    Case(
        "symile_n_squared",
        lambda: _leaves(15, (5, 4), (5, 4), (5, 4)),
        lambda x: symile(x, 3.0, negative_sampling="n_squared"),
        lambda x: _symile_peer(3.0, x),
    ),
    Case(
        "official_mv_info_nce",
        lambda: _leaves(17, (6, 5), (6, 5), (6, 5)),
        lambda x: mv_info_nce(torch.stack(x), 0.3),
        lambda x: _official("MVINFONCE", 0.3, x),
    ),
    Case(
        "official_mv_dhel",
        lambda: _leaves(19, (6, 5), (6, 5), (6, 5)),
        lambda x: mv_dhel(torch.stack(x), 0.3),
        lambda x: _official("MVDHEL", 0.3, x),
        shift=-math.log(2.0),
    ),
]

# The peer's (value, sum of squared gradients, gradients weighted by _randn(1000 + k) for input k);
# our value must equal the peer's plus the case's shift.
GOLDEN: dict[str, tuple[float, float, float]] = {
    "lightly_ntxent": (3.0602219667509694, 1.433595183621142, 1.7914933687497616),
    "lightly_dcl": (3.3547947240571436, 1.3573766691215794, -0.49078621643265957),
    "lightly_dcl_w": (5.856801553537862, 2.8955532468055862, 1.1723625706710987),
    "lightly_swav": (16.994700030120633, 5.230822201486025, -1.3277119942114308),
    "lightly_sinkhorn": (-1.4646895206942836, 0, 0),
    "pml_ntxent": (3.4827530376318827, 0.711222944733243, -0.02221064060834932),
    "pml_supcon": (4.63164155593685, 0.46286234286345673, 0.2912536377539853),
    "symile_n_squared": (3.387300450700007, 0.3471495745901512, -0.2495559275734698),
    "official_mv_info_nce": (2.5436169741997787, 0.5964316943385382, 0.4394244645654418),
    "official_mv_dhel": (5.55394427034685, 1.1692764815768788, -0.1755825535817362),
}


def _fingerprint(value: Tensor, grads: Inputs) -> tuple[float, float, float]:
    squares = sum(float((g * g).sum()) for g in grads)
    weighted = sum(float((g * _randn(1000 + k, *g.shape)).sum()) for k, g in enumerate(grads))
    return float(value), squares, weighted


def _value_and_grads(case: Case, loss_fn: Callable[[Inputs], Tensor]) -> tuple[Tensor, Inputs]:
    inputs = case.inputs()
    value = loss_fn(inputs)
    if not case.differentiable:
        return value.detach(), []
    return value.detach(), list(torch.autograd.grad(value, inputs))


def _peer_or_skip(case: Case) -> tuple[Tensor, Inputs]:
    try:
        return _value_and_grads(case, case.peer)
    except ImportError as err:
        pytest.skip(f"{case.name}: peer not importable ({err})")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_live_against_the_peer(case: Case) -> None:
    peer_value, peer_grads = _peer_or_skip(case)
    value, grads = _value_and_grads(case, case.ours)
    assert abs(float(value) - (float(peer_value) + case.shift)) <= TOL
    for grad, peer_grad in zip(grads, peer_grads, strict=True):
        torch.testing.assert_close(grad, peer_grad, rtol=0, atol=TOL)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_against_pinned_peer_values(case: Case) -> None:
    value, grads = _value_and_grads(case, case.ours)
    peer_value, *peer_grads = GOLDEN[case.name]
    expected = (peer_value + case.shift, *peer_grads)
    for got, want in zip(_fingerprint(value, grads), expected, strict=True):
        assert got == pytest.approx(want, rel=TOL, abs=TOL)


def test_mv_dhel_is_the_official_loss_minus_log_2_by_definition() -> None:
    """The numerator counts ordered view pairs (the paper's formula), the official code unordered
    ones: the exp-sums differ by a factor 2 exactly, the losses by log 2, the gradients not at all
    (the pinned and live tests above compare the gradients with no shift)."""
    case = next(c for c in CASES if c.name == "official_mv_dhel")
    assert case.shift == -math.log(2.0)
    ours = float(case.ours(case.inputs()))
    assert ours == pytest.approx(GOLDEN[case.name][0] - math.log(2.0), abs=TOL)
    assert ours != pytest.approx(GOLDEN[case.name][0], abs=0.5)


ISOGCLR_SAMPLES = 10
# the first two batches hold unseen samples only, the last two seen ones only: there the two
# first-visit rules agree
ISOGCLR_BATCHES = [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [3, 4, 5, 6, 7], [0, 2, 4, 6, 8]]
# a batch mixing seen (2, 3) and unseen (4, 5) samples after [0, 1, 2, 3]: there they differ
ISOGCLR_MIXED = [[0, 1, 2, 3], [2, 3, 4, 5]]
HYPER = {"tau_min": 0.05, "tau_max": 0.7, "gamma": 0.9, "rho": 0.3, "eta": 0.01, "beta": 0.9}
State = tuple[Tensor, Tensor, Tensor]  # u, tau, the momentum of the tau gradient


@contextlib.contextmanager
def _fp64_state() -> Iterator[None]:
    """Both losses create their state with the default dtype: fp64 from the start (0.1 stored in
    fp32 and upcast would differ by 1.5e-9)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _libauc() -> tuple[Callable[[Tensor, Tensor, Tensor], Tensor], Callable[[], State]]:
    from libauc.losses import GCLoss_v1  # type: ignore[import-not-found]

    with _fp64_state():
        loss = GCLoss_v1(N=ISOGCLR_SAMPLES, tau=0.1, device="cpu", enable_isogclr=True, **HYPER)

    def state() -> State:
        return loss.u.flatten(), loss.learnable_tau.flatten(), loss.grad_tau.flatten()

    return loss, state


def _ours() -> tuple[Callable[[Tensor, Tensor, Tensor], Tensor], Callable[[], State]]:
    with _fp64_state():
        module = ISogCLR(ISOGCLR_SAMPLES, tau_init=0.1, **HYPER)
    return module, lambda: (module.u, module.tau, module.tau_momentum)


def _trajectory(
    parts: tuple[Callable[[Tensor, Tensor, Tensor], Tensor], Callable[[], State]],
    batches: list[list[int]],
) -> list[tuple[Inputs, State]]:
    """(gradients of both views, state after the step) for each batch, on seeded views."""
    step, state = parts
    out = []
    for k, index in enumerate(batches):
        z1, z2 = _leaves(30 + 2 * k, (len(index), 6), (len(index), 6))
        grads = list(torch.autograd.grad(step(z1, z2, torch.tensor(index)), [z1, z2]))
        u, tau, momentum = (s.detach().clone() for s in state())
        out.append((grads, (u, tau, momentum)))
    return out


def _trajectory_fingerprint(trajectory: list[tuple[Inputs, State]]) -> list[float]:
    prints = []
    for grads, state in trajectory:
        prints += list(_fingerprint(torch.tensor(0.0), grads)[1:])
        prints += [
            float((s * _randn(2000 + k, ISOGCLR_SAMPLES)).sum()) for k, s in enumerate(state)
        ]
    return prints


# LibAUC's trajectory (its gradients, twice ours: it sums the two directions).
ISOGCLR_GOLDEN: list[float] = [
    0.5029637867133443,
    -0.7144597768600587,
    143.57827721549452,
    -0.6111566645666,
    0.05067629054798295,
    0.4625506886037235,
    -0.9416795006000784,
    131.93642840107117,
    -0.6466799131757563,
    0.38140381153352676,
    0.7527739311313071,
    -1.4379213972312552,
    -6.583866616243753,
    -0.6434842370914502,
    0.2192091103500693,
    0.43594289132173514,
    0.030417278788359328,
    -27.519164785519393,
    -0.7120459007782508,
    1.262185690999771,
]
# LibAUC's u of samples 2, 3 (seen) and 4, 5 (first visit in a mixed batch) after ISOGCLR_MIXED.
ISOGCLR_MIXED_GOLDEN: list[float] = [
    225.59643204068286,
    60.78912558006339,
    626.3697344179747,
    326.80431223213213,
]


def _scaled(trajectory: list[tuple[Inputs, State]], factor: float) -> list[tuple[Inputs, State]]:
    return [([factor * g for g in grads], state) for grads, state in trajectory]


def test_isogclr_trajectory_live_against_libauc() -> None:
    try:
        libauc = _trajectory(_libauc(), ISOGCLR_BATCHES)
    except ImportError as err:
        pytest.skip(f"LibAUC not importable ({err})")
    ours = _scaled(_trajectory(_ours(), ISOGCLR_BATCHES), 2.0)
    for (grads, state), (peer_grads, peer_state) in zip(ours, libauc, strict=True):
        for a, b in zip([*grads, *state], [*peer_grads, *peer_state], strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=TOL)


def test_isogclr_trajectory_against_pinned_libauc_values() -> None:
    ours = _scaled(_trajectory(_ours(), ISOGCLR_BATCHES), 2.0)
    assert _trajectory_fingerprint(ours) == pytest.approx(ISOGCLR_GOLDEN, rel=TOL, abs=TOL)


def test_isogclr_first_visit_in_a_mixed_batch_differs_from_libauc_by_definition() -> None:
    """Ours: u = g on a sample's first visit. LibAUC (in its first epoch) takes gamma = 1 only
    when no sample of the batch was seen before, so in a mixed batch an unseen sample gets
    u = gamma g: exactly gamma times ours, while the seen samples agree."""
    ours = _ours()
    _trajectory(ours, ISOGCLR_MIXED)
    u = ours[1]()[0][2:6]
    expected = torch.tensor(ISOGCLR_MIXED_GOLDEN, dtype=torch.float64)
    torch.testing.assert_close(u[:2], expected[:2], rtol=0, atol=TOL)
    torch.testing.assert_close(HYPER["gamma"] * u[2:], expected[2:], rtol=0, atol=TOL)
    try:
        libauc, libauc_state = _libauc()
    except ImportError:
        return  # the pinned values above are LibAUC's
    _trajectory((libauc, libauc_state), ISOGCLR_MIXED)
    torch.testing.assert_close(libauc_state()[0][2:6], expected, rtol=0, atol=TOL)
