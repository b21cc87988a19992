"""Contrastive losses: each an ``nn.Module`` with a functional twin; see each file's docstring."""

from shared.losses.cacr import CACR, cacr
from shared.losses.dcl import DCL, DCLW, dcl, dcl_w
from shared.losses.infonce import InfoNCE, WeightedInfoNCE, info_nce, weighted_info_nce
from shared.losses.isogclr import ISogCLR, ISogCLRStep, isogclr
from shared.losses.mochi import MoCHi, mochi
from shared.losses.multiview import MVDHEL, MVInfoNCE, mv_dhel, mv_info_nce
from shared.losses.registry import (
    MoCHiQueue,
    build_objective,
    check_fits,
    describe_objectives,
    fitting_objectives,
    format_objectives_table,
    objective_names,
)
from shared.losses.supcon import SupCon, supcon
from shared.losses.swav import SwAV, sinkhorn_knopp, swav
from shared.losses.symile import Symile, symile
from shared.losses.tiled import TiledInfoNCE, tiled_info_nce

__all__ = [
    "CACR",
    "DCL",
    "DCLW",
    "MVDHEL",
    "ISogCLR",
    "ISogCLRStep",
    "InfoNCE",
    "MVInfoNCE",
    "MoCHi",
    "MoCHiQueue",
    "SupCon",
    "SwAV",
    "Symile",
    "TiledInfoNCE",
    "WeightedInfoNCE",
    "build_objective",
    "cacr",
    "check_fits",
    "dcl",
    "dcl_w",
    "describe_objectives",
    "fitting_objectives",
    "format_objectives_table",
    "info_nce",
    "isogclr",
    "mochi",
    "mv_dhel",
    "mv_info_nce",
    "objective_names",
    "sinkhorn_knopp",
    "supcon",
    "swav",
    "symile",
    "tiled_info_nce",
    "weighted_info_nce",
]
