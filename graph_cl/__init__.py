"""Graph contrastive learning on the shared core: gCooL (DeCA + ReSC, multiplex), GRACE, the POT
regulariser, and SCGC / SCGC*.

data -> views -> GCN encoder -> objective (``shared.losses``) -> ``shared.training.Trainer`` ->
``graph_cl.evaluation`` (linear probe on random / public splits, clustering). Entry point:
``contrast graph pretrain --config configs/graph/gcool_cora.yaml``.

Names are imported on first use (PEP 562), so ``contrast <domain> --help`` does not pay for the
domain's dependencies.
"""

from __future__ import annotations

from shared.lazy import lazy_attributes

_EXPORTS = {
    "DenseCommunityAggregation": "graph_cl.deca",
    "GCooL": "graph_cl.gcool",
    "GCoolConfig": "graph_cl.gcool",
    "GRACE": "graph_cl.grace",
    "GraceConfig": "graph_cl.grace",
    "GraphDataConfig": "graph_cl.data",
    "NodeCompactness": "graph_cl.pot",
    "POTConfig": "graph_cl.pot",
    "SCGC": "graph_cl.scgc",
    "SCGCConfig": "graph_cl.scgc",
    "build_graph": "graph_cl.data",
    "load_dataset": "graph_cl.data",
    "stochastic_block_model": "graph_cl.data",
    "validate_graph": "graph_cl.data",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_attributes(__name__, _EXPORTS)
