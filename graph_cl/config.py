"""The graph experiment config: one YAML file per experiment (``configs/graph/*.yaml``).

``method`` picks which of the method sections is used; ``objective`` optionally replaces the
node contrast of GRACE / gCooL by any fitting core loss; every field has a default, so
``load_config(GraphExperiment, None, [])`` is the synthetic SBM gCooL setting of ``contrast demo``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from graph_cl.data import GraphDataConfig
from graph_cl.evaluation import EvalConfig
from graph_cl.gcool import GCoolConfig
from graph_cl.grace import GraceConfig
from graph_cl.scgc import SCGCConfig
from shared.training import TrainerConfig


@dataclass
class GraphExperiment:
    """data -> method -> trainer -> evaluation for one graph run."""

    method: Literal["gcool", "grace", "scgc"] = "gcool"
    data: GraphDataConfig = field(default_factory=GraphDataConfig)
    gcool: GCoolConfig = field(default_factory=GCoolConfig)
    grace: GraceConfig = field(default_factory=GraceConfig)
    scgc: SCGCConfig = field(default_factory=SCGCConfig)
    # The node contrast of grace / gcool by name (`contrast objectives` lists them), e.g.
    # {name: dcl, temperature: 0.5}; empty keeps each method's published objective.
    objective: dict[str, Any] = field(default_factory=dict)
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(
            epochs=200,
            lr=5e-4,
            weight_decay=1e-5,
            out_dir="runs/graph",
            log_every=0,
        )
    )
    eval: EvalConfig = field(default_factory=EvalConfig)
