"""Tiled InfoNCE / NT-Xent: the loss of :func:`shared.losses.info_nce` in O(N d) memory.

The dense loss builds the (N, 2N) logits of each direction (the 2N x 2N similarity matrix of
``[z1; z2]`` for NT-Xent, 64 GiB in fp32 at N = 65536). Here, with Z = [z1; z2] (2N, d),
s_ab = <Z_a, Z_b> / t and the key set K(a) of anchor a (every row but a itself for NT-Xent; the
other view's rows for the CLIP form; plus the extra negatives E),

    loss = mean_{anchors a} (LSE_a - s_a,pos),   LSE_a = log sum_{b in K(a)} exp(s_ab)

with s_a,pos the logit of a's other view (with ``symmetric=True`` the anchors are all 2N rows,
which is 0.5 * (L_{1->2} + L_{2->1})). (..., N, d) inputs are independent problems, averaged.
The LSE term is a custom :class:`torch.autograd.Function` that walks (block_size x block_size)
tiles of the similarity matrix and keeps only running per-anchor sums, the streaming log-sum-exp
of FlashAttention (Dao et al. 2022, "FlashAttention: Fast and Memory-Efficient Exact Attention
with IO-Awareness"; Milakov & Gimelshein 2018, "Online normalizer calculation for softmax").
With upstream gradient g,

    dLSE_a / ds_ab = P_ab = exp(s_ab - LSE_a),
    dZ_a = (1/t) sum_b G_ab Z_b,   dZ_b = (1/t) sum_a G_ab Z_a,

G_ab = g_a P_ab (+ g_b P_ba when b is an anchor too). The Gram matrix of Z is symmetric, so one
tile s_IJ serves the rows of block I and, transposed, the rows of block J: only tiles with I <= J
are computed, half the matrix products of the dense loss. The forward keeps its tiles for the
backward while they fit in ``cache_bytes`` (1 GiB by default: every tile up to 2 x 8192 rows in
fp32) and recomputes the others from the saved embeddings, so memory is O(N d + block_size^2)
plus that cache.

The loss value is the mean of the per-anchor differences LSE_a - s_a,pos, where s_a,pos is read
from the very tile entry the LSE saw: both terms are near 1/t, and differencing them row by row
(not lse.mean() - positive.mean(), and not against a separately rounded dot product) keeps the
fp32 value as accurate as the dense cross-entropy (1e-7 at t = 0.01 instead of 2e-6). The
gradient of the positive term is left to autograd (an O(N d) row-wise product).

Two numerically exact schedules; neither reads a value back from the device:

* bounded: for L2-normalised rows (``normalize=True``) |s_ab| <= B = 1/t by Cauchy-Schwarz; when
  B <= 40 (fp32; 300 in fp64; t >= 0.025 in fp32) exp(s_ab) neither overflows nor loses precision
  and no running maximum is needed: one exponential per tile entry in the forward and none in the
  backward (the kept tile already holds exp(s_ab); it is overwritten in place by
  G_ab = exp(s_ab) (w_a + w_b), w_a = g_a exp(-LSE_a)). The tiles hold base-2 logits
  x_ab = s_ab log2(e) (the keys are scaled by log2(e) / t) and exp(s_ab) = 2^x_ab: torch's exp2
  is ~2.5x faster than its exp on CPU, with the same 1-ulp accuracy, and no extra rounding.
* online: otherwise (t < 0.025, unnormalised embeddings) each tile updates the running row (and
  column) maxima of the online log-sum-exp, and the backward uses exp(s_ab - LSE_a) directly:
  two exps per tile entry in the forward and two in the backward, each computed as
  2^((s - shift) log2 e) (the argument is near 0 for the terms that matter, so the product's
  rounding is negligible), into a reused scratch tile or in place. Every exp argument is clamped
  at -87 (fp32; -708 in fp64): below that exp's result is not a normal number and torch's exp
  takes a slow path (fp32, one thread: 0.84 ns per element in [-87, 0], 30 ns in [-100, -88];
  exp2 0.3 ns in range, 0.65 ns below it; at t = 0.01 on clustered or aligned embeddings most
  arguments lie there), and the clamped terms are below the rounding of the sums they join, so
  values and gradients are unchanged.

Where the time goes (2 x 8192 x 128, fp32, one thread; docs/RESULTS.md 1.2): the matrix
products are 12 N^2 d FLOPs (4 N^2 d forward, 8 N^2 d backward; 103 GFLOP), the arithmetic
bound. The default 384 x 384 tiles (576 KiB in fp32) stay in a 1 MiB L2 cache between a tile's
product and its elementwise passes, and 384-row products run ~10 % faster than 1024-row ones
(the 1024 x 1024 x 128 forward product is the slowest of all). At t = 0.1 the loss takes 1.1-1.2x
the bound at the rate of the same products on 1024-row tiles, 1.23x at the rate of the fastest
(384-row) ones: besides the products (diagonal tiles are computed whole, +block_size / 2N of the
FLOPs) it writes the kept tiles to memory and reads them back (0.55 GiB, more than this CPU's
caches hold) and makes four cheap passes per tile entry (exp2, row sum, column sum, the
weighting of G). At t = 0.01 (online) the four exps, the clamps, the subtractions of the shifts
and the small per-tile merges add about 25 % (1.4-1.5x the 1024-row bound). Python overhead is
one loop iteration per tile pair (946 at N = 8192), a few percent; at N = 1024 (21 pairs) it and
the O(N d) work around the tiles are ~15 % of the time.

Half precision: with bf16 inputs (z1, z2 and any extra negatives) the tile matrix products run in
bf16, as the dense loss's products on bf16 inputs do (fp32 accumulation; oneDNN's AVX512-BF16
products run at about 2x the fp32 rate on this CPU: 0.20 ms for a 384 x 128 x 384 forward product
vs 0.46 ms, 0.20 vs 0.41 ms for a backward G Z one). Everything else stays fp32: the rows are
normalised in fp32 and rounded once to bf16 (the keys, and the keys scaled by 1/t), each product's
output tile is upcast once (+0.035 ms per tile, the product's own output is bf16 on CPU), and every
exp, running max and sum, the LSE, the G tiles (rounded once to bf16 as the backward products'
operand) and the gradient accumulation are fp32. The logits carry bf16's rounding (relative 2^-9,
up to 0.25 at 1/t = 100) as the dense loss's do; tests/shared/test_tiled.py checks that the value
and gradients stay within twice the dense bf16 loss's error of the exact loss (measured at 2 x 256
x 32, t = 0.01 and 0.1, random / clustered / aligned rows: the value 2-200x closer than dense's,
which also rounds its logits' softmax to bf16; the gradients' max error 0.3-1.15x dense's). The
positive term's gradient uses the same bf16-rounded partner rows as the products, so it cancels the
LSE's where P_a,pos = 1, as in the dense loss. Alternated CPU time at 2 x 1024 x 128 on one thread:
tiled/dense 0.6-0.9 in bf16 for every t and input kind (0.7-0.85 with fp32 products in the same
runs, 1.22 at t = 0.01 in an earlier one), 0.4-0.55 in fp32. fp16 inputs are computed in fp32:
without AVX512-FP16 an fp16 product runs 10-30x slower than an fp32 one on CPU. The loss is
returned in fp32; autocast is disabled inside the tiles. The code is device-agnostic (CPU and
CUDA).

Distributed training: :func:`shared.distributed.distributed_info_nce` gathers the keys of every
rank with :func:`shared.distributed.gather_with_grad` and calls :func:`tiled_anchor_logsumexp` with
only the local rows as anchors, so each rank stores O(world_size * N * d) keys and never a
similarity matrix; the mean of the per-rank losses is the single-process loss on the concatenated
batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from shared.losses._checks import check_embeddings, check_pair, check_same_dim, check_temperature

# Largest |s_ab| for which the bounded schedule is exact: exp(+-B) and exp(-LSE) stay far inside
# the normal range (fp32: e^88, fp64: e^709) even for 10^6 keys.
_BOUNDED_LIMIT = {torch.float32: 40.0, torch.float64: 300.0}
_LOG2E = math.log2(math.e)
_LN2 = math.log(2.0)
# exp(x) for x below this is no longer a normal number and torch's exp (and exp2) takes a slow
# path; exp(floor) is below the rounding of any sum it joins, so clamping there is exact.
_EXP_FLOOR = {torch.float32: -87.0, torch.float64: -708.0}
# Forward tiles kept for the backward (instead of recomputing them) up to this many bytes.
DEFAULT_CACHE_BYTES = 2**30
# Tile side: a 384 x 384 fp32 tile (576 KiB) stays in a 1 MiB L2 cache between its matrix product
# and its elementwise passes, and 384-row products run at full rate (docs/RESULTS.md 1.2: fastest
# of 256, 320, 384, 512, 1024 at 2 x 8192 x 128 on one thread).
DEFAULT_BLOCK_SIZE = 384
# A view label no key shares: extra negatives are keys of every anchor in both loss forms.
_EXTRA_VIEW = -1


class Segment(NamedTuple):
    """Rows ``[start, stop)`` of the key matrix: all from one ``view``, anchors or keys only."""

    start: int
    stop: int
    view: int
    anchor: bool


class _Tile(NamedTuple):
    start: int
    stop: int
    view: int
    out: int  # offset of the tile's rows in the (R,) output, -1 when they are not anchors


def _tiles(segments: Sequence[Segment], block_size: int) -> list[_Tile]:
    tiles, out = [], 0
    for seg in segments:
        for start in range(seg.start, seg.stop, block_size):
            stop = min(start + block_size, seg.stop)
            tiles.append(_Tile(start, stop, seg.view, out if seg.anchor else -1))
            if seg.anchor:
                out += stop - start
    return tiles


def _tile_pairs(tiles: list[_Tile], intra: bool) -> list[tuple[_Tile, _Tile, bool, bool]]:
    """Tile pairs (I, J), I <= J, with (rows of I are anchors, rows of J are anchors and I != J)."""
    pairs = []
    for i, ti in enumerate(tiles):
        for tj in tiles[i:]:
            if not intra and ti.view == tj.view and ti.view != _EXTRA_VIEW:
                continue  # CLIP form: no negatives from the anchor's own view
            row, col = ti.out >= 0, tj.out >= 0 and tj is not ti
            if row or col:
                pairs.append((ti, tj, row, col))
    return pairs


class _TiledLogSumExp(torch.autograd.Function):
    """LSE_a over the allowed keys of every anchor row, tile by tile (see the module docstring)."""

    @staticmethod
    def forward(
        ctx: Any,
        keys: Tensor,
        tiles: list[_Tile],
        n_anchors: int,
        intra: bool,
        inv_t: float,
        bounded: bool,
        cache_bytes: int,
        positive_offset: int,
        product_dtype: torch.dtype,
    ) -> tuple[Tensor, Tensor]:
        pairs = _tile_pairs(tiles, intra)
        cache = _TileCache(cache_bytes)
        positives = _Positives(keys, positive_offset)
        with torch.autocast(keys.device.type, enabled=False):
            forward = _bounded_forward if bounded else _online_forward
            lse = forward(keys, product_dtype, inv_t, pairs, n_anchors, cache, positives)
        ctx.save_for_backward(keys, lse)
        ctx.pairs, ctx.bounded, ctx.inv_t, ctx.cache = pairs, bounded, inv_t, cache
        ctx.product_dtype = product_dtype
        ctx.mark_non_differentiable(positives.logits)
        return lse, positives.logits

    @staticmethod
    def backward(ctx: Any, grad_lse: Tensor, _: Tensor) -> tuple[Tensor | None, ...]:
        if torch.is_grad_enabled():
            raise RuntimeError(
                "tiled_info_nce does not support double backward (create_graph=True); "
                "use the dense shared.losses.info_nce for higher-order gradients"
            )
        keys, lse = ctx.saved_tensors
        with torch.autocast(keys.device.type, enabled=False):
            grad_lse = grad_lse.to(keys.dtype)
            backward = _bounded_backward if ctx.bounded else _online_backward
            grad = backward(keys, ctx.product_dtype, lse, grad_lse, ctx.pairs, ctx.inv_t, ctx.cache)
        ctx.cache.release()
        return grad, None, None, None, None, None, None, None, None


class _Positives:
    """s_{i, i + offset}, read from the forward's own tiles (offset 0: none are read).

    The loss subtracts these from LSE_a; taken from the same matrix products as the LSE, they
    cancel as exactly as in the dense cross-entropy (a separately computed dot product differs
    from the tile's entry by rounding, 1e-6 at 1 / t = 100 in fp32).
    """

    def __init__(self, keys: Tensor, offset: int) -> None:
        self.offset = offset
        self.logits = keys.new_zeros(offset)

    def rescale(self, factor: float) -> None:
        """logits <- logits * factor, rounded once (the product is formed in fp64)."""
        self.logits.copy_(self.logits.double() * factor)

    def take(self, ti: _Tile, tj: _Tile, logits: Tensor) -> None:
        start = max(ti.start, tj.start - self.offset)
        stop = min(ti.stop, tj.stop - self.offset, self.offset)
        if start < stop:
            cols = start + self.offset - tj.start
            block = logits[start - ti.start : stop - ti.start, cols : cols + stop - start]
            self.logits[start:stop] = block.diagonal()


class _TileCache:
    """Forward tiles kept for the backward while they fit in ``budget`` bytes (0: keep none).

    Released after the backward: the graph (and so this object) lives as long as the caller keeps
    the loss tensor, often into the next step's forward. A second backward through a retained
    graph recomputes the tiles (bit-identical: the same products of the same inputs)."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.tiles: dict[int, Tensor] = {}

    def keep(self, k: int, tile: Tensor) -> None:
        size = tile.numel() * tile.element_size()
        if size <= self.budget:
            self.tiles[k] = tile
            self.budget -= size

    def pop(self, k: int) -> Tensor | None:
        return self.tiles.pop(k, None)

    def release(self) -> None:
        self.tiles.clear()


def _exp_(x: Tensor) -> Tensor:
    """exp(x) in place, as 2^(x log2 e): torch's exp2 is ~2.5x faster than its exp on CPU (fp32 and
    fp64, both within 1 ulp). The product adds a relative error of |x| ulp / 2: use it where the
    terms that matter have |x| small (the online schedule's x = s - max)."""
    return x.mul_(_LOG2E).exp2_()


def _operands(keys: Tensor, scale: float, product_dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """(keys * scale, keys), each rounded once to the matrix products' operand dtype."""
    return (keys * scale).to(product_dtype), keys.to(product_dtype)


def _product(a: Tensor, b: Tensor, dtype: torch.dtype) -> Tensor:
    """a @ b in the operands' dtype (fp32 accumulation for bf16), returned in ``dtype``."""
    return torch.mm(a, b).to(dtype)


def _add_product(out: Tensor, g: Tensor, z: Tensor) -> None:
    """out += g @ z, where out is the fp32 / fp64 gradient and g, z may be bf16 operands."""
    if g.dtype == out.dtype:
        out.addmm_(g, z)
    else:
        out.add_(torch.mm(g, z))


def _similarity(scaled: Tensor, keys: Tensor, ti: _Tile, tj: _Tile, dtype: torch.dtype) -> Tensor:
    """s_IJ: the (I, J) tile of the scaled Gram matrix (self-pairs -inf on a diagonal tile)."""
    tile = _product(scaled[ti.start : ti.stop], keys[tj.start : tj.stop].T, dtype)
    if ti is tj:
        tile.fill_diagonal_(float("-inf"))
    return tile


def _bounded_forward(
    keys: Tensor,
    product_dtype: torch.dtype,
    inv_t: float,
    pairs: list,
    n_anchors: int,
    cache: _TileCache,
    positives: _Positives,
) -> Tensor:
    sums = keys.new_zeros(n_anchors)
    # tiles of base-2 logits x_ab = s_ab log2(e)
    scaled, ops = _operands(keys, inv_t * _LOG2E, product_dtype)
    for k, (ti, tj, row, col) in enumerate(pairs):
        tile = _product(scaled[ti.start : ti.stop], ops[tj.start : tj.stop].T, keys.dtype)
        positives.take(ti, tj, tile)
        tile.exp2_()  # 2^x_ab = exp(s_ab)
        if ti is tj:
            tile.fill_diagonal_(0.0)
        if row:
            sums[ti.out : ti.out + ti.stop - ti.start] += tile.sum(1)
        if col:
            sums[tj.out : tj.out + tj.stop - tj.start] += tile.sum(0)
        cache.keep(k, tile)
    positives.rescale(_LN2)
    return sums.log_()


def _scratch(pairs: list, like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """A flat buffer for one tile's temporary (reused for every tile, so it stays in cache)."""
    side = max(max(ti.stop - ti.start, tj.stop - tj.start) for ti, tj, _, _ in pairs)
    return like.new_empty(side * side, dtype=dtype)


def _view(scratch: Tensor, tile: Tensor) -> Tensor:
    """The start of ``scratch`` as a contiguous tensor of ``tile``'s shape."""
    return scratch[: tile.numel()].view(tile.shape)


def _accumulate(
    m: Tensor, s: Tensor, tile: Tensor, dim: int, scratch: Tensor, floor: float, diagonal: bool
) -> None:
    """In place: (m, s) <- the running max and sum of exp(. - m) of the tile's rows (dim = 1) or
    columns (dim = 0) after adding this tile: m' = max(m, max_tile), s' = s exp(m - m') +
    sum exp(tile - m'). Every exponent is clamped at ``floor``, where exp leaves the normal range
    and runs its slow path (the clamped terms are below the sum's rounding); self-pairs count 0."""
    new_m = torch.maximum(m, tile.amax(dim))
    shift = new_m[:, None] if dim == 1 else new_m[None, :]
    e = _exp_(torch.sub(tile, shift, out=_view(scratch, tile)).clamp_min_(floor))
    if diagonal:
        e.fill_diagonal_(0.0)
    s.mul_((m - new_m).clamp_min_(floor).exp_()).add_(e.sum(dim))
    m.copy_(new_m)


def _online_forward(
    keys: Tensor,
    product_dtype: torch.dtype,
    inv_t: float,
    pairs: list,
    n_anchors: int,
    cache: _TileCache,
    positives: _Positives,
) -> Tensor:
    scaled, ops = _operands(keys, inv_t, product_dtype)
    lowest = torch.finfo(keys.dtype).min  # finite, so a fully masked 1 x 1 tile gives 0, not NaN
    floor = _EXP_FLOOR[keys.dtype]
    m = keys.new_full((n_anchors,), lowest)
    s = keys.new_zeros(n_anchors)
    scratch = _scratch(pairs, keys)
    for k, (ti, tj, row, col) in enumerate(pairs):
        tile = _similarity(scaled, ops, ti, tj, keys.dtype)
        positives.take(ti, tj, tile)
        if row:
            o = slice(ti.out, ti.out + ti.stop - ti.start)
            _accumulate(m[o], s[o], tile, 1, scratch, floor, ti is tj)
        if col:
            o = slice(tj.out, tj.out + tj.stop - tj.start)
            _accumulate(m[o], s[o], tile, 0, scratch, floor, False)
        cache.keep(k, tile)
    return m + s.log()


def _bounded_backward(
    keys: Tensor,
    product_dtype: torch.dtype,
    lse: Tensor,
    grad_lse: Tensor,
    pairs: list,
    inv_t: float,
    cache: _TileCache,
) -> Tensor:
    grad = torch.zeros_like(keys)
    # G_ab = exp(s_ab) (w_a + w_b) with |g / scale| <= 1, so w stays in range; a tensor, not a read
    scale = grad_lse.abs().amax().clamp_min(torch.finfo(keys.dtype).tiny)
    w = grad_lse / scale * torch.exp(-lse)
    # as in the forward, so a recomputed tile is the kept one
    scaled, ops = _operands(keys, inv_t * _LOG2E, product_dtype)
    scratch = _scratch(pairs, keys)
    # G in the operand dtype: the tile itself, or written (rounded) into a half-precision buffer
    half = None if product_dtype == keys.dtype else _scratch(pairs, keys, product_dtype)
    for k, (ti, tj, row, col) in enumerate(pairs):
        zi, zj = ops[ti.start : ti.stop], ops[tj.start : tj.stop]
        tile = cache.pop(k)  # exp(s_IJ), overwritten by G_IJ: no other backward reads it
        if tile is None:
            tile = _product(scaled[ti.start : ti.stop], zj.T, keys.dtype).exp2_()
            if ti is tj:
                tile.fill_diagonal_(0.0)
        wi = w[ti.out : ti.out + ti.stop - ti.start, None]  # rows' weight, if they are anchors
        wj = w[None, tj.out : tj.out + tj.stop - tj.start]  # columns' weight, if anchors
        weight = torch.add(wi, wj, out=_view(scratch, tile)) if row and col else wi if row else wj
        g = torch.mul(tile, weight, out=tile if half is None else _view(half, tile))
        _add_product(grad[ti.start : ti.stop], g, zj)
        _add_product(grad[tj.start : tj.stop], g.T, zi)
    return grad.mul_(scale * inv_t)


def _online_backward(
    keys: Tensor,
    product_dtype: torch.dtype,
    lse: Tensor,
    grad_lse: Tensor,
    pairs: list,
    inv_t: float,
    cache: _TileCache,
) -> Tensor:
    grad = torch.zeros_like(keys)
    scaled, ops = _operands(keys, inv_t, product_dtype)
    floor = _EXP_FLOOR[keys.dtype]
    scratch = _scratch(pairs, keys)
    half = None if product_dtype == keys.dtype else _scratch(pairs, keys, product_dtype)
    for k, (ti, tj, row, col) in enumerate(pairs):
        zi, zj = ops[ti.start : ti.stop], ops[tj.start : tj.stop]
        tile = cache.pop(k)  # s_IJ, overwritten by G_IJ: no other backward reads it
        if tile is None:
            tile = _similarity(scaled, ops, ti, tj, keys.dtype)
        # G_ab = g_a P_ab (rows are anchors) + g_b P_ba (columns are anchors), P = exp(s - LSE)
        # with the exponent clamped as in the forward; self-pairs 0
        oi, oj = (
            slice(ti.out, ti.out + ti.stop - ti.start),
            slice(tj.out, tj.out + tj.stop - tj.start),
        )
        if row:
            p = _exp_(torch.sub(tile, lse[oi, None], out=_view(scratch, tile)).clamp_min_(floor))
            if ti is tj:
                p.fill_diagonal_(0.0)
        if col:
            g = _exp_(tile.sub_(lse[None, oj]).clamp_min_(floor)).mul_(grad_lse[None, oj])
            if row:
                g.addcmul_(p, grad_lse[oi, None])
        else:
            g = p.mul_(grad_lse[oi, None])
        if half is not None:
            g = _view(half, g).copy_(g)  # the operand of the bf16 products, rounded once
        _add_product(grad[ti.start : ti.stop], g, zj)
        _add_product(grad[tj.start : tj.stop], g.T, zi)
    return grad.mul_(inv_t)


def prepare_views(
    z1: Tensor,
    z2: Tensor,
    temperature: float,
    extra_negatives: Tensor | None,
    normalize: bool,
    *,
    batched: bool = False,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Check the inputs of an InfoNCE call; return them in the compute dtype, normalised if asked.

    The compute dtype is fp64 if any input is fp64, else fp32 (fp16 / bf16 are upcast). With
    ``batched`` the views may be (..., N, d); ``extra_negatives`` is always (M, d).
    """
    check_pair("z1", z1, "z2", z2, batched=batched)
    check_temperature(temperature)
    tensors = [z1, z2]
    if extra_negatives is not None:
        check_embeddings("extra_negatives", extra_negatives, min_rows=1)
        check_same_dim("z1", z1, "extra_negatives", extra_negatives)
        tensors.append(extra_negatives)
    dtype = torch.float32
    for x in tensors:
        dtype = torch.promote_types(dtype, x.dtype)
    tensors = [x.to(dtype) for x in tensors]
    if normalize:
        tensors = [F.normalize(x, dim=-1) for x in tensors]
    return tensors[0], tensors[1], tensors[2] if extra_negatives is not None else None


def _check_size(name: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def tiled_anchor_logsumexp(
    keys: Tensor,
    segments: Sequence[Segment],
    temperature: float,
    *,
    intra_view_negatives: bool,
    extra_negatives: Tensor | None = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    max_sq_norm: float | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    positive_offset: int = 0,
    product_dtype: torch.dtype | None = None,
) -> tuple[Tensor, Tensor]:
    """Streaming LSE_a = log sum_{b in K(a)} exp(<k_a, k_b> / t) for every anchor row of ``keys``.

    The building block of :func:`tiled_info_nce` and of
    :func:`shared.distributed.distributed_info_nce`. K(a) holds every row of ``keys`` except a
    itself (``intra_view_negatives=True``) or the rows of the other views only (False), plus every
    row of ``extra_negatives``. No normalisation is applied here.

    Args:
        keys: (K, d) embeddings in fp32 or fp64.
        segments: consecutive row ranges covering ``keys`` in order, each with its view label
            (an int >= 0) and whether its rows are anchors.
        temperature: t > 0.
        intra_view_negatives: keep same-view keys (NT-Xent) or not (CLIP / MoCo form).
        extra_negatives: optional (M, d) keys shared by every anchor, same dtype as ``keys``.
        block_size: tile side; memory is O(K d + block_size^2) plus the tile cache.
        max_sq_norm: a bound the caller knows on every row's squared norm (1 for L2-normalised
            rows). It selects the bounded schedule when max_sq_norm / t is small enough; None
            selects the online schedule (the bound is not read from the device: no host sync).
        cache_bytes: forward tiles kept for the backward, up to this many bytes (0: recompute
            every tile in the backward, O(K d) memory).
        positive_offset: P > 0 also reads the logits s_{i, i + P} of the anchor rows i < P from
            the same tiles as their LSE (no gradient), so a loss LSE_a - s_a,pos cancels as exactly
            as the dense cross-entropy; rows i < P that are not anchors read 0.
        product_dtype: the operand dtype of the tile matrix products: None for ``keys.dtype``, or
            ``torch.bfloat16`` (with fp32 keys) for bf16 products as in the dense loss on bf16
            inputs; each product's output is rounded to bf16 once and upcast, and every exp, sum,
            LSE and the gradient accumulation stay in ``keys.dtype``.

    Returns:
        (R,) LSE of the anchor rows, in the order of the anchor segments, and the (P,) positive
        logits (empty for P = 0).
    """
    check_temperature(temperature)
    _check_size("block_size", block_size, 1)
    _check_size("cache_bytes", cache_bytes, 0)
    if keys.dtype not in _BOUNDED_LIMIT:
        raise TypeError(f"keys must be float32 or float64, got {keys.dtype}")
    if product_dtype is None:
        product_dtype = keys.dtype
    elif product_dtype not in (keys.dtype, torch.bfloat16):
        raise TypeError(f"product_dtype must be None, keys' dtype or bfloat16, got {product_dtype}")
    expected = 0
    for seg in segments:
        if seg.start != expected or seg.stop <= seg.start or seg.view < 0:
            raise ValueError(
                f"segments must cover keys' rows consecutively with views >= 0, got {segments!r}"
            )
        expected = seg.stop
    if expected != keys.shape[0]:
        raise ValueError(f"segments cover {expected} rows but keys has {keys.shape[0]}")
    n_keys = keys.shape[0]
    tiles = _tiles(segments, block_size)
    if extra_negatives is not None:
        if extra_negatives.dtype != keys.dtype:
            raise TypeError(
                f"extra_negatives must have the dtype of keys ({keys.dtype}), "
                f"got {extra_negatives.dtype}"
            )
        keys = torch.cat([keys, extra_negatives])
        tiles += _tiles([Segment(n_keys, keys.shape[0], _EXTRA_VIEW, False)], block_size)
    n_anchors = sum(seg.stop - seg.start for seg in segments if seg.anchor)
    if n_anchors == 0:
        raise ValueError("no segment holds anchors")
    inv_t = 1.0 / temperature
    bounded = max_sq_norm is not None and max_sq_norm * inv_t <= _BOUNDED_LIMIT[keys.dtype]
    if not (torch.is_grad_enabled() and keys.requires_grad):
        cache_bytes = 0  # no backward will run
    return _TiledLogSumExp.apply(
        keys,
        tiles,
        n_anchors,
        intra_view_negatives,
        inv_t,
        bounded,
        cache_bytes,
        positive_offset,
        product_dtype,
    )


def tiled_info_nce(
    z1: Tensor,
    z2: Tensor,
    temperature: float = 0.1,
    *,
    intra_view_negatives: bool = True,
    symmetric: bool = True,
    extra_negatives: Tensor | None = None,
    normalize: bool = True,
    block_size: int = DEFAULT_BLOCK_SIZE,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
) -> Tensor:
    """InfoNCE / NT-Xent of :func:`shared.losses.info_nce` without the N x N logits. Scalar.

    Same arguments and value as :func:`shared.losses.info_nce` (the gradients agree to
    floating-point rounding); memory O(N d + block_size^2) plus at most ``cache_bytes`` of kept
    tiles, instead of O(N^2).

    Args:
        z1, z2: (N, d) embeddings of the two views, row i of each a positive pair, or (..., N, d)
            for a batch of independent problems (the loss is then the mean over them). bf16
            inputs run the tile products in bf16, the rest in fp32 (see the module docstring).
        temperature: t > 0.
        intra_view_negatives: NT-Xent (2N-2 negatives) when True, cross-view only (N-1) when False.
        symmetric: average both directions; when False only rows of ``z1`` are anchors.
        extra_negatives: optional (M, d) negatives shared by every anchor (a memory queue).
        normalize: L2-normalise embeddings first (cosine similarity).
        block_size: side of the similarity tiles (the default, 384, keeps a tile in a 1 MiB L2
            cache between its product and its elementwise passes; see ``DEFAULT_BLOCK_SIZE``).
        cache_bytes: forward tiles kept for the backward up to this many bytes (0: recompute).

    Example:
        >>> z1, z2 = torch.randn(2, 4096, 128, requires_grad=True)
        >>> tiled_info_nce(z1, z2, temperature=0.1).backward()
    """
    _check_size("block_size", block_size, 1)
    product_dtype = product_dtype_for(z1, z2, extra_negatives)
    z1, z2, extra_negatives = prepare_views(
        z1, z2, temperature, extra_negatives, normalize, batched=True
    )
    n, dim = z1.shape[-2:]
    per_problem = [
        _pair_loss(
            a,
            b,
            temperature,
            extra_negatives,
            intra_view_negatives=intra_view_negatives,
            symmetric=symmetric,
            block_size=block_size,
            max_sq_norm=1.0 if normalize else None,
            cache_bytes=cache_bytes,
            product_dtype=product_dtype,
        )
        for a, b in zip(z1.reshape(-1, n, dim), z2.reshape(-1, n, dim), strict=True)
    ]
    return per_problem[0] if len(per_problem) == 1 else torch.stack(per_problem).mean()


def product_dtype_for(*tensors: Tensor | None) -> torch.dtype | None:
    """bf16 when every input is bf16: its tile products then run in bf16, as the dense loss's do
    (None: the compute dtype). fp16 products are not used: without AVX512-FP16 they run 10-30x
    slower than fp32 ones on CPU."""
    if all(x is None or x.dtype == torch.bfloat16 for x in tensors):
        return torch.bfloat16
    return None


def _pair_loss(
    z1: Tensor,
    z2: Tensor,
    temperature: float,
    extra_negatives: Tensor | None,
    *,
    symmetric: bool,
    product_dtype: torch.dtype | None,
    **tiling: Any,
) -> Tensor:
    """One (N, d) problem: the mean over anchors of (LSE_a - s_a,pos), differenced per row so the
    two terms near 1/t cancel before the average (not after it)."""
    n = z1.shape[0]
    lse, tile_positive = tiled_anchor_logsumexp(
        torch.cat([z1, z2]),
        [Segment(0, n, 0, True), Segment(n, 2 * n, 1, symmetric)],
        temperature,
        extra_negatives=extra_negatives,
        positive_offset=n,
        product_dtype=product_dtype,
        **tiling,
    )
    return loss_from_lse(lse, tile_positive, z1, z2, temperature, product_dtype)


def loss_from_lse(
    lse: Tensor,
    tile_positive: Tensor,
    z1: Tensor,
    z2: Tensor,
    temperature: float,
    product_dtype: torch.dtype | None = None,
) -> Tensor:
    """mean_a (LSE_a - s_a,pos) over the anchors of one (N, d) pair of views.

    ``lse`` holds the anchors' LSE, N per anchor view; ``tile_positive`` the (N,) positive logits
    read from the LSE's own tiles. The value is differenced per row against those, so the two
    terms near 1/t cancel before the average (fp32 as accurate as the dense cross-entropy); the
    gradient is that of LSE_a - <z1_i, z2_i> / t, with the partner row in each term's gradient
    (dz1_i = -z2_i / t, dz2_i = -z1_i / t) rounded to ``product_dtype`` like the operands of the
    tile products (the LSE's gradient sums P_ab z_b / t over those), so the two cancel where P_ab
    = 1 as in the dense loss.
    """
    r1, r2 = (z.detach().to(product_dtype or z.dtype).to(z.dtype) for z in (z1, z2))
    pull = ((z1 * r2).sum(1) + (r1 * z2).sum(1)) / temperature  # gradient only: its value leaves
    rows = lse.view(-1, z1.shape[0]) - tile_positive - (pull - pull.detach())
    return rows.mean()


class TiledInfoNCE(nn.Module):
    """Module form of :func:`tiled_info_nce`: the :class:`shared.losses.InfoNCE` loss in O(N d)
    plus at most ``cache_bytes`` of forward tiles kept for the backward (0: O(N d)).

    Example:
        >>> loss = TiledInfoNCE(temperature=0.1)(torch.randn(512, 64), torch.randn(512, 64))
    """

    def __init__(
        self,
        temperature: float = 0.1,
        *,
        intra_view_negatives: bool = True,
        symmetric: bool = True,
        normalize: bool = True,
        block_size: int = DEFAULT_BLOCK_SIZE,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        super().__init__()
        check_temperature(temperature)
        _check_size("block_size", block_size, 1)
        _check_size("cache_bytes", cache_bytes, 0)
        self.temperature = temperature
        self.intra_view_negatives = intra_view_negatives
        self.symmetric = symmetric
        self.normalize = normalize
        self.block_size = block_size
        self.cache_bytes = cache_bytes

    def forward(self, z1: Tensor, z2: Tensor, extra_negatives: Tensor | None = None) -> Tensor:
        return tiled_info_nce(
            z1,
            z2,
            self.temperature,
            intra_view_negatives=self.intra_view_negatives,
            symmetric=self.symmetric,
            extra_negatives=extra_negatives,
            normalize=self.normalize,
            block_size=self.block_size,
            cache_bytes=self.cache_bytes,
        )

    def extra_repr(self) -> str:
        return (
            f"temperature={self.temperature}, intra_view_negatives={self.intra_view_negatives}, "
            f"block_size={self.block_size}, cache_bytes={self.cache_bytes}"
        )
