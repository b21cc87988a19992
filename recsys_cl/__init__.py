"""Contrastive recommendation on the shared core: MCLRec (meta and joint updates) with its special
cases SASRec and CL4SRec for sequential recommendation, and DCCF for graph collaborative filtering.

interaction sequences -> crop / mask / reorder views -> SASRec encoder -> MCLRec objective
(``shared.losses.info_nce``) -> ``shared.training.Trainer`` -> leave-one-out full ranking
(``shared.evaluation.rank_full``). Entry points:
``contrast recsys train --config configs/recsys/mclrec_beauty.yaml`` and
``contrast recsys train-dccf --config configs/recsys/dccf_beauty.yaml``.

Names are imported on first use (PEP 562), so ``contrast <domain> --help`` does not pay for the
domain's dependencies.
"""

from __future__ import annotations

from shared.lazy import lazy_attributes

_EXPORTS = {
    "BPRBatches": "recsys_cl.interaction_graph",
    "DCCF": "recsys_cl.dccf",
    "DCCFConfig": "recsys_cl.dccf",
    "InteractionGraph": "recsys_cl.interaction_graph",
    "InteractionSequences": "recsys_cl.dataset",
    "LearnableAugmenter": "recsys_cl.mclrec",
    "LeaveOneOut": "recsys_cl.splits",
    "MCLRec": "recsys_cl.mclrec",
    "MCLRecConfig": "recsys_cl.mclrec",
    "SASRec": "recsys_cl.sasrec",
    "SASRecConfig": "recsys_cl.sasrec",
    "SequenceAugmenter": "recsys_cl.augment",
    "SequenceBatches": "recsys_cl.batches",
    "SequenceSamples": "recsys_cl.splits",
    "augmented_view_loss": "recsys_cl.mclrec",
    "contrastive_regulariser": "recsys_cl.mclrec",
    "evaluate_dccf": "recsys_cl.evaluation",
    "evaluate_ranking": "recsys_cl.evaluation",
    "leave_one_out": "recsys_cl.splits",
    "leave_one_out_graph": "recsys_cl.interaction_graph",
    "load_inter": "recsys_cl.data_io",
    "load_sequences": "recsys_cl.data_io",
    "load_txt": "recsys_cl.data_io",
    "next_item_loss": "recsys_cl.mclrec",
    "synthetic_sequences": "recsys_cl.synthetic",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_attributes(__name__, _EXPORTS)
