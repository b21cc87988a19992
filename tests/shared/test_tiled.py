"""tiled_info_nce against the dense info_nce: values and gradients for every option combination."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import shared.losses._checks as checks
from shared.losses import info_nce
from shared.losses import tiled as tiled_module
from shared.losses.tiled import TiledInfoNCE, tiled_info_nce

OPTIONS = list(itertools.product([True, False], repeat=4))  # intra, symmetric, extra, normalize
TOL = {torch.float64: {"rtol": 1e-10, "atol": 1e-10}, torch.float32: {"rtol": 1e-5, "atol": 1e-5}}


def _views(
    n: int, d: int, dtype: torch.dtype, *, extra: int = 0, scale: float = 1.0, seed: int = 0
):
    g = torch.Generator().manual_seed(seed)
    tensors = [torch.randn(n, d, generator=g, dtype=dtype) * scale for _ in range(2)]
    if extra:
        tensors.append(torch.randn(extra, d, generator=g, dtype=dtype) * scale)
    return [t.requires_grad_() for t in tensors]


def _value_and_grads(loss_fn, tensors, **kwargs):
    z1, z2, *rest = tensors
    loss = loss_fn(z1, z2, extra_negatives=rest[0] if rest else None, **kwargs)
    return loss.detach(), torch.autograd.grad(loss, tensors)


def _assert_matches_dense(tensors, temperature, block_size, dtype, **options):
    expected, expected_grads = _value_and_grads(
        info_nce, tensors, temperature=temperature, **options
    )
    value, grads = _value_and_grads(
        tiled_info_nce, tensors, temperature=temperature, block_size=block_size, **options
    )
    torch.testing.assert_close(value, expected, **TOL[dtype])
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, **TOL[dtype])


@pytest.fixture(params=["bounded", "online"])
def schedule(request, monkeypatch):
    """Force one of the two exact schedules, whatever the inputs' bound on |s_ab|."""
    limit = math.inf if request.param == "bounded" else -1.0
    for dtype in (torch.float32, torch.float64):
        monkeypatch.setitem(tiled_module._BOUNDED_LIMIT, dtype, limit)
    return request.param


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("intra", "symmetric", "extra", "normalize"), OPTIONS)
def test_matches_dense_for_every_option(schedule, dtype, intra, symmetric, extra, normalize):
    # N = 13 is odd and not a multiple of the block size 4: ragged tiles in both views.
    tensors = _views(13, 6, dtype, extra=5 if extra else 0, scale=0.5)
    _assert_matches_dense(
        tensors, 0.2, 4, dtype, intra_view_negatives=intra, symmetric=symmetric, normalize=normalize
    )


@pytest.mark.parametrize("block_size", [1, 3, 8, 9])
@pytest.mark.parametrize(("intra", "symmetric"), [(True, True), (False, True), (True, False)])
def test_block_sizes(schedule, block_size, intra, symmetric):
    # 1: every tile 1 x 1 (diagonal tiles fully masked); 3: ragged; 8 = N: one tile per view;
    # 9 > N: tiles never straddle the two views.
    tensors = _views(8, 5, torch.float64, extra=3)
    _assert_matches_dense(
        tensors, 0.1, block_size, torch.float64, intra_view_negatives=intra, symmetric=symmetric
    )


@pytest.mark.parametrize(("temperature", "normalize"), [(0.005, True), (0.1, False)])
def test_large_logits_in_fp32(temperature, normalize):
    # |s_ab| up to 200 (cosine / 0.005) or ~|z|^2 / t ~ 300: exp(s) overflows fp32, so the default
    # schedule must take the online path. Reference: the dense loss in fp64 on the same inputs.
    tensors = _views(40, 16, torch.float32, extra=7)
    value, grads = _value_and_grads(
        tiled_info_nce, tensors, temperature=temperature, normalize=normalize, block_size=16
    )
    exact = [t.detach().double().requires_grad_() for t in tensors]
    expected, expected_grads = _value_and_grads(
        info_nce, exact, temperature=temperature, normalize=normalize
    )
    torch.testing.assert_close(value.double(), expected, rtol=1e-5, atol=1e-5)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad.double(), expected_grad, rtol=1e-5, atol=1e-5)


