"""torch.distributed helpers: process group, differentiable all-gather, global-negative InfoNCE.

Multi-GPU / multi-node runs are launched with ``torchrun`` and wrapped in DDP by the trainer; this
module only adds what a contrastive loss needs on top:

* :func:`init_from_env` starts the process group from torchrun's environment variables.
* :func:`gather_with_grad` concatenates a tensor from every rank; its backward sums the incoming
  gradients over ranks and returns each rank its own slice, so gradient reaches the rank that
  produced every gathered row (as in SimCLR's cross-replica negatives, Chen et al. 2020).
* :func:`distributed_info_nce`: InfoNCE / NT-Xent whose anchors are the local rows and whose
  negatives come from every rank. With B = world_size local batches of N rows:

      L_k = mean_{local anchors a} LSE_a(global keys) - mean_{local i} <z1_i, z2_i> / t

  so mean_k L_k is the single-process loss on the concatenated batch of B N rows. The gradient of
  rank k's embeddings after the gather backward is d(sum_r L_r)/dz_k; DDP averages parameter
  gradients over ranks, which divides by B again: the result is d(mean_r L_r)/dtheta, the
  single-process gradient.
* :func:`all_gather_rows` and :func:`sync_indexed_rows` keep the state of a stateful objective
  identical on every rank: each rank updates the rows of the samples it saw, then every rank
  writes the rows of all ranks (iSogCLR's per-sample temperatures; MoCHi's queue enqueues the
  gathered keys, as MoCo does). DDP's ``broadcast_buffers`` then copies equal values, instead of
  overwriting the other ranks' updates with rank 0's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

from shared.losses.tiled import (
    DEFAULT_BLOCK_SIZE,
    Segment,
    loss_from_lse,
    prepare_views,
    product_dtype_for,
    tiled_anchor_logsumexp,
)


def is_distributed() -> bool:
    """True when torch.distributed is available and a process group is initialised."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's rank in the default group (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes in the default group (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj`` (picklable), in rank order; ``[obj]`` when not distributed.

    Used for small per-rank state such as each rank's random-number-generator state, which a
    checkpoint must keep per rank for an exact resume. Objects travel between this job's own
    processes only, never through a file.
    """
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def init_from_env() -> bool:
    """Initialise the default process group from torchrun's variables; return whether one is active.

    Reads ``WORLD_SIZE``, ``RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` (``init_method="env://"``)
    and uses NCCL when CUDA is available (after selecting the GPU ``LOCAL_RANK``), gloo otherwise.
    A no-op returning False when ``WORLD_SIZE`` is unset or 1; a no-op returning True when a group
    is already initialised.
    """
    if is_distributed():
        return True
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return False
    missing = [k for k in ("RANK", "MASTER_ADDR", "MASTER_PORT") if k not in os.environ]
    if missing:
        raise RuntimeError(
            f"WORLD_SIZE={size} but {', '.join(missing)} not set: launch with torchrun"
        )
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend, init_method="env://")
    return True


class _GatherWithGrad(torch.autograd.Function):
    """all_gather along dim 0; backward: all_reduce(SUM) of the gradient, then the local slice."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        ctx.rows, ctx.rank = x.shape[0], dist.get_rank()
        return torch.cat(parts)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` from every rank along dim 0 (rank order), keeping the autograd graph.

    Every rank must pass a tensor of the same shape and dtype (checked). The backward sums the
    gradient of the gathered tensor over ranks and gives each rank the rows it contributed, so a
    loss on rank r that uses rank k's rows sends its gradient to rank k. Returns ``x`` itself when
    not distributed.
    """
    if not is_distributed() or dist.get_world_size() == 1:
        return x
    shape = torch.tensor(list(x.shape), dtype=torch.long, device=x.device)
    shapes = [torch.empty_like(shape) for _ in range(dist.get_world_size())]
    dist.all_gather(shapes, shape)
    if any(not torch.equal(s, shape) for s in shapes):
        raise ValueError(
            "gather_with_grad needs the same shape on every rank, got "
            f"{[s.tolist() for s in shapes]}"
        )
    return _GatherWithGrad.apply(x)


@torch.no_grad()
def all_gather_rows(x: Tensor) -> Tensor:
    """Concatenate ``x`` from every rank along dim 0 in rank order, without autograd.

    The ranks may hold different numbers of rows (the trailing dimensions and dtype must agree);
    every rank gets the same result. Returns ``x`` itself when not distributed.

        keys = all_gather_rows(z2.detach())  # (sum of the ranks' N, d) on every rank
    """
    if not is_distributed() or dist.get_world_size() == 1:
        return x
    size = dist.get_world_size()
    rows = torch.tensor([x.shape[0]], dtype=torch.long, device=x.device)
    counts = [torch.empty_like(rows) for _ in range(size)]
    dist.all_gather(counts, rows)
    lengths = [int(c) for c in counts]
    padded = x.new_zeros((max(lengths), *x.shape[1:]))
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in range(size)]
    dist.all_gather(parts, padded)
    return torch.cat([part[:n] for part, n in zip(parts, lengths, strict=True)])


@torch.no_grad()
def sync_indexed_rows(buffers: Iterable[Tensor], index: Tensor) -> None:
    """Give every rank the rows ``index`` of ``buffers`` that each rank has just updated.

    Each buffer is per-sample state (first dimension: dataset index) that this rank has updated
    at the rows ``index`` of its batch; afterwards every rank holds, at the union of the ranks'
    indices, the rows the ranks wrote, so the state is identical everywhere. A sample that
    several ranks saw in the same step (``DistributedSampler`` pads the last shard by repeating
    samples) gets the mean of their rows. Floating-point buffers only; a no-op when not
    distributed.

        sync_indexed_rows([loss.tau, loss.u, loss.tau_momentum], index)  # after the update
    """
    if not is_distributed() or dist.get_world_size() == 1:
        return
    every_index = all_gather_rows(index.to(torch.long))
    for buffer in buffers:
        if not buffer.is_floating_point():
            raise TypeError(f"sync_indexed_rows averages rows: got a {buffer.dtype} buffer")
        rows = all_gather_rows(buffer[index.to(buffer.device)])
        buffer.index_reduce_(0, every_index.to(buffer.device), rows, "mean", include_self=False)


def distributed_info_nce(
    z1: Tensor,
    z2: Tensor,
    temperature: float = 0.1,
    *,
    intra_view_negatives: bool = True,
    symmetric: bool = True,
    extra_negatives: Tensor | None = None,
    normalize: bool = True,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Tensor:
    """InfoNCE / NT-Xent of the local rows against the negatives of every rank. Scalar.

    Arguments as in :func:`shared.losses.tiled_info_nce`. Each rank passes its local (N, d) views
    (the same N on every rank); the keys of all ranks are gathered with :func:`gather_with_grad`
    and the loss is computed tile by tile, so no rank holds a similarity matrix. The local positive
    of row i is row ``rank * N + i`` of the other gathered view. ``extra_negatives`` are used as
    given on each rank (pass the same queue everywhere for the single-process equivalence).
    The mean over ranks of the returned losses equals ``info_nce`` on the concatenated batch and,
    after DDP's gradient averaging, so do the parameter gradients. Without a process group this is
    :func:`shared.losses.tiled_info_nce`.
    """
    product_dtype = product_dtype_for(z1, z2, extra_negatives)
    z1, z2, extra_negatives = prepare_views(z1, z2, temperature, extra_negatives, normalize)
    n, size, me = z1.shape[0], world_size(), rank()
    keys = torch.cat([gather_with_grad(z1), gather_with_grad(z2)])
    segments = []
    for view in (0, 1):
        base = view * size * n
        local = Segment(base + me * n, base + (me + 1) * n, view, view == 0 or symmetric)
        if me > 0:
            segments.append(Segment(base, local.start, view, False))
        segments.append(local)
        if me < size - 1:
            segments.append(Segment(local.stop, base + size * n, view, False))
    lse, tile_positive = tiled_anchor_logsumexp(
        keys,
        segments,
        temperature,
        intra_view_negatives=intra_view_negatives,
        extra_negatives=extra_negatives,
        block_size=block_size,
        max_sq_norm=1.0 if normalize else None,
        positive_offset=size * n,
        product_dtype=product_dtype,
    )
    local_positive = tile_positive[me * n : (me + 1) * n]
    return loss_from_lse(lse, local_positive, z1, z2, temperature, product_dtype)
