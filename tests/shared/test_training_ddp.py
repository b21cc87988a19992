"""The trainer under DDP: two gloo processes on CPU train exactly like one process on the union."""

import os

import torch
import torch.multiprocessing as mp
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from shared.training import Trainer, TrainerConfig, seed_everything
from tests.gloo import free_port, join_group, leave_group

N, D = 64, 5


class Regression(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, 1))

    def training_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        x, y = batch
        return {"loss": (self.net(x).squeeze(1) - y).pow(2).mean()}

    def embed(self, x: Tensor) -> Tensor:
        return self.net(x)


def dataset() -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=g)
    return TensorDataset(x, x.sum(dim=1).sin())


def train(out_dir: str, loader: DataLoader) -> dict[str, Tensor]:
    seed_everything(0)
    method = Regression()
    cfg = TrainerConfig(
        epochs=2,
        optimizer="sgd",
        lr=0.1,
        momentum=0.0,
        out_dir=out_dir,
        progress=False,
        tensorboard=False,
        checkpoint_every=0,
    )
    Trainer(cfg, method).fit(loader)
    return {k: v.detach().clone() for k, v in method.state_dict().items()}


def worker(rank: int, port: int, out_dir: str, result_dir: str) -> None:
    join_group(rank, 2, port)
    data = dataset()
    loader = DataLoader(data, batch_size=8, sampler=DistributedSampler(data, shuffle=False))
    state = train(out_dir, loader)
    torch.save(state, os.path.join(result_dir, f"rank{rank}.pt"))
    leave_group()


def test_ddp_matches_single_process_on_the_union(tmp_path):
    mp.spawn(worker, args=(free_port(), str(tmp_path / "ddp"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    # interleaved shards of 8 per rank == consecutive batches of 16 in one process
    single = train(str(tmp_path / "single"), DataLoader(dataset(), batch_size=16, shuffle=False))
    for name, value in single.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), f"ranks diverged on {name}"
        torch.testing.assert_close(ranks[0][name], value, rtol=1e-5, atol=1e-6)
    assert not (tmp_path / "ddp" / "last.pt").exists()  # checkpoint_every=0
    assert (tmp_path / "ddp" / "metrics.csv").is_file()  # rank 0 logs