def test_schedule_choice(monkeypatch):
    calls = []
    for name in ("_bounded_forward", "_online_forward"):
        original = getattr(tiled_module, name)

        def spy(*args, _name=name, _original=original):
            calls.append(_name)
            return _original(*args)

        monkeypatch.setattr(tiled_module, name, spy)
    z1, z2 = _views(6, 4, torch.float32)
    tiled_info_nce(z1, z2, 0.1)  # |s| <= 10: bounded
    tiled_info_nce(z1, z2, 0.01)  # |s| <= 100 > 40: online
    tiled_info_nce(z1.double(), z2.double(), 0.01)  # fp64 bound is 300: bounded
    assert calls == ["_bounded_forward", "_online_forward", "_bounded_forward"]


@pytest.mark.parametrize("schedule", ["bounded", "online"], indirect=True)
def test_gradcheck(schedule):
    z1, z2, extra = _views(5, 3, torch.float64, extra=2)

    def loss(a, b, e):
        return tiled_info_nce(a, b, 0.3, extra_negatives=e, block_size=2)

    assert torch.autograd.gradcheck(loss, (z1, z2, extra))


def test_upstream_gradient_scale_is_passed_through():
    # AMP's GradScaler multiplies the loss by up to 2^16 before backward.
    z1, z2 = _views(9, 4, torch.float32)
    (g1,) = torch.autograd.grad(tiled_info_nce(z1, z2, block_size=4), [z1])
    (g2,) = torch.autograd.grad(65536.0 * tiled_info_nce(z1, z2, block_size=4), [z1])
    torch.testing.assert_close(g2 / 65536.0, g1)


