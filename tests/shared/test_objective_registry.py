"""The objective registry: every core loss by name, checked against calling the loss directly."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import shared.losses as losses
from shared.config import load_config
from shared.errors import InputError
from shared.losses import (
    MoCHiQueue,
    build_objective,
    check_fits,
    describe_objectives,
    fitting_objectives,
    format_objectives_table,
    objective_names,
)
from shared.losses.dcl import DCL
from shared.losses.registry import _Pair

N, DIM, NUM_SAMPLES = 8, 16, 32
NAMES = [
    "info_nce",
    "tiled_info_nce",
    "dcl",
    "dcl_w",
    "mochi",
    "isogclr",
    "cacr",
    "mv_info_nce",
    "mv_dhel",
    "swav",
    "supcon",
    "weighted_info_nce",
    "symile",
]
TWO_VIEW_METHOD = {"two_views", "index"}
FIT_TWO_VIEWS = [
    "info_nce",
    "tiled_info_nce",
    "dcl",
    "dcl_w",
    "mochi",
    "isogclr",
    "cacr",
    "mv_info_nce",
    "mv_dhel",
]
DESCRIBED = {d["name"]: d for d in describe_objectives()}


def _build(name: str, dtype: torch.dtype = torch.float32, **keys: Any) -> nn.Module:
    objective = build_objective({"name": name, **keys}, dim=DIM, num_samples=NUM_SAMPLES)
    return objective.to(dtype)


def _inputs(
    name: str, seed: int, dtype: torch.dtype = torch.float32
) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    """Random inputs of the kind ``name`` consumes: (tensors needing grad, keyword tensors)."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=gen, dtype=dtype).requires_grad_()

    consumes = set(DESCRIBED[name]["consumes"])
    if consumes == {"two_views"}:
        index = torch.randperm(NUM_SAMPLES, generator=gen)[:N]
        return [rand(N, DIM), rand(N, DIM)], {"index": index}
    if consumes == {"pos_weights"}:
        pos_weight = (torch.rand(N, N + 3, generator=gen) < 0.3).to(dtype)
        pos_weight[:, 0] = 1.0
        return [rand(N, DIM), rand(N + 3, DIM)], {"pos_weight": pos_weight}
    views = [rand(N, DIM) for _ in range(3)]
    if "labels" in consumes:
        return views, {"labels": torch.randint(3, (N,), generator=gen)}
    return views, {}


def _call(objective: nn.Module, tensors: list[torch.Tensor], kwargs: dict) -> torch.Tensor:
    return objective(*tensors, **kwargs)


def test_the_registry_lists_every_objective_in_order() -> None:
    assert objective_names() == NAMES
    assert list(DESCRIBED) == NAMES


def test_every_loss_module_of_shared_losses_is_registered() -> None:
    """Adding a loss module to shared.losses without registering it fails here."""
    exported = {
        obj
        for name in losses.__all__
        if inspect.isclass(obj := getattr(losses, name))
        and issubclass(obj, nn.Module)
        and obj is not MoCHiQueue
    }
    built = {type(m) for name in NAMES for m in _build(name).modules()}
    assert exported - built == set()


@pytest.mark.parametrize("name", NAMES)
def test_builds_with_defaults_and_trains(name: str) -> None:
    torch.manual_seed(0)
    objective = _build(name)
    tensors, kwargs = _inputs(name, seed=1)
    loss = _call(objective, tensors, kwargs)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    for x in [*tensors, *objective.parameters()]:
        assert x.grad is not None and torch.isfinite(x.grad).all()
        assert x.grad.abs().sum() > 0


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1)


