"""Stateful objectives under DDP: two gloo processes on CPU keep iSogCLR's per-sample state and
MoCHi's queue identical on every rank, equal to one process.

The equality that holds. Under DDP each rank computes the objective on its own batch (its own
negatives) and DDP averages the gradients. The single-process reference therefore runs the
objective on each rank's shard of the union batch in turn and averages the two losses: the same
parameter gradients, and, since the shards' indices are disjoint, the same iSogCLR updates. For
MoCHi with mixing switched off (num_mix = num_query_mix = 0) each query's loss needs only its
key and the queue, so the reference is simply MoCHi on the concatenated batch, whose keys (rank
0's, then rank 1's) are enqueued in that order. Both sides start from the same seed, so the
parameters, the iSogCLR buffers and the MoCHi queue after four steps must agree.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler, Subset, TensorDataset

from shared import distributed
from shared.losses.registry import build_objective
from shared.training import Trainer, TrainerConfig, seed_everything
from tests.gloo import free_port, join_group, leave_group

WORLD, N, D_IN, D, LOCAL = 2, 32, 6, 4, 4
ISOGCLR = {"name": "isogclr", "eta": 0.5}  # a large step so the temperatures visibly move
MOCHI = {"name": "mochi", "num_hard": 2, "num_mix": 0, "num_query_mix": 0, "queue_size": 12}


class TwoViews(nn.Module):
    """A linear encoder of two fixed views; with ``shards`` the union batch is split into the
    ranks' interleaved shards (DistributedSampler's order) and their losses averaged."""

    def __init__(self, objective: dict, shards: int = 1) -> None:
        super().__init__()
        self.net = nn.Linear(D_IN, D)
        self.objective = build_objective(objective, dim=D, num_samples=N)
        self.shards = shards

    def training_step(self, batch: tuple[Tensor, Tensor, Tensor]) -> dict[str, Tensor]:
        x1, x2, index = batch
        z1, z2 = self.net(x1), self.net(x2)
        losses = [
            self.objective(
                z1[s :: self.shards], z2[s :: self.shards], index=index[s :: self.shards]
            )
            for s in range(self.shards)
        ]
        return {"loss": torch.stack(losses).mean()}

    def embed(self, x: Tensor) -> Tensor:
        return self.net(x)


def dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D_IN, generator=g)
    return TensorDataset(x, x + 0.3 * torch.randn(N, D_IN, generator=g), torch.arange(N))


def train(method_args: tuple[dict, int], loader: DataLoader, out_dir: Path) -> dict[str, Tensor]:
    seed_everything(0)
    method = TwoViews(*method_args)
    cfg = TrainerConfig(
        epochs=1,
        optimizer="sgd",
        lr=0.5,
        momentum=0.0,
        out_dir=str(out_dir),
        progress=False,
        tensorboard=False,
        checkpoint_every=0,
    )
    Trainer(cfg, method).fit(loader)
    return {k: v.detach().clone() for k, v in method.state_dict().items()}


def worker(rank: int, port: int, result_dir: str) -> None:
    join_group(rank, WORLD, port)
    results: dict[str, object] = {}
    # ragged gather: rank r holds r + 1 rows
    results["gathered"] = distributed.all_gather_rows(torch.full((rank + 1, 2), float(rank)))
    # a row both ranks wrote gets their mean; rows only one rank wrote keep that rank's value
    state = torch.zeros(6)
    index = torch.tensor([0, 2 + rank])
    state[index] = torch.tensor([10.0 * (rank + 1), 5.0 + rank])
    distributed.sync_indexed_rows([state], index)
    results["synced"] = state
    data = dataset()
    for name, objective in (("isogclr", ISOGCLR), ("mochi", MOCHI)):
        sampler: DistributedSampler = DistributedSampler(data, shuffle=False)
        loader = DataLoader(data, batch_size=LOCAL, sampler=sampler)
        results[name] = train((objective, 1), loader, Path(result_dir) / name)
    torch.save(results, Path(result_dir) / f"rank{rank}.pt")
    leave_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(worker, args=(free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def rank_order() -> list[int]:
    """The union batches in rank order: rank 0's shard, then rank 1's (interleaved sampler)."""
    shard_order = [*range(0, WORLD * LOCAL, WORLD), *range(1, WORLD * LOCAL, WORLD)]
    return [i + step * WORLD * LOCAL for step in range(N // (WORLD * LOCAL)) for i in shard_order]


def assert_same_state(ranks: list[dict], name: str, single: dict[str, Tensor]) -> None:
    for key, value in single.items():
        assert torch.equal(ranks[0][name][key], ranks[1][name][key]), f"ranks differ on {key}"
        torch.testing.assert_close(ranks[0][name][key], value, rtol=1e-5, atol=1e-6)


def test_all_gather_rows_and_sync_indexed_rows(ranks: list[dict]) -> None:
    for result in ranks:
        torch.testing.assert_close(
            result["gathered"], torch.tensor([[0.0] * 2, [1.0] * 2, [1.0] * 2])
        )
        torch.testing.assert_close(result["synced"], torch.tensor([15.0, 0, 5, 6, 0, 0]))


def test_isogclr_state_equals_one_process_over_the_shards(
    ranks: list[dict], tmp_path: Path
) -> None:
    # rows s::2 of a batch in dataset order are rank s's shard of it
    single = train((ISOGCLR, WORLD), DataLoader(dataset(), batch_size=WORLD * LOCAL), tmp_path)
    assert (single["objective.loss.u"] > 0).all(), "every sample was seen, so every u_i is set"
    assert not torch.equal(single["objective.loss.tau"], torch.full((N,), 0.1))
    assert_same_state(ranks, "isogclr", single)


def test_mochi_queue_equals_one_process_on_the_concatenated_batch(
    ranks: list[dict], tmp_path: Path
) -> None:
    union = DataLoader(Subset(dataset(), rank_order()), batch_size=WORLD * LOCAL)
    single = train((MOCHI, 1), union, tmp_path)
    assert_same_state(ranks, "mochi", single)
    assert int(single["objective.queue_ptr"]) == (N % 12)
