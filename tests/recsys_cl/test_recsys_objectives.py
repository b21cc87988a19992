"""Any fitting core loss as CL4SRec's / MCLRec's view contrast L_cl1, chosen by ``objective:``."""

from __future__ import annotations

import pytest
import torch

from recsys_cl.config import RecsysExperiment
from recsys_cl.experiment import build
from recsys_cl.mclrec import VIEW_CONTRAST_PROVIDES
from shared.config import load_config
from shared.errors import InputError
from shared.losses.registry import fitting_objectives

BASE = [
    "data.synthetic_users=80", "data.synthetic_items=40", "data.max_length=10",
    "model.max_length=10", "model.hidden_size=16", "model.inner_size=32", "batch_size=32",
]  # fmt: skip
FITTING = fitting_objectives(VIEW_CONTRAST_PROVIDES)


def experiment(*extra: str) -> RecsysExperiment:
    return load_config(RecsysExperiment, None, [*BASE, *extra])


def first_batch(exp: RecsysExperiment):
    built = build(exp)
    return built.model, next(iter(built.batches))


def test_the_view_contrast_takes_every_two_view_objective_without_indices():
    assert {"info_nce", "dcl", "dcl_w", "mochi", "cacr"} <= set(FITTING)
    assert "isogclr" not in FITTING  # its per-sample state needs sample indices


@pytest.mark.parametrize("objective", FITTING)
def test_two_steps_with_each_objective_are_finite_and_reach_the_encoder(objective):
    torch.manual_seed(0)
    model, batch = first_batch(experiment("method=cl4srec", f"objective.name={objective}"))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(2):
        cl1 = model.losses(batch)["cl1"]
        assert torch.isfinite(cl1)
        optimizer.zero_grad()
        cl1.backward()
        grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
        assert grads and any(g.abs().sum() > 0 for g in grads)
        optimizer.step()


def test_a_named_objective_changes_the_view_contrast_and_the_default_stays_published():
    values = {}
    for name in ("", "dcl"):
        chosen = [f"objective.name={name}"] if name else []
        model, batch = first_batch(experiment("method=cl4srec", *chosen))
        values[name] = float(model.losses(batch)["cl1"].detach())
        assert (model.view_objective is None) == (not name)
    assert values["dcl"] != values[""]


def test_objectives_that_cannot_work_fail_at_config_time():
    with pytest.raises(InputError, match="objectives that fit 'cl4srec/mclrec view contrast'"):
        build(experiment("method=cl4srec", "objective.name=isogclr"))
    with pytest.raises(InputError, match="this SASRec run has none"):
        build(experiment("method=sasrec", "objective.name=dcl"))
    with pytest.raises(InputError, match="DCCF's intent / graph contrasts"):
        build(experiment("method=dccf", "objective.name=dcl"))


def test_mclrec_with_lambda_zero_takes_the_objective_in_its_augmented_view_contrast():
    values = {}
    for name in ("", "dcl"):
        chosen = [f"objective.name={name}"] if name else []
        torch.manual_seed(0)
        model, batch = first_batch(experiment("method=mclrec", "mclrec.cl_weight=0.0", *chosen))
        torch.manual_seed(1)
        parts = model.losses(batch)
        assert "cl1" not in parts
        values[name] = float(parts["cl2"].detach())
    assert values["dcl"] != values[""]
