"""The objective registry: every core loss built by name from a config section, one call per kind.

A domain config holds the section as ``objective: dict[str, Any]``, e.g. ``{name: dcl,
temperature: 0.2}``; the keys besides ``name`` are the hyper-parameters of that loss's module
(``shared.losses.DCL(temperature=0.1, *, normalize=True)``), read from its constructor, so the
defaults are the loss's own. Unknown names, unknown keys and wrongly typed values raise
:class:`shared.errors.InputError` listing what is valid.

Each objective declares what it consumes; a method declares what its batches provide, and
:func:`check_fits` rejects a pair that cannot work at config time, naming the objectives that fit:

- ``two_views``: two (N, d) views, row i of each a positive pair. Call ``objective(z1, z2, *,
  index=None)``: InfoNCE / NT-Xent, tiled InfoNCE, DCL, DCL-W, MoCHi, iSogCLR.
- ``multi_view``: V >= 2 views of the same N samples; two views are the case V = 2, so a method
  that provides ``two_views`` provides ``multi_view``. Call ``objective(*views, index=None)``:
  CACR, MV-InfoNCE, MV-DHEL, SwAV, SupCon.
- ``labels``: class labels (N,), passed as ``objective(*views, labels=y)`` (SupCon).
- ``pos_weights``: ``objective(anchor, candidates, pos_weight, neg_weight=None)`` (weighted
  InfoNCE).
- ``prototypes``: the objective owns trained prototypes; the method optimises its parameters
  (SwAV).
- ``modalities_3plus``: M >= 3 modalities of the same N tuples, ``objective(*modalities)``
  (Symile).
- ``index`` (provided, not a kind): unique dataset indices of the batch samples, needed by
  iSogCLR's per-sample state.

Stateful objectives keep their state as buffers or parameters of the built module (iSogCLR's
temperatures and moving averages, MoCHi's queue, SwAV's prototypes, Symile's logit scale), so a
method that owns the objective as a submodule checkpoints and resumes it with its state dict.

    from shared.losses.registry import build_objective, check_fits

    check_fits(exp.objective, {"two_views", "index"}, method="grace")  # at config time
    self.objective = build_objective(exp.objective, dim=128, num_samples=len(dataset))
    loss = self.objective(z1, z2, index=batch.index)  # InfoNCE, DCL, MoCHi, iSogCLR, ... alike
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import textwrap
import typing
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from shared import distributed
from shared.config import ConfigError, from_dict
from shared.errors import InputError
from shared.losses.cacr import CACR
from shared.losses.dcl import DCL, DCLW
from shared.losses.infonce import InfoNCE, WeightedInfoNCE
from shared.losses.isogclr import ISogCLR
from shared.losses.mochi import MoCHi
from shared.losses.multiview import MVDHEL, MVInfoNCE
from shared.losses.supcon import SupCon
from shared.losses.swav import SwAV
from shared.losses.symile import Symile
from shared.losses.tiled import TiledInfoNCE

Consumes = Literal[
    "two_views", "multi_view", "labels", "pos_weights", "prototypes", "modalities_3plus"
]
PROVIDES: tuple[str, ...] = (*typing.get_args(Consumes), "index")
# Constructor arguments the method supplies (embedding width, dataset size), not config keys.
_CONTEXT = ("dim", "num_samples")


class _Pair(nn.Module):
    """``objective(z1, z2, *, index=None)`` for a two-view loss that needs no indices."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, z1: Tensor, z2: Tensor, *, index: Tensor | None = None) -> Tensor:
        return self.loss(z1, z2)