def _direct(name: str, objective: nn.Module, tensors: list, kwargs: dict) -> torch.Tensor:
    """The loss function called directly (its own defaults), on the objective's current state."""
    if name in ("info_nce", "tiled_info_nce", "dcl", "dcl_w"):
        return getattr(losses, name)(*tensors)
    if name == "mochi":
        return losses.mochi(*tensors, objective.queue.clone())
    if name == "isogclr":
        index = kwargs["index"]
        state = objective.loss
        return losses.isogclr(*tensors, state.tau[index].clone(), state.u[index].clone()).loss
    if name in ("cacr", "mv_info_nce", "mv_dhel"):
        return getattr(losses, name)(torch.stack(tensors))
    if name == "swav":
        prototypes = objective.loss.prototypes.weight
        return losses.swav(_unit(torch.stack(tensors)) @ _unit(prototypes).T)
    if name == "supcon":
        return losses.supcon(torch.stack(tensors, dim=1), kwargs["labels"])
    if name == "weighted_info_nce":
        return losses.weighted_info_nce(*tensors, kwargs["pos_weight"])
    assert name == "symile"
    # the module keeps its scale as exp(a float32 log), so compare at the scale it holds
    return losses.symile(tensors, objective.loss.log_logit_scale.exp())


@pytest.mark.parametrize("name", NAMES)
def test_built_with_defaults_equals_the_loss_function(name: str) -> None:
    torch.manual_seed(0)
    objective = _build(name, torch.float64)
    tensors, kwargs = _inputs(name, seed=2, dtype=torch.float64)
    torch.manual_seed(5)  # MoCHi's mixing and Symile's shuffles draw from the global generator
    expected = _direct(name, objective, tensors, kwargs)
    torch.manual_seed(5)
    got = _call(objective, tensors, kwargs)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


# one non-default value per objective whose direct call takes the same keyword
OVERRIDES: dict[str, dict[str, Any]] = {
    "info_nce": {"temperature": 0.5, "intra_view_negatives": False},
    "tiled_info_nce": {"temperature": 0.5, "block_size": 3},
    "dcl": {"temperature": 0.3},
    "dcl_w": {"sigma": 0.2},
    "cacr": {"tau_pos": 0.5, "beta": 2},
    "mv_info_nce": {"temperature": 0.3},
    "mv_dhel": {"temperature": 0.3},
    "supcon": {"temperature": 0.2},
    "weighted_info_nce": {"temperature": 0.3},
}


@pytest.mark.parametrize("name", list(OVERRIDES))
def test_hyperparameters_reach_the_loss(name: str) -> None:
    keys = OVERRIDES[name]
    objective = _build(name, torch.float64, **keys)
    tensors, kwargs = _inputs(name, seed=3, dtype=torch.float64)
    fn = getattr(losses, name)
    if name in ("cacr", "mv_info_nce", "mv_dhel"):
        expected = fn(torch.stack(tensors), **keys)
    elif name == "supcon":
        expected = fn(torch.stack(tensors, dim=1), kwargs["labels"], **keys)
    elif name == "weighted_info_nce":
        expected = fn(*tensors, kwargs["pos_weight"], **keys)
    else:
        expected = fn(*tensors, **keys)
    torch.testing.assert_close(_call(objective, tensors, kwargs), expected, rtol=0, atol=1e-12)
    assert not torch.allclose(expected, _direct(name, objective, tensors, kwargs))


def test_stateful_hyperparameters_reach_their_modules() -> None:
    mochi = _build("mochi", temperature=0.3, num_hard=5, num_mix=2, queue_size=40)
    assert (mochi.loss.temperature, mochi.loss.num_hard, mochi.loss.num_mix) == (0.3, 5, 2)
    assert mochi.queue.shape == (40, DIM)
    isogclr = _build("isogclr", tau_init=0.2, eta=0.05)
    assert torch.equal(isogclr.loss.tau, torch.full((NUM_SAMPLES,), 0.2))
    assert isogclr.loss.eta == 0.05
    swav = _build("swav", n_prototypes=7, epsilon=0.1)
    assert swav.loss.prototypes.weight.shape == (7, DIM) and swav.loss.epsilon == 0.1
    symile = _build("symile", negative_sampling="n_squared", learnable_scale=False)
    assert symile.loss.negative_sampling == "n_squared"
    assert list(symile.parameters()) == []


