"""Interaction sequences: every user's time-ordered item ids.

Item ids are integers ``1..n_items``; ``0`` is the padding id (and the id masked items take).
Loaders make the ids contiguous, so full ranking runs over exactly the items that occur; the file's
own token of each id is kept in :attr:`InteractionSequences.item_tokens`.

    >>> data = InteractionSequences(["u1"], [np.array([3, 1, 2])], n_items=3)
    >>> data.stats()["interactions"]
    3
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class InteractionSequences:
    """Every user's time-ordered item ids (``1..n_items``); ``item_tokens[i - 1]`` is the file's
    token of id ``i`` (``None``: the ids are the file's own)."""

    users: list[str]
    sequences: list[np.ndarray]
    n_items: int
    name: str = ""
    item_tokens: list[str] | None = None

    def __post_init__(self) -> None:
        if len(self.users) != len(self.sequences):
            raise ValueError(f"{len(self.users)} users but {len(self.sequences)} sequences")
        if not self.sequences:
            raise ValueError(f"{self.name or 'data'}: no user has any interaction")
        for user, seq in zip(self.users, self.sequences, strict=True):
            if len(seq) == 0:
                raise ValueError(f"{self.name or 'data'}: user {user} has an empty sequence")
            if seq.min() < 1 or seq.max() > self.n_items:
                raise ValueError(
                    f"{self.name or 'data'}: user {user} has item ids outside 1..{self.n_items} "
                    "(0 is the padding id)"
                )
        if self.item_tokens is not None and len(self.item_tokens) != self.n_items:
            raise ValueError(f"{len(self.item_tokens)} item tokens for {self.n_items} item ids")

    @property
    def n_interactions(self) -> int:
        return int(sum(len(s) for s in self.sequences))

    def stats(self) -> dict[str, float]:
        return {
            "users": len(self.users),
            "items": self.n_items,
            "interactions": self.n_interactions,
            "avg_length": self.n_interactions / len(self.users),
        }