class _IndexedPair(_Pair):
    """``objective(z1, z2, *, index)`` for a two-view loss with per-sample state (iSogCLR).

    Every buffer of the wrapped loss is per-sample state indexed by dataset index. Under DDP each
    rank updates the rows of its own batch, then :func:`shared.distributed.sync_indexed_rows`
    hands every rank the rows of all ranks, so the state stays identical across ranks (the
    single-process run that applies the loss to each rank's batch in turn holds the same state).
    """

    def forward(self, z1: Tensor, z2: Tensor, *, index: Tensor | None = None) -> Tensor:
        if index is None:
            raise ValueError(
                f"{type(self.loss).__name__} keeps per-sample state: pass the batch's dataset "
                "indices, objective(z1, z2, index=...)"
            )
        loss = self.loss(z1, z2, index)
        if self.training:
            distributed.sync_indexed_rows(self.loss.buffers(), index)
        return loss


class _Stacked(_Pair):
    """``objective(*views, index=None)`` for a loss of a (V, N, d) stack of V >= 2 views."""

    def forward(self, *views: Tensor, index: Tensor | None = None) -> Tensor:
        return self.loss(torch.stack(_at_least_two(views)))


class _LabelledViews(_Pair):
    """``objective(*views, labels, index=None)`` for SupCon, which takes (N, V, d) and labels
    (a call of its own, so it overrides ``_Pair.forward`` with another signature)."""

    def forward(  # type: ignore[override]
        self, *views: Tensor, labels: Tensor, index: Tensor | None = None
    ) -> Tensor:
        return self.loss(torch.stack(_at_least_two(views), dim=1), labels)


class _Modalities(_Pair):
    """``objective(*modalities, index=None)`` for Symile, which takes a list of (N, d) tensors."""

    def forward(self, *modalities: Tensor, index: Tensor | None = None) -> Tensor:
        return self.loss(list(modalities))


def _at_least_two(views: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    if len(views) < 2:
        raise ValueError(f"a multi-view objective needs at least 2 views, got {len(views)}")
    return views


class MoCHiQueue(nn.Module):
    """MoCHi with its MoCo memory queue as state: ``objective(query, key, *, index=None)``.

    The loss of a step is :func:`shared.losses.mochi` of the queries ``z1`` against their keys
    ``z2``, the queue as it was and the mixed hard negatives; then, in training mode, the step's
    keys (L2-normalised, detached) replace the oldest queue entries (MoCo, He et al. 2020,
    "Momentum Contrast for Unsupervised Visual Representation Learning"). The queue starts as
    random unit vectors, as in MoCo. ``queue`` (queue_size, dim) and ``queue_ptr`` are buffers, so
    they live in the state dict of the method that owns this module; under DDP every process
    enqueues the keys of all processes in rank order (MoCo's ``concat_all_gather``), so the
    queues stay identical and equal a single process's on the concatenated batch. Mixing draws
    from torch's global generator (seeded and checkpointed by the trainer).

        objective = MoCHiQueue(MoCHi(temperature=0.2), dim=128)  # queue_size 16384: MoCHi's
        loss = objective(z1, z2)  # ImageNet-100 setting
    """

    queue: Tensor
    queue_ptr: Tensor

    def __init__(self, loss: MoCHi, dim: int, *, queue_size: int = 16384) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be >= 1, got {dim}")
        if queue_size < loss.num_hard:
            raise ValueError(f"queue_size ({queue_size}) must be >= num_hard ({loss.num_hard})")
        self.loss = loss
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def forward(self, z1: Tensor, z2: Tensor, *, index: Tensor | None = None) -> Tensor:
        loss = self.loss(z1, z2, self.queue.to(z1.dtype))
        if self.training:
            self._enqueue(z2)
        return loss

    @torch.no_grad()
    def _enqueue(self, keys: Tensor) -> None:
        keys = distributed.all_gather_rows(keys.detach())
        size = self.queue.shape[0]
        if keys.shape[0] > size:
            raise InputError(
                f"objective.queue_size ({size}) is smaller than the batch ({keys.shape[0]} keys "
                "over all processes); set objective.queue_size to at least the global batch size"
            )
        slots = (self.queue_ptr + torch.arange(keys.shape[0], device=keys.device)) % size
        self.queue[slots.to(self.queue.device)] = F.normalize(keys, dim=1).to(self.queue)
        self.queue_ptr.copy_((self.queue_ptr + keys.shape[0]) % size)

    def extra_repr(self) -> str:
        return f"queue_size={self.queue.shape[0]}, dim={self.queue.shape[1]}"


@dataclasses.dataclass(frozen=True)
class _Spec:
    """One registered objective: the loss module, the call adapter and what it consumes."""

    title: str
    loss: type[nn.Module]
    adapter: Callable[..., nn.Module] | None  # wraps the loss into its kind's call; None: as is
    consumes: frozenset[Consumes]
    needs_index: bool = False
    stateful: bool = False
    # defaults for constructor arguments the loss itself leaves without one
    defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)


