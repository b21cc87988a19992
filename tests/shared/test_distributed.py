"""Two gloo processes on CPU: distributed InfoNCE and its gradients equal single-process ones."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from shared import distributed
from shared.losses import info_nce, tiled_info_nce
from tests.gloo import free_port, join_group, leave_group

WORLD = 2
N, D_IN, D = 5, 6, 4  # 5 local rows, block_size 2: ragged tiles on every rank


def _global_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(rows, D, generator=g, dtype=torch.float64) for rows in (10, 10, 3))


def _check_loss_and_embedding_grads(rank: int) -> None:
    options = itertools.product([True, False], repeat=4)  # intra, symmetric, extra, normalize
    for seed, (intra, symmetric, extra, normalize) in enumerate(options):
        x1, x2, queue = _global_batch(seed)
        kwargs = dict(
            intra_view_negatives=intra,
            symmetric=symmetric,
            extra_negatives=queue if extra else None,
            normalize=normalize,
        )
        local = slice(rank * N, (rank + 1) * N)
        z1 = x1[local].clone().requires_grad_()
        z2 = x2[local].clone().requires_grad_()
        loss = distributed.distributed_info_nce(z1, z2, 0.2, block_size=2, **kwargs)
        loss.backward()

        r1, r2 = x1.clone().requires_grad_(), x2.clone().requires_grad_()
        reference = info_nce(r1, r2, 0.2, **kwargs)
        reference.backward()

        losses = [torch.empty_like(loss) for _ in range(WORLD)]
        dist.all_gather(losses, loss.detach())
        case = f"intra={intra} symmetric={symmetric} extra={extra} normalize={normalize}"
        mean = torch.stack(losses).mean()
        torch.testing.assert_close(mean, reference.detach(), msg=lambda m, c=case: f"{c}: {m}")
        # The gather backward sums over ranks; DDP's averaging divides by the world size.
        for grad, ref in ((z1.grad, r1.grad), (z2.grad, r2.grad)):
            torch.testing.assert_close(
                grad / WORLD, ref[local], msg=lambda m, c=case: f"{c} grad: {m}"
            )


def _check_ddp_parameter_grads(rank: int) -> None:
    torch.manual_seed(0)
    model = nn.Linear(D_IN, D).double()
    reference_model = nn.Linear(D_IN, D).double()
    reference_model.load_state_dict(model.state_dict())
    ddp = nn.parallel.DistributedDataParallel(model)
    g = torch.Generator().manual_seed(123)
    x1, x2 = torch.randn(2, WORLD * N, D_IN, generator=g, dtype=torch.float64)
    local = slice(rank * N, (rank + 1) * N)

    z1, z2 = ddp(torch.cat([x1[local], x2[local]])).split(N)
    distributed.distributed_info_nce(z1, z2, 0.1, block_size=3).backward()  # DDP averages here

    r1, r2 = reference_model(torch.cat([x1, x2])).split(WORLD * N)
    info_nce(r1, r2, 0.1).backward()
    for param, ref in zip(model.parameters(), reference_model.parameters(), strict=True):
        torch.testing.assert_close(param.grad, ref.grad)


def _check_gather_with_grad(rank: int) -> None:
    x = torch.full((2, 3), float(rank + 1), dtype=torch.float64, requires_grad=True)
    gathered = distributed.gather_with_grad(x)
    expected = torch.cat([torch.full((2, 3), float(r + 1), dtype=torch.float64) for r in range(2)])
    torch.testing.assert_close(gathered.detach(), expected)
    # Rank r weights row block k by (r + 1) * (k + 1): rank k's gradient is (k + 1) * sum_r (r + 1).
    weights = torch.cat([torch.full((2, 3), (rank + 1.0) * (k + 1)) for k in range(WORLD)])
    (gathered * weights.double()).sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, (rank + 1.0) * 3))

    with pytest.raises(ValueError, match="same shape on every rank"):
        distributed.gather_with_grad(torch.zeros(2 + rank, 3))


def _worker(rank: int, port: int) -> None:
    join_group(rank, WORLD, port)
    assert dist.get_backend() == "gloo"
    assert distributed.is_distributed()
    assert (distributed.rank(), distributed.world_size()) == (rank, WORLD)
    assert distributed.init_from_env()  # already initialised: a no-op
    _check_gather_with_grad(rank)
    _check_loss_and_embedding_grads(rank)
    _check_ddp_parameter_grads(rank)
    leave_group()


def test_two_gloo_ranks_match_single_process():
    mp.spawn(_worker, args=(free_port(),), nprocs=WORLD, join=True)


def test_single_process_fallbacks(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not distributed.init_from_env()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert not distributed.init_from_env()
    assert not distributed.is_distributed()
    assert (distributed.rank(), distributed.world_size()) == (0, 1)
    x = torch.randn(3, 2)
    assert distributed.gather_with_grad(x) is x
    z1, z2 = torch.randn(2, 7, 3, dtype=torch.float64)
    torch.testing.assert_close(
        distributed.distributed_info_nce(z1, z2, intra_view_negatives=False, block_size=2),
        tiled_info_nce(z1, z2, intra_view_negatives=False, block_size=2),
    )


def test_single_process_bf16_matches_tiled_bf16_products():
    """Without a process group, bf16 views take tiled_info_nce's path exactly: bf16 tile products,
    fp32 LSE and accumulation (value and gradients bit-identical)."""
    g = torch.Generator().manual_seed(0)
    x1, x2 = torch.randn(2, 40, 16, generator=g).to(torch.bfloat16)
    grads = []
    for loss_fn in (distributed.distributed_info_nce, tiled_info_nce):
        z1, z2 = x1.clone().requires_grad_(), x2.clone().requires_grad_()
        loss = loss_fn(z1, z2, 0.05, block_size=16)
        loss.backward()
        grads.append((loss.detach(), z1.grad, z2.grad))
    for ours, reference in zip(*grads, strict=True):
        assert torch.equal(ours, reference)


def test_fp32_value_at_low_temperature_is_as_accurate_as_dense():
    """The loss is differenced per row (LSE_a - s_a,pos), so at t = 0.01, where both terms are
    near 1/t = 100, the fp32 value stays within twice the dense loss's error against fp64."""
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(4, 32, generator=g, dtype=torch.float64)
    z1 = centres.repeat(64, 1) + 0.05 * torch.randn(256, 32, generator=g, dtype=torch.float64)
    z2 = z1 + 0.01 * torch.randn(256, 32, generator=g, dtype=torch.float64)
    exact = info_nce(z1, z2, 0.01)
    ours = distributed.distributed_info_nce(z1.float(), z2.float(), 0.01, block_size=64)
    dense = info_nce(z1.float(), z2.float(), 0.01)
    assert abs(ours.double() - exact) <= 2 * max(abs(dense.double() - exact).item(), 1e-7)


def test_init_from_env_requires_torchrun_variables(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="RANK, MASTER_ADDR, MASTER_PORT not set"):
        distributed.init_from_env()
