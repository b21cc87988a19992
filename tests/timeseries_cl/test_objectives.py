"""Any fitting core loss as the sample baseline's contrast, chosen by ``objective:``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from shared.config import load_config
from shared.errors import InputError
from shared.losses.registry import fitting_objectives
from shared.training import Trainer, TrainerConfig, seed_everything
from timeseries_cl.comet import SAMPLE_CONTRAST_PROVIDES
from timeseries_cl.config import TimeseriesExperiment
from timeseries_cl.experiment import build, hierarchical_batches

TINY = [
    "method=sample", "encoder.depth=1", "encoder.hidden_dims=8", "encoder.output_dims=8",
    "data.synthetic_patients=6", "data.synthetic_trials=2", "batch_size=16",
]  # fmt: skip
FITTING = fitting_objectives(SAMPLE_CONTRAST_PROVIDES)


def experiment(*extra: str) -> TimeseriesExperiment:
    return load_config(TimeseriesExperiment, None, [*TINY, *extra])


@pytest.mark.parametrize("objective", FITTING)
def test_two_steps_with_each_objective_are_finite_and_reach_the_encoder(objective):
    exp = experiment(f"objective.name={objective}")
    (train, _, _), method = build(exp)
    batch = next(iter(hierarchical_batches(train, exp.batch_size, exp.trials_per_patient)))
    optimizer = torch.optim.Adam(method.encoder.parameters(), lr=1e-2)
    for _ in range(2):
        loss = method.training_step(batch)["loss"]
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        assert any(
            p.grad.abs().sum() > 0 for p in method.encoder.parameters() if p.grad is not None
        )
        optimizer.step()
        method.on_after_optimizer_step(0)


def test_objectives_that_cannot_work_fail_at_config_time():
    with pytest.raises(InputError, match="objectives that fit 'sample'"):
        build(experiment("objective.name=swav"))
    with pytest.raises(InputError, match="COMET's four levels keep their published losses"):
        build(experiment("method=comet", "objective.name=dcl"))


def test_isogclr_state_resumes_on_the_identical_loss_curve(tmp_path: Path):
    def fit(out: Path, epochs: int, resume: bool = False) -> list[float]:
        exp = experiment("objective.name=isogclr")
        (train, _, _), method = build(exp)
        seed_everything(0)
        cfg = TrainerConfig(
            epochs=epochs, lr=1e-2, out_dir=str(out), progress=False, tensorboard=False,
            log_every=0, resume=resume,
        )  # fmt: skip
        batches = hierarchical_batches(train, exp.batch_size, exp.trials_per_patient)
        return [row["loss"] for row in Trainer(cfg, method).fit(batches).history]

    full = fit(tmp_path / "full", 4)
    fit(tmp_path / "part", 2)
    assert fit(tmp_path / "part", 4, resume=True) == full