_TWO: frozenset[Consumes] = frozenset({"two_views"})
_MULTI: frozenset[Consumes] = frozenset({"multi_view"})
_OBJECTIVES: dict[str, _Spec] = {
    "info_nce": _Spec("InfoNCE / NT-Xent (van den Oord 2018; SimCLR 2020)", InfoNCE, _Pair, _TWO),
    "tiled_info_nce": _Spec("InfoNCE in O(N d) memory (tiled)", TiledInfoNCE, _Pair, _TWO),
    "dcl": _Spec("DCL, decoupled contrastive loss (Yeh et al. 2022)", DCL, _Pair, _TWO),
    "dcl_w": _Spec("DCL-W, vMF-weighted DCL (Yeh et al. 2022)", DCLW, _Pair, _TWO),
    "mochi": _Spec(
        "MoCHi, hard negative mixing over a queue (Kalantidis et al. 2020)",
        MoCHi,
        MoCHiQueue,
        _TWO,
        stateful=True,
    ),
    "isogclr": _Spec(
        "iSogCLR, learned per-sample temperatures (Qiu et al. 2023)",
        ISogCLR,
        _IndexedPair,
        _TWO,
        needs_index=True,
        stateful=True,
    ),
    "cacr": _Spec("CACR, attraction and repulsion (Zheng et al. 2021)", CACR, _Stacked, _MULTI),
    "mv_info_nce": _Spec("MV-InfoNCE (Koromilas et al. 2025)", MVInfoNCE, _Stacked, _MULTI),
    "mv_dhel": _Spec("MV-DHEL (Koromilas et al. 2025)", MVDHEL, _Stacked, _MULTI),
    "swav": _Spec(
        "SwAV, swapped prototype prediction (Caron et al. 2020)",
        SwAV,
        _Stacked,
        frozenset({"multi_view", "prototypes"}),
        stateful=True,
        defaults={"n_prototypes": 3000},  # SwAV's ImageNet setting; SwAV() has no default
    ),
    "supcon": _Spec(
        "SupCon, supervised contrast (Khosla et al. 2020)",
        SupCon,
        _LabelledViews,
        frozenset({"multi_view", "labels"}),
    ),
    "weighted_info_nce": _Spec(
        "multi-positive weighted InfoNCE (SupCon L_out, CLOCS, ReSC)",
        WeightedInfoNCE,
        None,
        frozenset({"pos_weights"}),
    ),
    "symile": _Spec(
        "Symile, M >= 3 modalities (Saporta et al. 2024)",
        Symile,
        _Modalities,
        frozenset({"modalities_3plus"}),
        stateful=True,
    ),
}


def objective_names() -> list[str]:
    """The registered objective names, in registry order."""
    return list(_OBJECTIVES)


