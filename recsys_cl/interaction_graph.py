"""The user-item interaction graph of graph collaborative filtering, its leave-one-out split and
its BPR training batches (used by DCCF, :mod:`recsys_cl.dccf`).

    >>> graph, targets = leave_one_out_graph(data.sequences, data.n_items)
    >>> batches = BPRBatches(graph, batch_size=1024, batches_per_epoch=40, seed=0)
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor


class InteractionGraph:
    """The bipartite user-item graph of training interactions (0-based user and item indices).

    Nodes are the users ``0..U-1`` followed by the items ``U..U+I-1``; every interaction is an edge
    in both directions. ``heads``/``tails`` list the directed edges, ``norm`` holds
    ``1 / sqrt(deg(head) deg(tail))`` (the entries of ``D^-1/2 A D^-1/2``).
    """

    def __init__(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> None:
        users, items = np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64)
        if users.shape != items.shape or users.ndim != 1 or len(users) == 0:
            raise ValueError("users and items must be equally long, non-empty 1-D arrays")
        if users.min() < 0 or users.max() >= n_users or items.min() < 0 or items.max() >= n_items:
            raise ValueError(f"user ids must lie in [0, {n_users}) and item ids in [0, {n_items})")
        pairs = np.unique(users * n_items + items)
        self.users, self.items = pairs // n_items, pairs % n_items
        self.n_users, self.n_items = n_users, n_items
        heads = np.concatenate([self.users, self.items + n_users])
        tails = np.concatenate([self.items + n_users, self.users])
        degree = np.bincount(heads, minlength=n_users + n_items).astype(np.float64)
        self.heads = torch.from_numpy(heads)
        self.tails = torch.from_numpy(tails)
        self.norm = torch.from_numpy(1.0 / np.sqrt(degree[heads] * degree[tails])).float()

    @property
    def n_nodes(self) -> int:
        return self.n_users + self.n_items

    def user_items(self) -> list[np.ndarray]:
        """Each user's training items (sorted)."""
        bounds = np.searchsorted(self.users, np.arange(self.n_users + 1))
        return [self.items[bounds[u] : bounds[u + 1]] for u in range(self.n_users)]

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Whether each (user, item) pair is a training interaction."""
        keys = self.users * self.n_items + self.items
        query = np.asarray(users) * self.n_items + np.asarray(items)
        at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
        return keys[at] == query


class BPRBatches:
    """DCCF's training batches: random users, one training item and one non-interacted item each.

    An epoch has ``batches_per_epoch`` batches of ``batch_size`` users drawn uniformly (the
    official ``uniform_sample``); randomness comes from :attr:`generator`.
    """

    def __init__(
        self, graph: InteractionGraph, batch_size: int, batches_per_epoch: int, seed: int = 0
    ) -> None:
        if batch_size < 2 or batches_per_epoch < 1:
            raise ValueError("batch_size must be >= 2 and batches_per_epoch >= 1")
        self.graph = graph
        self.batch_size = batch_size
        self.batches_per_epoch = batches_per_epoch
        self.generator = torch.Generator().manual_seed(seed)
        self._items = graph.user_items()
        self._count = np.array([len(i) for i in self._items])
        self._active = np.flatnonzero(self._count)

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        for _ in range(self.batches_per_epoch):
            rng = np.random.default_rng(int(torch.randint(2**62, (), generator=self.generator)))
            users = self._active[rng.integers(0, len(self._active), self.batch_size)]
            pos = np.array([self._items[u][rng.integers(self._count[u])] for u in users])
            neg = rng.integers(0, self.graph.n_items, self.batch_size)
            clash = self.graph.contains(users, neg)
            while clash.any():
                neg[clash] = rng.integers(0, self.graph.n_items, int(clash.sum()))
                clash = self.graph.contains(users, neg)
            yield {
                "users": torch.from_numpy(users),
                "pos": torch.from_numpy(pos),
                "neg": torch.from_numpy(neg),
            }


def leave_one_out_graph(
    sequences: list[np.ndarray], n_items: int
) -> tuple[InteractionGraph, dict[str, Tensor]]:
    """Training graph of all but each user's last two items; validation / test targets.

    Item ids ``1..n_items`` become graph items ``0..n_items-1``. Returns the graph and
    ``{"users", "valid", "test"}`` (users with at least 3 items, their targets as graph items).
    """
    kept = [(u, s) for u, s in enumerate(sequences) if len(s) >= 3]
    if not kept:
        raise ValueError("every user has fewer than 3 items: nothing to train and evaluate")
    users = np.concatenate([np.full(len(s) - 2, u) for u, s in kept])
    items = np.concatenate([s[:-2] - 1 for _, s in kept])
    graph = InteractionGraph(users, items, len(sequences), n_items)
    targets = {
        "users": torch.tensor([u for u, _ in kept]),
        "valid": torch.tensor([int(s[-2]) - 1 for _, s in kept]),
        "test": torch.tensor([int(s[-1]) - 1 for _, s in kept]),
    }
    return graph, targets