def test_defaults_are_the_losses_own() -> None:
    """The described defaults are the module constructors' defaults (plus MoCHi's queue size and
    SwAV's prototype count, which the constructors leave to the registry)."""
    for name, module in [("dcl_w", losses.DCLW), ("isogclr", losses.ISogCLR)]:
        signature = inspect.signature(module.__init__).parameters
        for key, default in DESCRIBED[name]["hyperparameters"].items():
            assert signature[key].default == default
    assert DESCRIBED["mochi"]["hyperparameters"]["queue_size"] == (
        inspect.signature(MoCHiQueue.__init__).parameters["queue_size"].default
    )
    assert DESCRIBED["swav"]["hyperparameters"]["n_prototypes"] == 3000


@pytest.mark.parametrize("name", FIT_TWO_VIEWS)
def test_two_view_objectives_share_one_call(name: str) -> None:
    """A two-view method swaps any of these without branching: objective(z1, z2, index=...)."""
    objective = _build(name)
    tensors, kwargs = _inputs("info_nce", seed=4)
    loss = objective(tensors[0], tensors[1], index=kwargs["index"])
    assert torch.isfinite(loss)


def test_unknown_name_lists_the_valid_names() -> None:
    with pytest.raises(InputError, match="unknown objective 'infonce'") as err:
        build_objective({"name": "infonce"})
    assert all(name in str(err.value) for name in NAMES)
    with pytest.raises(InputError, match="has no 'name'; valid names: info_nce, tiled_info_nce"):
        build_objective({})
    with pytest.raises(
        InputError, match=r"objective.temperature set without objective.name: .* objective.name="
    ):
        build_objective({"temperature": 0.1})
    with pytest.raises(InputError, match="must be a mapping"):
        build_objective("dcl")  # type: ignore[arg-type]


def test_unknown_key_lists_the_valid_keys_with_defaults() -> None:
    with pytest.raises(InputError) as err:
        build_objective({"name": "dcl_w", "temprature": 0.2})
    assert str(err.value) == (
        "objective 'dcl_w': unknown key 'temprature' (did you mean 'temperature'?); "
        "valid keys: temperature=0.1, sigma=0.5, normalize=True"
    )


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"temperature": "hot"}, "objective.temperature: expected a number, got 'hot'"),
        ({"normalize": 1}, "objective.normalize: expected true/false, got 1"),
        ({"block_size": 2.5}, "objective.block_size: expected an integer, got 2.5"),
    ],
)
def test_wrongly_typed_key_names_it_and_lists_the_keys(keys: dict, problem: str) -> None:
    with pytest.raises(InputError) as err:
        build_objective({"name": "tiled_info_nce", **keys})
    assert str(err.value) == (
        f"objective 'tiled_info_nce': {problem}; valid keys: temperature=0.1, "
        "intra_view_negatives=True, symmetric=True, normalize=True, block_size=384, "
        "cache_bytes=1073741824"
    )


def test_literal_and_value_errors_are_input_errors() -> None:
    with pytest.raises(InputError, match="negative_sampling: 'all' is not one of 'n', 'n_squared'"):
        build_objective({"name": "symile", "negative_sampling": "all"})
    with pytest.raises(InputError, match="objective 'dcl': temperature must be"):
        build_objective({"name": "dcl", "temperature": -1})
    with pytest.raises(InputError, match=r"queue_size \(10\) must be >= num_hard \(1024\)"):
        build_objective({"name": "mochi", "queue_size": 10}, dim=DIM)
    assert build_objective({"name": "dcl", "temperature": 1}).loss.temperature == 1.0


def test_missing_method_context_is_named() -> None:
    with pytest.raises(ValueError, match=r"objective 'mochi' needs dim= from the method"):
        build_objective({"name": "mochi"})
    with pytest.raises(ValueError, match=r"objective 'isogclr' needs num_samples="):
        build_objective({"name": "isogclr"}, dim=DIM)


def test_isogclr_without_indices_says_what_to_pass() -> None:
    tensors, _ = _inputs("isogclr", seed=0)
    with pytest.raises(ValueError, match=r"pass the batch's dataset indices"):
        _build("isogclr")(*tensors)