def build_objective(
    section: Mapping[str, Any], *, dim: int | None = None, num_samples: int | None = None
) -> nn.Module:
    """Build the objective a config section names, e.g. ``{"name": "dcl", "temperature": 0.2}``.

    Args:
        section: ``name`` plus any of that objective's hyper-parameters (the rest keep the loss's
            defaults; :func:`describe_objectives` lists them).
        dim: width of the embeddings (MoCHi's queue, SwAV's prototypes need it).
        num_samples: dataset size (iSogCLR keeps one temperature per sample).
    Returns:
        An ``nn.Module`` with the call of its kind (see the module docstring). Own it as a
        submodule of the method so its state is checkpointed and its parameters optimised.
    """
    name, spec = _lookup(section)
    params = _hyperparameters(spec)
    values = {k: v for k, v in section.items() if k != "name"}
    unknown = [k for k in values if k not in params]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), list(params), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise InputError(
            f"objective '{name}': unknown key '{unknown[0]}'{hint}; "
            f"valid keys: {_keys_with_defaults(params)}"
        )
    kwargs = _typed(name, params, values)
    context = {"dim": dim, "num_samples": num_samples}
    loss_kwargs, adapter_kwargs = _split(spec, kwargs, context, name)
    try:
        loss = spec.loss(**loss_kwargs)
        return loss if spec.adapter is None else spec.adapter(loss, **adapter_kwargs)
    except ValueError as err:
        raise InputError(f"objective '{name}': {err}") from err


def fitting_objectives(provides: Collection[str]) -> list[str]:
    """Names of the objectives whose inputs a method providing ``provides`` can supply."""
    unknown = sorted(set(provides) - set(PROVIDES))
    if unknown:
        raise ValueError(f"unknown provided input(s) {unknown}; known: {', '.join(PROVIDES)}")
    have = set(provides) | ({"multi_view"} if "two_views" in provides else set())
    return [
        name
        for name, spec in _OBJECTIVES.items()
        if spec.consumes <= have and (not spec.needs_index or "index" in have)
    ]


def check_fits(objective: str | Mapping[str, Any], provides: Collection[str], method: str) -> None:
    """Raise :class:`InputError` when ``method`` (providing ``provides``) cannot feed ``objective``.

    ``objective`` is a name or a config section. The message lists the objectives that fit.

        check_fits({"name": "swav"}, {"two_views", "index"}, method="grace")  # raises
    """
    section = {"name": objective} if isinstance(objective, str) else objective
    name, spec = _lookup(section)
    fits = fitting_objectives(provides)
    if name in fits:
        return
    needs = sorted(spec.consumes) + (["index"] if spec.needs_index else [])
    raise InputError(
        f"objective '{name}' does not fit method '{method}': it needs {' + '.join(needs)}, "
        f"'{method}' provides {' + '.join(sorted(provides)) or 'nothing'}; "
        f"objectives that fit '{method}': {', '.join(fits) or 'none'}"
    )


def describe_objectives() -> list[dict[str, Any]]:
    """One dict per objective: ``name``, ``title``, ``consumes`` (sorted list), ``needs_index``,
    ``stateful`` and ``hyperparameters`` ({key: default}, in constructor order)."""
    return [
        {
            "name": name,
            "title": spec.title,
            "consumes": sorted(spec.consumes),
            "needs_index": spec.needs_index,
            "stateful": spec.stateful,
            "hyperparameters": {k: default for k, (_, default) in _hyperparameters(spec).items()},
        }
        for name, spec in _OBJECTIVES.items()
    ]


def format_objectives_table(width: int = 100) -> str:
    """The registry as printable text (what ``contrast objectives`` prints): one row per
    objective with what it consumes, whether it keeps state, its title and its hyper-parameters
    with their defaults."""
    rows = [
        (
            d["name"],
            " + ".join(d["consumes"] + (["index"] if d["needs_index"] else [])),
            "yes" if d["stateful"] else "",
            d["title"],
            ", ".join(f"{k}={_short(v)}" for k, v in d["hyperparameters"].items()),
        )
        for d in describe_objectives()
    ]
    header = ("name", "consumes", "state", "what / hyper-parameters (defaults)")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    indent = sum(widths) + 2 * len(widths)
    text_width = max(width - indent, 30)
    lines = [_cells(header[:3], widths) + header[3]]
    for *cells, title, params in rows:
        body = textwrap.wrap(title, text_width) + textwrap.wrap(params, text_width)
        lines.append(_cells(cells, widths) + body[0])
        lines += [" " * indent + line for line in body[1:]]
    usage = (
        "Choose one in a config with objective: {name: NAME, KEY: VALUE} (or the override "
        "objective.name=NAME). Calls: two_views objective(z1, z2, index=None); multi_view "
        "objective(*views); labels objective(*views, labels=y); pos_weights objective(anchor, "
        "candidates, pos_weight, neg_weight=None); modalities_3plus objective(*modalities)."
    )
    return "\n".join([*lines, "", *textwrap.wrap(usage, width)])