def test_fp16_inputs_are_computed_in_fp32():
    dtype = torch.float16
    z1, z2 = (t.detach().to(dtype).requires_grad_() for t in _views(10, 8, torch.float32))
    loss = tiled_info_nce(z1, z2, block_size=4)
    assert loss.dtype == torch.float32
    loss.backward()
    assert z1.grad.dtype == dtype
    r1, r2 = (t.detach().float().requires_grad_() for t in (z1, z2))
    reference = info_nce(r1, r2)
    reference.backward()
    torch.testing.assert_close(loss.detach(), reference.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(z1.grad, r1.grad.to(dtype))


@pytest.mark.parametrize(
    ("dtype", "product_dtype"), [(torch.bfloat16, torch.bfloat16), (torch.float16, torch.float32)]
)
def test_tile_products_run_in_bf16_for_bf16_inputs_only(schedule, dtype, product_dtype):
    seen = []

    class Products(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func._schema.name in ("aten::mm", "aten::addmm"):
                seen.append(args[-2].dtype)  # mm(a, b), addmm(out, a, b)
            return func(*args, **(kwargs or {}))

    z1, z2 = (t.detach().to(dtype).requires_grad_() for t in _views(10, 8, torch.float32))
    with Products():
        loss = tiled_info_nce(z1, z2, block_size=4)
        loss.backward()
    assert loss.dtype == torch.float32 and z1.grad.dtype == dtype
    assert seen and set(seen) == {product_dtype}


@pytest.mark.parametrize("kind", ["random", "clustered"])
@pytest.mark.parametrize("temperature", [0.01, 0.1])
def test_bf16_value_and_gradients_are_within_twice_the_dense_bf16_error(kind, temperature):
    # bf16 inputs: the tile products run in bf16 like the dense loss's, every exp, sum, LSE and the
    # gradient accumulation in fp32. Against the exact (fp64) loss of the same bf16 inputs, the
    # tiled value and gradients stay within twice the dense bf16 loss's own error (max over seeds).
    worst = {
        "tiled": torch.zeros(3, dtype=torch.float64),
        "dense": torch.zeros(3, dtype=torch.float64),
    }
    for seed in range(3):
        if kind == "random":
            views = _views(256, 32, torch.float32, seed=seed)
        else:
            views = _structured(kind, 256, 32, torch.float32, seed=seed)
        tensors = [t.detach().to(torch.bfloat16).requires_grad_() for t in views]
        exact = [t.detach().double().requires_grad_() for t in tensors]
        exact_value, exact_grads = _value_and_grads(info_nce, exact, temperature=temperature)
        for name, loss_fn, options in [
            ("tiled", tiled_info_nce, {"block_size": 96}),  # 5 full tiles and a partial one
            ("dense", info_nce, {}),
        ]:
            value, grads = _value_and_grads(loss_fn, tensors, temperature=temperature, **options)
            errors = [(value.double() - exact_value).abs()]
            errors += [
                (g.double() - e).abs().max() for g, e in zip(grads, exact_grads, strict=True)
            ]
            worst[name] = torch.maximum(worst[name], torch.stack(errors))
    assert (worst["tiled"] <= 2 * worst["dense"] + 1e-6).all(), worst


def test_product_dtype_must_be_the_keys_dtype_or_bf16():
    keys = torch.randn(6, 4)
    with pytest.raises(TypeError, match="product_dtype"):
        tiled_module.tiled_anchor_logsumexp(
            keys,
            [tiled_module.Segment(0, 6, 0, True)],
            0.1,
            intra_view_negatives=True,
            product_dtype=torch.float16,
        )


def test_only_embedding_sized_tensors_are_saved_for_backward():
    # The dense loss saves (N, 2N) logits; the tiled one only the (2N, d) keys and (2N,) LSE.
    n, d = 256, 4
    z1, z2 = _views(n, d, torch.float32)
    largest = []

    def pack(t):
        largest.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        tiled_info_nce(z1, z2, block_size=16).backward()
    assert max(largest) <= 2 * n * d
    largest.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        info_nce(z1, z2).backward()
    assert max(largest) >= n * n  # the check can tell the two apart


def test_module_matches_dense_module():
    from shared.losses import InfoNCE

    z1, z2, extra = _views(11, 6, torch.float64, extra=4)
    for intra in (True, False):
        module = TiledInfoNCE(0.2, intra_view_negatives=intra, symmetric=False, block_size=3)
        dense = InfoNCE(0.2, intra_view_negatives=intra, symmetric=False)
        torch.testing.assert_close(module(z1, z2, extra), dense(z1, z2, extra))
    assert "block_size=3" in repr(module)


def test_orthogonal_closed_form():
    # z1 = z2 = N orthonormal rows: s_ii = 1/t, every other similarity is 0. NT-Xent row loss is
    # log(e^{1/t} + 2N - 2) - 1/t; the CLIP form has N - 1 zero negatives.
    n, t = 6, 0.25
    eye = torch.eye(n, dtype=torch.float64)
    nt_xent = math.log(math.exp(1 / t) + 2 * n - 2) - 1 / t
    clip = math.log(math.exp(1 / t) + n - 1) - 1 / t
    assert tiled_info_nce(eye, eye.clone(), t, block_size=4).item() == pytest.approx(nt_xent)
    value = tiled_info_nce(eye, eye.clone(), t, intra_view_negatives=False, block_size=4)
    assert value.item() == pytest.approx(clip)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"block_size": 0}, ValueError, "block_size"),
        ({"block_size": 2.5}, ValueError, "block_size"),
        ({"block_size": True}, ValueError, "block_size"),
        ({"temperature": 0.0}, ValueError, "temperature"),
        ({"z2": torch.randn(5, 3)}, ValueError, "z1 and z2"),
        ({"z1": torch.randn(1, 4), "z2": torch.randn(1, 4)}, ValueError, "z1 has 1 row"),
        ({"z1": torch.ones(4, 4, dtype=torch.long)}, TypeError, "z1 must be a floating"),
        ({"z2": torch.full((4, 4), float("nan"))}, ValueError, "z2 contains NaN"),
        ({"extra_negatives": torch.randn(3, 5)}, ValueError, "extra_negatives"),
        ({"extra_negatives": torch.randn(3)}, ValueError, "extra_negatives must have shape"),
    ],
)
def test_bad_input_errors_name_the_argument(kwargs, error, match, monkeypatch):
    monkeypatch.setattr(checks, "CHECK_VALUES", True)  # the NaN case
    args = {"z1": torch.randn(4, 4), "z2": torch.randn(4, 4)} | kwargs
    with pytest.raises(error, match=match):
        tiled_info_nce(**args)