def test_check_fits_names_the_objectives_that_fit() -> None:
    with pytest.raises(InputError) as err:
        check_fits({"name": "swav", "n_prototypes": 10}, TWO_VIEW_METHOD, method="grace")
    assert str(err.value) == (
        "objective 'swav' does not fit method 'grace': it needs multi_view + prototypes, "
        "'grace' provides index + two_views; objectives that fit 'grace': "
        "info_nce, tiled_info_nce, dcl, dcl_w, mochi, isogclr, cacr, mv_info_nce, mv_dhel"
    )
    with pytest.raises(InputError, match="'isogclr' does not fit method 'comet': it needs "):
        check_fits("isogclr", {"two_views"}, method="comet")
    with pytest.raises(InputError, match="it needs modalities_3plus"):
        check_fits("symile", TWO_VIEW_METHOD, method="grace")
    for name in FIT_TWO_VIEWS:
        check_fits(name, TWO_VIEW_METHOD, method="grace")
    check_fits("swav", {"two_views", "prototypes"}, method="prc")
    check_fits("supcon", {"multi_view", "labels"}, method="supervised")


def test_fitting_objectives_by_what_a_method_provides() -> None:
    assert fitting_objectives(TWO_VIEW_METHOD) == FIT_TWO_VIEWS
    assert fitting_objectives({"two_views"}) == [n for n in FIT_TWO_VIEWS if n != "isogclr"]
    assert fitting_objectives({"multi_view"}) == ["cacr", "mv_info_nce", "mv_dhel"]
    assert fitting_objectives({"pos_weights"}) == ["weighted_info_nce"]
    assert fitting_objectives({"modalities_3plus"}) == ["symile"]
    with pytest.raises(ValueError, match=r"unknown provided input\(s\) \['views'\]"):
        fitting_objectives({"views"})


