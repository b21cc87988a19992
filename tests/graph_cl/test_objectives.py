"""Any fitting core loss as GRACE's / gCooL's node contrast, chosen by ``objective:``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from graph_cl.config import GraphExperiment
from graph_cl.data import stochastic_block_model
from graph_cl.experiment import build_method
from graph_cl.two_view import NODE_CONTRAST_PROVIDES
from shared.config import load_config
from shared.errors import InputError
from shared.losses.registry import fitting_objectives
from shared.training import Trainer, TrainerConfig, seed_everything

TINY = [
    "gcool.encoder.hidden_dim=16", "gcool.encoder.out_dim=8", "gcool.encoder.proj_dim=8",
    "grace.encoder.hidden_dim=16", "grace.encoder.out_dim=8", "grace.encoder.proj_dim=8",
    "gcool.num_communities=3",
]  # fmt: skip
FITTING = fitting_objectives(NODE_CONTRAST_PROVIDES)


def graph():
    return stochastic_block_model(60, 3, 6.0, 1.0, 12, 0.5, seed=0)


def experiment(method: str, objective: str | None, *extra: str) -> GraphExperiment:
    chosen = [f"objective.name={objective}"] if objective else []
    return load_config(GraphExperiment, None, [f"method={method}", *TINY, *chosen, *extra])


def test_every_two_view_objective_fits_the_node_contrast():
    assert {"info_nce", "dcl", "dcl_w", "mochi", "isogclr", "cacr"} <= set(FITTING)
    assert "swav" not in FITTING and "symile" not in FITTING


@pytest.mark.parametrize("method", ["grace", "gcool"])
@pytest.mark.parametrize("objective", FITTING)
def test_two_steps_with_each_objective_are_finite_and_reach_the_encoder(method, objective):
    data = graph()
    seed_everything(0)
    model = build_method(experiment(method, objective), data)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(2):
        loss = model.training_step(data)["loss"]
        assert torch.isfinite(loss)
        optimizer.zero_grad()
        loss.backward()
        grads = [p.grad for p in model.encoders.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)
        optimizer.step()


def test_a_named_objective_changes_the_loss_and_the_default_stays_published():
    data = graph()
    losses = {}
    for objective in (None, "info_nce", "dcl"):
        seed_everything(0)
        model = build_method(experiment("gcool", objective), data)
        seed_everything(1)
        losses[objective] = float(model.training_step(data)["loss"].detach())
    assert losses["dcl"] != losses[None]
    assert model.node_objective is not None
    seed_everything(0)
    assert build_method(experiment("gcool", None), data).node_objective is None


def test_an_objective_that_cannot_fit_fails_at_config_time_naming_those_that_fit():
    with pytest.raises(InputError, match="objectives that fit 'grace': info_nce, tiled_info_nce"):
        build_method(experiment("grace", "swav"), graph())
    with pytest.raises(InputError, match="SCGC's neighbour contrast keeps its own loss"):
        build_method(experiment("scgc", "dcl"), graph())


def test_isogclr_state_resumes_on_the_identical_loss_curve(tmp_path: Path):
    data = graph()

    def fit(out: Path, epochs: int, resume: bool = False) -> list[float]:
        seed_everything(0)
        model = build_method(experiment("grace", "isogclr"), data)
        cfg = TrainerConfig(
            epochs=epochs, lr=1e-2, out_dir=str(out), progress=False, tensorboard=False,
            log_every=0, resume=resume,
        )  # fmt: skip
        return [row["loss"] for row in Trainer(cfg, model).fit([data]).history]

    full = fit(tmp_path / "full", 6)
    fit(tmp_path / "part", 3)
    assert fit(tmp_path / "part", 6, resume=True) == full
    state = torch.load(tmp_path / "part" / "last.pt", weights_only=True)["model"]
    assert any(key.startswith("node_objective.") for key in state)  # the per-node state is saved