def _cells(cells: typing.Sequence[str], widths: typing.Sequence[int]) -> str:
    return "".join(cell.ljust(w) + "  " for cell, w in zip(cells, widths, strict=True))


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def _lookup(section: Mapping[str, Any]) -> tuple[str, _Spec]:
    if not isinstance(section, Mapping):
        raise InputError(
            "config section 'objective' must be a mapping like {name: info_nce, temperature: "
            f"0.1}}, got {section!r}"
        )
    name = section.get("name")
    if name is None and section:
        keys = ", ".join(f"objective.{k}" for k in section)
        raise InputError(
            f"{keys} set without objective.name: the method's published objective takes its "
            "settings from the method's own section; to tune a registry objective name it, "
            f"e.g. objective.name=info_nce (valid names: {', '.join(_OBJECTIVES)})"
        )
    if name not in _OBJECTIVES:
        given = "has no 'name'" if name is None else f"names unknown objective {name!r}"
        raise InputError(
            f"config section 'objective' {given}; valid names: {', '.join(_OBJECTIVES)} "
            "(contrast objectives lists them)"
        )
    return name, _OBJECTIVES[name]


def _constructor_parameters(cls: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """(name, type, default) of ``cls.__init__``'s arguments after ``self``."""
    init = cls.__init__
    hints = typing.get_type_hints(init)
    params = list(inspect.signature(init).parameters.values())[1:]
    return [(p.name, hints.get(p.name, Any), p.default) for p in params]


def _hyperparameters(spec: _Spec) -> dict[str, tuple[Any, Any]]:
    """{key: (type, default)}: the loss's constructor arguments, then the adapter's own ones."""
    found = _constructor_parameters(spec.loss)
    if spec.adapter is not None:
        found += _constructor_parameters(spec.adapter)[1:]  # after the wrapped loss
    return {
        name: (tp, spec.defaults.get(name, default))
        for name, tp, default in found
        if name not in _CONTEXT
    }


def _keys_with_defaults(params: Mapping[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{k}={default!r}" for k, (_, default) in params.items())


def _typed(
    name: str, params: Mapping[str, tuple[Any, Any]], values: Mapping[str, Any]
) -> dict[str, Any]:
    """Check and convert ``values`` with the typed-config rules of :mod:`shared.config`."""
    schema = dataclasses.make_dataclass(
        f"{name}_objective",
        [(k, tp, dataclasses.field(default=d)) for k, (tp, d) in params.items()],
    )
    try:
        return dataclasses.asdict(from_dict(schema, values, where="objective"))
    except ConfigError as err:
        raise InputError(
            f"objective '{name}': {err}; valid keys: {_keys_with_defaults(params)}"
        ) from err


def _split(
    spec: _Spec, kwargs: Mapping[str, Any], context: Mapping[str, Any], name: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Route hyper-parameters and the method's context to the loss and the adapter."""
    parts: list[dict[str, Any]] = []
    for cls in (spec.loss, spec.adapter):
        names = [] if cls is None else [p[0] for p in _constructor_parameters(cls)]
        part = {k: v for k, v in kwargs.items() if k in names}
        for key in (k for k in _CONTEXT if k in names):
            if context[key] is None:
                raise ValueError(
                    f"objective '{name}' needs {key}= from the method: "
                    f"build_objective(section, {key}=...)"
                )
            part[key] = context[key]
        parts.append(part)
    return parts[0], parts[1]