class _Method(nn.Module):
    """A method owning its objective as a submodule, as the domains do."""

    def __init__(self, name: str, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.encoder = nn.Linear(DIM, DIM)
        self.objective = build_objective({"name": name}, dim=DIM, num_samples=NUM_SAMPLES)

    def loss(self, name: str, seed: int) -> torch.Tensor:
        tensors, kwargs = _inputs(name, seed)
        if "index" in kwargs:
            kwargs["index"] = torch.arange(N) + (seed % 3) * 4  # revisits earlier samples
        torch.manual_seed(1000 + seed)
        return self.objective(*[self.encoder(x) for x in tensors], **kwargs)


STATEFUL = [name for name, d in DESCRIBED.items() if d["stateful"]]


def test_stateful_flags_match_the_state_dicts() -> None:
    assert STATEFUL == ["mochi", "isogclr", "swav", "symile"]
    for name in NAMES:
        assert bool(_build(name).state_dict()) == DESCRIBED[name]["stateful"], name


@pytest.mark.parametrize("name", STATEFUL)
def test_state_dict_round_trip_resumes_identical_losses(name: str) -> None:
    method = _Method(name, seed=0)
    optimizer = torch.optim.SGD(method.parameters(), lr=0.5)
    for step in range(3):
        optimizer.zero_grad()
        method.loss(name, step).backward()
        optimizer.step()
    state = method.state_dict()
    assert any(key.startswith("objective.") for key in state)

    resumed = _Method(name, seed=1)
    with torch.no_grad():
        from_scratch = resumed.loss(name, 3)
    resumed.load_state_dict(state)
    for step in (3, 4):
        with torch.no_grad():
            expected, got = method.loss(name, step), resumed.loss(name, step)
        assert torch.equal(got, expected)
    assert not torch.allclose(from_scratch, method.loss(name, 5))


def test_isogclr_updates_the_state_of_the_batch_samples_only() -> None:
    objective = _build("isogclr", torch.float64)
    tensors, kwargs = _inputs("isogclr", seed=0, dtype=torch.float64)
    index = kwargs["index"]
    tau = objective.loss.tau.clone()
    step = losses.isogclr(*tensors, objective.loss.tau[index], objective.loss.u[index])
    objective(*tensors, index=index)
    seen = torch.zeros(NUM_SAMPLES, dtype=torch.bool)
    seen[index] = True
    torch.testing.assert_close(objective.loss.u[index], step.u)
    assert (objective.loss.u[~seen] == 0).all()
    assert torch.equal(objective.loss.tau[~seen], tau[~seen])
    assert (objective.loss.tau[seen] != tau[seen]).all()


def test_mochi_queue_replaces_its_oldest_keys_in_training_only() -> None:
    torch.manual_seed(0)
    objective = _build("mochi", num_hard=4, num_mix=3, num_query_mix=2, queue_size=12)
    (z1, z2), _ = _inputs("mochi", seed=0)
    before = objective.queue.clone()
    objective(z1, z2)
    torch.testing.assert_close(objective.queue[:N], F.normalize(z2.detach(), dim=1))
    assert torch.equal(objective.queue[N:], before[N:]) and int(objective.queue_ptr) == N
    objective(z1, 2 * z2)  # wraps around: rows 8..11 then 0..3
    assert int(objective.queue_ptr) == (2 * N) % 12
    torch.testing.assert_close(objective.queue[:4], F.normalize(z2.detach()[4:], dim=1))
    frozen = objective.queue.clone()
    objective.eval()
    objective(z1, -z2)
    assert torch.equal(objective.queue, frozen)
    small = _build("mochi", num_hard=2, num_mix=1, num_query_mix=1, queue_size=4)
    with pytest.raises(InputError, match=r"objective.queue_size \(4\) is smaller than the batch"):
        small(z1, z2)


def test_describe_and_table() -> None:
    first = describe_objectives()[0]
    assert first == {
        "name": "info_nce",
        "title": first["title"],
        "consumes": ["two_views"],
        "needs_index": False,
        "stateful": False,
        "hyperparameters": {
            "temperature": 0.1,
            "intra_view_negatives": True,
            "symmetric": True,
            "normalize": True,
        },
    }
    assert DESCRIBED["isogclr"]["needs_index"] and DESCRIBED["isogclr"]["stateful"]
    table = format_objectives_table()
    lines = table.splitlines()
    assert lines[0].split() == [
        "name",
        "consumes",
        "state",
        "what",
        "/",
        "hyper-parameters",
        "(defaults)",
    ]
    assert all(len(line) <= 100 for line in lines)
    rows = {line.split()[0]: line for line in lines[1:] if line and not line.startswith(" ")}
    assert set(NAMES) <= set(rows)
    assert rows["isogclr"].split()[1:5] == ["two_views", "+", "index", "yes"]
    assert "block_size=384" in table and "queue_size=16384" in table


@dataclasses.dataclass
class _Experiment:
    objective: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {"name": "info_nce", "temperature": 0.5}
    )


def test_a_typed_config_dict_field_builds_the_objective(tmp_path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("objective:\n  name: dcl_w\n  sigma: 0.25\n")
    objective = build_objective(load_config(_Experiment, path, []).objective)
    assert isinstance(objective.loss, losses.DCLW) and objective.loss.sigma == 0.25
    default = build_objective(load_config(_Experiment, None, []).objective)
    assert isinstance(default.loss, losses.InfoNCE) and default.loss.temperature == 0.5
    override = load_config(_Experiment, None, ["objective.name=dcl"]).objective
    assert isinstance(build_objective(override).loss, losses.DCL)


def test_contrast_objectives_prints_the_table(capsys) -> None:
    from shared.cli import main

    assert main(["objectives"]) == 0
    assert capsys.readouterr().out == format_objectives_table() + "\n"


@dataclasses.dataclass
class _WithObjective:
    objective: dict[str, Any] = dataclasses.field(default_factory=dict)


def test_a_renamed_section_builds_the_new_objective_with_its_defaults(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("objective: {name: mochi, temperature: 0.3, queue_size: 64}\n")
    dcl = build_objective(load_config(_WithObjective, path, ["objective.name=dcl"]).objective)
    assert isinstance(dcl, _Pair) and dcl.loss.temperature == DCL().temperature
    stale = load_config(_WithObjective, path, ["objective.name=dcl", "objective.queue_size=8"])
    with pytest.raises(
        InputError, match=r"objective 'dcl': unknown key 'queue_size'; valid keys: temperature="
    ):
        build_objective(stale.objective)
