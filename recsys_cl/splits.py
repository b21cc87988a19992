"""The leave-one-out protocol (S3Rec, CL4SRec, CoSeRec, ICLRec, MCLRec).

For a user with time-ordered items ``s_1..s_n`` the last item is the test target (history
``s_1..s_{n-1}``), the second-to-last the validation target (history ``s_1..s_{n-2}``), and every
earlier position is a training sample: target ``s_t`` with history ``s_1..s_{t-1}`` for
``t = 2..n-2``. Histories keep their most recent ``max_length`` items and are stored left-aligned
(positions start at 0 at the oldest kept item, as in RecBole, which MCLRec is built on), so a batch
can be trimmed to its longest history without changing any output. Users with fewer than 3 items
have no validation and test target; they are left out of every split and counted in
:attr:`LeaveOneOut.n_short_users`.

    >>> split = leave_one_out(data, max_length=50)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from recsys_cl.dataset import InteractionSequences

log = logging.getLogger("contrast")


@dataclass(frozen=True)
class SequenceSamples:
    """(history, target) samples that share one flat item array.

    Sample ``i`` has target ``items[ends[i]]`` and history
    ``items[max(starts[i], ends[i] - L):ends[i]]`` with ``L = max_length``.
    """

    items: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    max_length: int

    def __len__(self) -> int:
        return len(self.ends)

    @property
    def lengths(self) -> np.ndarray:
        return np.minimum(self.ends - self.starts, self.max_length)

    @property
    def targets(self) -> np.ndarray:
        return self.items[self.ends]

    def histories(self, index: np.ndarray | Tensor) -> tuple[Tensor, Tensor]:
        """Left-aligned padded histories (B, longest) and their lengths (B,) for ``index``."""
        index = np.asarray(index, dtype=np.int64)
        ends = self.ends[index]
        lengths = np.minimum(ends - self.starts[index], self.max_length)
        width = max(int(lengths.max(initial=0)), 1)
        offsets = np.arange(width)
        positions = (ends - lengths)[:, None] + offsets[None, :]
        valid = offsets[None, :] < lengths[:, None]
        seqs = np.where(valid, self.items[np.where(valid, positions, 0)], 0)
        return torch.from_numpy(seqs), torch.from_numpy(lengths)

    def batch(self, index: np.ndarray | Tensor) -> dict[str, Tensor]:
        seqs, lengths = self.histories(index)
        targets = torch.from_numpy(self.items[self.ends[np.asarray(index, dtype=np.int64)]])
        return {"seqs": seqs, "lengths": lengths, "targets": targets}


@dataclass(frozen=True)
class LeaveOneOut:
    """Training prefixes, validation and test samples of the leave-one-out protocol."""

    train: SequenceSamples
    valid: SequenceSamples
    test: SequenceSamples
    n_items: int
    n_short_users: int


def leave_one_out(data: InteractionSequences, max_length: int = 50) -> LeaveOneOut:
    """Split ``data`` by the leave-one-out protocol of the module docstring."""
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    kept = [s for s in data.sequences if len(s) >= 3]
    n_short = len(data.sequences) - len(kept)
    if not kept:
        raise ValueError(
            f"{data.name or 'data'}: every user has fewer than 3 items, so no user has a training "
            "part, a validation item and a test item"
        )
    if n_short:
        log.warning(
            "%s: %d user(s) with fewer than 3 items left out of every split",
            data.name or "data",
            n_short,
        )
    lengths = np.array([len(s) for s in kept], dtype=np.int64)
    items = np.concatenate(kept)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    train_starts = np.repeat(starts, lengths - 3)
    within = np.arange(len(train_starts)) - np.repeat(
        np.cumsum(lengths - 3) - (lengths - 3), lengths - 3
    )
    train = SequenceSamples(items, train_starts, train_starts + 1 + within, max_length)
    valid = SequenceSamples(items, starts, starts + lengths - 2, max_length)
    test = SequenceSamples(items, starts, starts + lengths - 1, max_length)
    return LeaveOneOut(train, valid, test, data.n_items, n_short)
