"""COMET's weight average under DDP: two gloo processes, the average updated by the trainer's
after-step hook (no manual optimisation), identical on both ranks."""

import os

import torch
import torch.multiprocessing as mp

from shared.training import Trainer, TrainerConfig, seed_everything
from tests.gloo import free_port, join_group, leave_group
from timeseries_cl.comet import COMET, EncoderConfig

STEPS = 3


def batches(rank: int) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(rank)
    return [
        {
            "x": torch.randn(8, 16, 2, generator=g),
            "patient": torch.arange(8) // 4,
            "trial": torch.arange(8) // 2,
        }
        for _ in range(STEPS)
    ]


def worker(rank: int, port: int, out_dir: str, result_dir: str) -> None:
    join_group(rank, 2, port)
    seed_everything(0)
    method = COMET(2, EncoderConfig(hidden_dims=8, output_dims=8, depth=1, dropout=0.0))
    cfg = TrainerConfig(
        epochs=1, lr=1e-2, out_dir=out_dir, progress=False, tensorboard=False, checkpoint_every=0
    )
    Trainer(cfg, method).fit(batches(rank))
    torch.save(
        {
            "averaged": {k: v.clone() for k, v in method.averaged.state_dict().items()},
            "encoder": {k: v.clone() for k, v in method.encoder.state_dict().items()},
        },
        os.path.join(result_dir, f"rank{rank}.pt"),
    )
    leave_group()


def test_comet_trains_under_ddp_with_its_weight_average(tmp_path):
    assert not getattr(COMET, "manual_optimization", False)
    mp.spawn(worker, args=(free_port(), str(tmp_path / "ddp"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    averaged = ranks[0]["averaged"]
    assert int(averaged["n_averaged"]) == STEPS + 1  # the initial weights and every step
    for name, value in averaged.items():
        assert torch.equal(value, ranks[1]["averaged"][name]), f"ranks diverged on {name}"
    moved = [
        not torch.equal(averaged[f"module.{name}"], value)
        for name, value in ranks[0]["encoder"].items()
        if f"module.{name}" in averaged and value.is_floating_point()
    ]
    assert moved and any(moved)  # the average lags the trained weights