def test_double_backward_is_refused():
    z1, z2 = _views(4, 3, torch.float64)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(tiled_info_nce(z1, z2), [z1], create_graph=True)


def _structured(kind: str, n: int, d: int, dtype: torch.dtype, seed: int = 0) -> list[torch.Tensor]:
    """Two views whose similarities reach far below the exp floor at t = 0.01: ``clustered``
    (8 tight clusters, views drawn from the same cluster) or ``aligned`` (z2 = z1 + small noise)."""
    g = torch.Generator().manual_seed(seed)
    if kind == "clustered":
        centers = torch.randn(8, d, generator=g, dtype=dtype)[torch.arange(n) % 8]
        views = [centers + 0.05 * torch.randn(n, d, generator=g, dtype=dtype) for _ in range(2)]
    else:
        base = torch.randn(n, d, generator=g, dtype=dtype)
        views = [base + 0.05 * torch.randn(n, d, generator=g, dtype=dtype) for _ in range(2)]
    return [v.requires_grad_() for v in views]


@pytest.mark.parametrize("kind", ["clustered", "aligned"])
@pytest.mark.parametrize("temperature", [0.01, 0.05])
def test_low_temperature_gradients_match_fp64_dense(kind, temperature):
    # The fp32 tiled gradients agree with the exact (fp64 dense) ones as closely as the fp32 dense
    # loss does, although the online schedule clamps exp arguments below the normal range.
    tensors = _structured(kind, 48, 16, torch.float32)
    exact = [t.detach().double().requires_grad_() for t in tensors]
    _, grads = _value_and_grads(tiled_info_nce, tensors, temperature=temperature, block_size=16)
    _, dense_grads = _value_and_grads(info_nce, tensors, temperature=temperature)
    _, exact_grads = _value_and_grads(info_nce, exact, temperature=temperature)
    for grad, dense_grad, exact_grad in zip(grads, dense_grads, exact_grads, strict=True):
        dense_error = (dense_grad.double() - exact_grad).abs().max()
        assert (grad.double() - exact_grad).abs().max() <= 2 * dense_error + 1e-6


