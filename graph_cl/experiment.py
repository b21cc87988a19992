"""Running a graph experiment, through the three entry points every domain's ``experiment.py``
has:

- :func:`build` -> the loaded graph (its statistics logged first) and the method ``exp.method``
  names, initialised from ``exp.trainer.seed``;
- :func:`run` -> train with ``shared.training``, evaluate the frozen embeddings, write the run
  folder (``metrics.json``, ``plots/``) and print the final table;
- :func:`evaluate_checkpoint` -> the same evaluation of a saved checkpoint.

    >>> exp = load_config(GraphExperiment, "configs/graph/grace_cora.yaml", [])
    >>> method, metrics = run(exp)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TypeAlias

import torch
from torch import Tensor
from torch_geometric.data import Data

from graph_cl.config import GraphExperiment
from graph_cl.data import build_graph, edge_layers
from graph_cl.evaluation import evaluate_embeddings, validation_accuracy
from graph_cl.gcool import GCooL
from graph_cl.grace import GRACE
from graph_cl.scgc import SCGC
from shared.errors import InputError
from shared.run_report import finish_run
from shared.training import Trainer, load_model_weights, seed_everything

log = logging.getLogger("contrast")

GraphMethod: TypeAlias = GCooL | GRACE | SCGC


def build(exp: GraphExperiment) -> tuple[Data, GraphMethod]:
    """The graph ``exp.data`` describes and the method ``exp.method`` names, sized for it."""
    data = build_graph(exp.data)
    log.info("graph %s: %s", exp.data.name, describe_graph(data))
    seed_everything(exp.trainer.seed)  # model initialisation, before the trainer seeds the loop
    return data, build_method(exp, data)


def describe_graph(data: Data) -> str:
    """Nodes, edges (per layer for a multiplex graph), features, classes and split sizes."""
    layers = edge_layers(data)
    edges = " + ".join(f"{layer.size(1):,}" for layer in layers)
    weight = getattr(data, "edge_weight", None)
    if weight is not None:
        edges += f" weighted ({float(weight.min()):.3g}-{float(weight.max()):.3g})"
    parts = [
        f"{data.num_nodes:,} nodes",
        f"{edges} directed edges",
        f"{data.num_features} features",
    ]
    if getattr(data, "y", None) is not None:
        parts.append(f"{int(data.y.max()) + 1} classes")
    masks = [getattr(data, f"{s}_mask", None) for s in ("train", "val", "test")]
    tensors = [m for m in masks if isinstance(m, Tensor)]
    if len(tensors) == len(masks):
        sizes = [int(m.sum()) if m.dim() == 1 else int(m[:, 0].sum()) for m in tensors]
        parts.append("public split train/val/test {}/{}/{}".format(*sizes))
    return ", ".join(parts)


def build_method(exp: GraphExperiment, data: Data) -> GraphMethod:
    """The method ``exp.method`` names, sized for ``data``."""
    layers = len(edge_layers(data))
    chosen = {"objective": exp.objective, "num_nodes": data.num_nodes}
    if exp.data.merge_layers and (exp.method != "grace" or exp.grace.pot.kappa > 0):
        raise InputError(
            "data.merge_layers: the averaged graph is weighted, and only method=grace without "
            f"POT (grace.pot.kappa=0) uses edge weights; method={exp.method} would ignore them"
        )
    if exp.method == "gcool":
        return GCooL(data.num_features, exp.gcool, num_edge_layers=layers, **chosen)
    if exp.method == "grace":
        return GRACE(data.num_features, exp.grace, num_edge_layers=layers, **chosen)
    if exp.objective:
        raise InputError(
            "objective: SCGC's neighbour contrast keeps its own loss; objective.name applies to "
            "method=grace and method=gcool"
        )
    if layers > 1:
        raise ValueError("SCGC takes a single-layer graph, not a multiplex one")
    return SCGC(data.num_features, exp.scgc)


def embed(method: GraphMethod, data: Data) -> tuple[Tensor, Tensor | None]:
    """Frozen node embeddings and, when the method learns them, its communities."""
    device = next(method.parameters()).device
    data = data.to(device)
    method.eval()
    with torch.no_grad():
        embeddings = method.embed(data)
        communities_fn = getattr(method, "communities", None)
        communities = communities_fn(data) if callable(communities_fn) else None
    return embeddings, communities


def run(exp: GraphExperiment) -> tuple[GraphMethod, dict[str, float]]:
    """Train ``exp``, evaluate it and write its run folder; returns the method and metrics."""
    data, method = build(exp)

    def validate() -> dict[str, float]:
        embeddings, _ = embed(method, data)
        return {"accuracy": validation_accuracy(embeddings, data.y.cpu(), exp.eval)}

    curve = validate if exp.eval.validation_curve else None
    result = Trainer(exp.trainer, method, experiment=exp).fit([data], curve)
    embeddings, communities = embed(method, data)
    metrics = evaluate_embeddings(embeddings, data, exp.eval, communities)
    times = [row["epoch_time_s"] for row in result.history if "epoch_time_s" in row]
    if times:
        metrics["epoch_time_s"] = sum(times) / len(times)
    finish_run(
        Path(exp.trainer.out_dir),
        metrics,
        title=f"{exp.method} on {exp.data.name} ({result.epochs_run} epochs)",
        experiment=exp,
        embeddings=embeddings.cpu(),
        labels=getattr(data, "y", None),
        tensorboard=exp.trainer.tensorboard,
    )
    return method, metrics


def evaluate_checkpoint(exp: GraphExperiment, checkpoint: Path) -> dict[str, float]:
    """Evaluate a trained checkpoint (``best.pt`` / ``last.pt``) of ``exp``."""
    data, method = build(exp)
    load_model_weights(method, checkpoint)
    embeddings, communities = embed(method, data)
    return evaluate_embeddings(embeddings, data, exp.eval, communities)
