"""Leave-one-out next-item evaluation: full ranking over every item, via ``shared.evaluation``.

Sequential models (:func:`evaluate_ranking`): each validation / test sample's target is ranked
against all items (only the padding id is left out; the user's history is not removed, as in the
official MCLRec/RecBole evaluation), and HR@k, NDCG@k and MRR@k are averaged over samples. With
``exclude_history`` the items of the user's history are left out too (the S3Rec / ICLRec /
CoSeRec protocol; the target itself is never removed), which raises every metric.
Scores are computed ``batch_size`` queries at a time, so memory is O(batch_size x n_items)
whatever the number of users.

DCCF (:func:`evaluate_dccf`), a collaborative-filtering model: a user's validation (test) item is
ranked against all items except the user's training items (and, for test, the validation item),
the usual protocol of graph recommenders.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from recsys_cl.dccf import DCCF
from recsys_cl.interaction_graph import InteractionGraph
from recsys_cl.mclrec import MCLRec
from recsys_cl.splits import SequenceSamples
from shared.evaluation import rank_full


def evaluate_ranking(
    model: MCLRec,
    samples: SequenceSamples,
    *,
    ks: Sequence[int] = (5, 10, 20),
    batch_size: int = 256,
    stderr: bool = False,
    exclude_history: bool = False,
) -> dict[str, float]:
    """``{"HR@k", "NDCG@k", "MRR@k"}`` of ``model`` on ``samples`` (eval mode, no gradient), with
    ``stderr`` also their standard errors over samples (``"HR@k_se"``, ...)."""
    if len(samples) == 0:
        raise ValueError("no samples to evaluate")
    device = next(model.parameters()).device

    def scores(index: Tensor) -> Tensor:
        seqs, lengths = samples.histories(index.numpy())
        return model.score(seqs.to(device), lengths.to(device))

    was_training = model.training
    model.eval()
    try:
        return rank_full(
            scores,
            torch.arange(len(samples)),
            torch.from_numpy(samples.targets),
            ks=ks,
            batch_size=batch_size,
            exclude_items=history_items(samples) if exclude_history else None,
            padding_item=0,
            stderr=stderr,
        )
    finally:
        model.train(was_training)


def history_items(samples: SequenceSamples) -> list[np.ndarray]:
    """Each sample's whole history (every item before its target, not only the last
    ``max_length``)."""
    return [samples.items[a:b] for a, b in zip(samples.starts, samples.ends, strict=True)]


def evaluate_dccf(
    model: DCCF,
    graph: InteractionGraph,
    targets: dict[str, Tensor],
    split: str,
    *,
    ks: Sequence[int] = (5, 10, 20),
    batch_size: int = 1024,
) -> dict[str, float]:
    """Full ranking of ``targets[split]`` (``"valid"`` or ``"test"``) for ``targets["users"]``."""
    if split not in ("valid", "test"):
        raise ValueError(f"split must be 'valid' or 'test', got {split!r}")
    users = targets["users"]
    seen = graph.user_items()
    exclude = [seen[u] for u in users.tolist()]
    if split == "test":
        exclude = [np.append(e, v) for e, v in zip(exclude, targets["valid"].tolist(), strict=True)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            views = model.views()
        return rank_full(
            lambda batch: model.user_scores(batch.to(views.users.device), views),
            users,
            targets[split],
            ks=ks,
            batch_size=batch_size,
            exclude_items=exclude,
            padding_item=None,
        )
    finally:
        model.train(was_training)
