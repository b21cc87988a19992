"""Contrastive recommendation on the shared core: MCLRec (meta and joint updates) with its special
cases SASRec and CL4SRec for sequential recommendation, and DCCF for graph collaborative filtering.

interaction sequences -> crop / mask / reorder views -> SASRec encoder -> MCLRec objective
(``shared.losses.info_nce``) -> ``shared.training.Trainer`` -> leave-one-out full ranking
(``shared.evaluation.rank_full``). Entry points:
``contrast recsys train --config configs/recsys/mclrec_beauty.yaml`` and
``contrast recsys train-dccf --config configs/recsys/dccf_beauty.yaml``.
"""

from recsys_cl.augment import SequenceAugmenter
from recsys_cl.data import (
    InteractionSequences,
    LeaveOneOut,
    SequenceBatches,
    SequenceSamples,
    leave_one_out,
    load_inter,
    load_sequences,
    load_txt,
    synthetic_sequences,
)
from recsys_cl.dccf import DCCF, DCCFConfig
from recsys_cl.evaluation import evaluate_dccf, evaluate_ranking
from recsys_cl.interaction_graph import BPRBatches, InteractionGraph, leave_one_out_graph
from recsys_cl.mclrec import (
    LearnableAugmenter,
    MCLRec,
    MCLRecConfig,
    augmented_view_loss,
    contrastive_regulariser,
    next_item_loss,
)
from recsys_cl.sasrec import SASRec, SASRecConfig

__all__ = [
    "DCCF",
    "BPRBatches",
    "DCCFConfig",
    "InteractionGraph",
    "InteractionSequences",
    "LearnableAugmenter",
    "LeaveOneOut",
    "MCLRec",
    "MCLRecConfig",
    "SASRec",
    "SASRecConfig",
    "SequenceAugmenter",
    "SequenceBatches",
    "SequenceSamples",
    "augmented_view_loss",
    "contrastive_regulariser",
    "evaluate_dccf",
    "evaluate_ranking",
    "leave_one_out",
    "leave_one_out_graph",
    "load_inter",
    "load_sequences",
    "load_txt",
    "next_item_loss",
    "synthetic_sequences",
]
