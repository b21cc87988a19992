"""A two-process gloo DDP run stopped after some epochs and resumed with ``trainer.resume``
continues on the loss curve of an uninterrupted run: the same metrics.csv rows (per-step loss
and learning rate, epoch losses) and the same final weights on both ranks, bit for bit.

The run (SGD with momentum, a cosine schedule with warm-up, a shuffling ``DistributedSampler``)
stops on both ranks at the end of epoch ``STOP`` (an exception in ``on_epoch_end``, after that
epoch's step rows were logged but before its checkpoint), so the resume starts from epoch
``STOP - 1``'s ``last.pt`` and must drop the logged rows of the lost epoch. (SIGKILL at any moment
is covered by ``test_kill_resume.py`` in one process.)

With dropout each rank draws its own masks, so the resume must give each rank its own
generator states: ``last.pt`` keeps every rank's (``rank_rngs``) and each rank restores its entry.
Before that, every rank restored rank 0's state and the dropout run left the curve.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import Tensor, nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from shared.training import Trainer, TrainerConfig
from tests.gloo import free_port, join_group, leave_group
from tests.shared.test_kill_resume import rows

N, D, EPOCHS, STOP = 64, 5, 4, 3
DROPOUTS = (0.0, 0.3)


class Stop(Exception):
    """Ends a run at the end of an epoch, before that epoch's checkpoint is written."""


class Regression(nn.Module):
    """A small MLP regression that stops its run at the end of epoch ``stop_at`` (0: never)."""

    def __init__(self, dropout: float, stop_at: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(D, 16), nn.Tanh(), nn.Dropout(dropout), nn.Linear(16, 1))
        self.stop_at = stop_at

    def training_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        x, y = batch
        return {"loss": (self.net(x).squeeze(1) - y).pow(2).mean()}

    def on_epoch_end(self, epoch: int) -> None:
        if epoch == self.stop_at:
            raise Stop


def train(out_dir: Path, dropout: float, stop_at: int = 0, resume: bool = False) -> None:
    """One run of the current process group's rank; its final weights go to final_rank<r>.pt."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(N, D, generator=g)
    data = TensorDataset(x, x.sum(dim=1).sin())
    loader = DataLoader(data, batch_size=8, sampler=DistributedSampler(data, shuffle=True, seed=0))
    torch.manual_seed(0)  # the same initial weights on both ranks and in every run
    method = Regression(dropout, stop_at)
    cfg = TrainerConfig(
        epochs=EPOCHS,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        scheduler="cosine",
        warmup_epochs=1,
        out_dir=str(out_dir),
        progress=False,
        tensorboard=False,
        log_every=1,
        resume=resume,
    )
    Trainer(cfg, method).fit(loader)
    torch.save(method.state_dict(), out_dir / f"final_rank{dist.get_rank()}.pt")


def worker(rank: int, port: int, root: str) -> None:
    """For each dropout: the uninterrupted run, the stopped run, and its resume (one process
    group for all six runs: starting two processes costs more than the training)."""
    join_group(rank, 2, port)
    for dropout in DROPOUTS:
        folder = Path(root) / f"dropout{dropout}"
        train(folder / "full", dropout)
        try:
            train(folder / "stopped", dropout, stop_at=STOP)
        except Stop:
            pass
        if rank == 0:  # what the stop left, before the resume changes it
            state = torch.load(folder / "stopped" / "last.pt", weights_only=True)
            lost = [r for r in rows(folder / "stopped") if r["epoch"] == str(STOP)]
            torch.save({"epoch": state["epoch"], "lost_rows": len(lost)}, folder / "stop.pt")
        dist.barrier()
        train(folder / "stopped", dropout, resume=True)
    leave_group()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ddp_resume")
    mp.spawn(worker, args=(free_port(), str(root)), nprocs=2, join=True)
    return root


def _check_resume_matches(folder: Path) -> None:
    full, run = folder / "full", folder / "stopped"
    stop = torch.load(folder / "stop.pt", weights_only=True)
    assert stop["epoch"] == STOP - 1 and stop["lost_rows"] > 0
    assert rows(run) == rows(full)
    reference = torch.load(full / "final_rank0.pt", weights_only=True)
    for rank in range(2):
        final = torch.load(run / f"final_rank{rank}.pt", weights_only=True)
        for name, value in reference.items():
            assert torch.equal(final[name], value), f"rank {rank}: {name}"


def test_resumed_ddp_run_continues_on_the_uninterrupted_curve(runs: Path) -> None:
    _check_resume_matches(runs / "dropout0.0")


def test_resumed_ddp_run_with_dropout_continues_on_the_uninterrupted_curve(runs: Path) -> None:
    _check_resume_matches(runs / "dropout0.3")
