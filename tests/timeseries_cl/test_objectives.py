"""Any fitting core loss as the sample baseline's contrast and as COMET's sample and observation
levels' contrast, chosen by ``objective:``."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from shared.cli import main
from shared.config import load_config
from shared.errors import InputError
from shared.losses.registry import fitting_objectives
from shared.training import Trainer, TrainerConfig, seed_everything
from timeseries_cl import levels
from timeseries_cl.comet import SAMPLE_CONTRAST_PROVIDES, comet_objectives
from timeseries_cl.config import TimeseriesExperiment
from timeseries_cl.experiment import build, hierarchical_batches

TINY = [
    "method=sample", "encoder.depth=1", "encoder.hidden_dims=8", "encoder.output_dims=8",
    "data.synthetic_patients=6", "data.synthetic_trials=2", "batch_size=16",
]  # fmt: skip
FITTING = fitting_objectives(SAMPLE_CONTRAST_PROVIDES)
CASES = [("sample", name) for name in FITTING] + [("comet", name) for name in comet_objectives()]


def experiment(*extra: str) -> TimeseriesExperiment:
    return load_config(TimeseriesExperiment, None, [*TINY, *extra])


def test_comet_fits_the_stateless_two_view_objectives() -> None:
    assert comet_objectives() == [
        "info_nce", "tiled_info_nce", "dcl", "dcl_w", "cacr", "mv_info_nce", "mv_dhel",
    ]  # fmt: skip


@pytest.mark.parametrize(("name", "objective"), CASES)
def test_two_steps_with_each_objective_are_finite_and_reach_the_encoder(name, objective):
    exp = experiment(f"method={name}", f"objective.name={objective}")
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
    for name in ("swav", "isogclr", "mochi", "supcon", "symile", "weighted_info_nce"):
        with pytest.raises(InputError, match="objectives that fit 'comet': info_nce, tiled_info"):
            build(experiment("method=comet", f"objective.name={name}"))


def test_an_objective_changes_only_comets_sample_and_observation_levels() -> None:
    losses = []
    for extra in ([], ["objective.name=dcl"]):
        (train, _, _), method = build(experiment("method=comet", *extra))
        batch = next(iter(hierarchical_batches(train, 16, 2)))
        torch.manual_seed(0)
        losses.append(method.training_step(batch))
    default, dcl = losses
    for name in ("patient", "trial"):
        torch.testing.assert_close(default[name], dcl[name])
    for name in ("sample", "observation", "loss"):
        assert abs(default[name].item() - dcl[name].item()) > 1e-3, name


def test_objective_dcl_changes_the_logged_comet_loss(tmp_path: Path) -> None:
    def logged_loss(name: str, *extra: str) -> float:
        out = tmp_path / name
        tiny = [*TINY, "trainer.epochs=1", "eval.fractions=[1.0]", "eval.finetune_epochs=1"]
        args = ["-q", "timeseries", "pretrain", *tiny, "method=comet", f"trainer.out_dir={out}"]
        assert main([*args, *extra]) == 0
        with (out / "metrics.csv").open() as f:
            rows = csv.DictReader(f)
            return next(
                float(r["value"]) for r in rows if (r["split"], r["name"]) == ("epoch", "loss")
            )

    assert abs(logged_loss("dcl", "objective.name=dcl") - logged_loss("default")) > 1e-3


def test_comet_levels_average_the_objective_over_timestamps_and_samples() -> None:
    """Naive reference: the objective on every timestamp's / sample's problem, at every
    max-pooled resolution, averaged."""
    from shared.losses.registry import build_objective

    dcl = build_objective({"name": "dcl", "temperature": 0.5})
    torch.manual_seed(3)
    z1, z2 = torch.randn(6, 8, 4), torch.randn(6, 8, 4)
    sample_terms, observation_terms = [], []
    a, b = z1, z2
    while a.shape[1] > 1:
        sample_terms.append(sum(dcl(a[:, t], b[:, t]) for t in range(a.shape[1])) / a.shape[1])
        observation_terms.append(sum(dcl(a[i], b[i]) for i in range(6)) / 6)
        a = torch.nn.functional.max_pool1d(a.transpose(1, 2), 2).transpose(1, 2)
        b = torch.nn.functional.max_pool1d(b.transpose(1, 2), 2).transpose(1, 2)
    sample, observation = levels.hierarchical_levels(z1, z2, dcl)
    torch.testing.assert_close(sample, sum(sample_terms) / 3)
    torch.testing.assert_close(observation, sum(observation_terms) / 3)


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