@pytest.mark.parametrize("kind", ["clustered", "aligned"])
def test_value_error_in_fp32_is_within_twice_the_dense_error(kind):
    # The loss is the mean of per-row differences LSE_a - s_a,pos, both near 1/t = 100, with the
    # positive logit read from the tile that the LSE used: fp32 stays as accurate as the dense
    # cross-entropy (a separate dot product and lse.mean() - positive.mean() gave 2e-6 here).
    for seed in range(3):
        tensors = _structured(kind, 512, 32, torch.float32, seed=seed)
        exact = info_nce(*(t.detach().double() for t in tensors), 0.01).item()
        tiled_error = abs(tiled_info_nce(*tensors, 0.01, block_size=128).item() - exact)
        dense_error = abs(info_nce(*tensors, 0.01).item() - exact)
        assert tiled_error <= 2 * dense_error + 1e-12


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("temperature", [0.01, 0.002])
def test_exp_never_leaves_the_normal_range(dtype, temperature):
    # exp of an argument below the floor runs torch's slow path (denormal results): every exp in
    # the online forward and backward, and every exp2 (exp(x) = 2^(x log2 e) on the tiles), must
    # see arguments >= the floor (in base 2 for exp2).
    lowest = []

    class ExpArguments(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func._schema.name
            if name in ("aten::exp", "aten::exp_", "aten::exp2", "aten::exp2_"):
                in_base_e = math.log(2) if "exp2" in name else 1.0
                lowest.append((name, args[0].min().item() * in_base_e))
            return func(*args, **(kwargs or {}))

    tensors = _structured("aligned", 40, 8, dtype)
    with ExpArguments():
        tiled_info_nce(*tensors, temperature, block_size=16).backward()
    assert any(name.startswith("aten::exp2") for name, _ in lowest)
    assert min(value for _, value in lowest) >= tiled_module._EXP_FLOOR[dtype] * (1 + 1e-6)


@pytest.mark.parametrize("cache_bytes", [0, 700, tiled_module.DEFAULT_CACHE_BYTES])
def test_kept_and_recomputed_tiles_give_the_same_gradients(schedule, cache_bytes):
    # 0: every tile recomputed in the backward; 700 bytes: the first 3x3 fp64 tiles kept, the rest
    # recomputed; the default: all kept.
    tensors = _views(10, 4, torch.float64, extra=3)
    z1, z2, extra = tensors
    loss = tiled_info_nce(z1, z2, 0.1, extra_negatives=extra, block_size=3, cache_bytes=cache_bytes)
    grads = torch.autograd.grad(loss, tensors)
    _, expected = _value_and_grads(info_nce, tensors, temperature=0.1)
    for grad, expected_grad in zip(grads, expected, strict=True):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-10, atol=1e-10)


def test_backward_twice_with_retained_graph_gives_the_same_gradients(schedule):
    z1, z2 = _views(9, 4, torch.float64)
    loss = tiled_info_nce(z1, z2, 0.1, block_size=4)
    first = torch.autograd.grad(loss, [z1, z2], retain_graph=True)
    second = torch.autograd.grad(loss, [z1, z2])
    for a, b in zip(first, second, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize(("intra", "symmetric"), [(True, True), (False, False)])
def test_batched_inputs_match_batched_dense(intra, symmetric):
    g = torch.Generator().manual_seed(3)
    z1, z2 = (torch.randn(2, 3, 7, 5, generator=g, dtype=torch.float64) for _ in range(2))
    extra = torch.randn(4, 5, generator=g, dtype=torch.float64)
    tensors = [z1.requires_grad_(), z2.requires_grad_(), extra.requires_grad_()]
    _assert_matches_dense(
        tensors, 0.2, 3, torch.float64, intra_view_negatives=intra, symmetric=symmetric
    )


def _tiled_lse_node(loss):
    """The _TiledLogSumExp node of ``loss``'s graph (breadth-first from its grad_fn)."""
    queue = [loss.grad_fn]
    while queue:
        node = queue.pop(0)
        if hasattr(node, "cache"):
            return node
        queue += [n for n, _ in node.next_functions if n is not None]
    raise AssertionError("no tiled LSE node in the graph")


def test_kept_tiles_are_released_by_the_backward():
    # The caller often keeps the loss (and so its graph) alive into the next step's forward.
    z1, z2 = _views(9, 4, torch.float64)
    loss = tiled_info_nce(z1, z2, 0.1, block_size=4)
    node = _tiled_lse_node(loss)
    assert node.cache.tiles
    loss.backward()
    assert not node.cache.tiles


@pytest.mark.parametrize("cache_bytes", [0, 10_000])
def test_module_passes_cache_bytes_on(cache_bytes: int) -> None:
    z1, z2 = _views(9, 4, torch.float64)
    loss = TiledInfoNCE(0.1, block_size=4, cache_bytes=cache_bytes)(z1, z2)
    kept = _tiled_lse_node(loss).cache.tiles
    assert bool(kept) == (cache_bytes > 0)
    assert "cache_bytes=" + str(cache_bytes) in repr(TiledInfoNCE(cache_bytes=cache_bytes))
