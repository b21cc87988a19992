"""Training batches of (history, target) samples, with CL4SRec's two augmented views when the
method contrasts them.

    >>> for batch in SequenceBatches(split.train, 256, augmenter=SequenceAugmenter(), seed=0): ...
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import torch
from torch import Tensor

from recsys_cl.augment import SequenceAugmenter
from recsys_cl.splits import SequenceSamples


class SequenceBatches:
    """Re-iterable shuffled training batches; with an augmenter each batch also holds two views.

    Randomness comes from :attr:`generator` (a ``torch.Generator`` the trainer checkpoints), so a
    resumed run sees the same batches and views.
    """

    def __init__(
        self,
        samples: SequenceSamples,
        batch_size: int,
        *,
        augmenter: SequenceAugmenter | None = None,
        seed: int = 0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if len(samples) == 0:
            raise ValueError("no training samples (every user has fewer than 4 items?)")
        self.samples = samples
        self.batch_size = batch_size
        self.augmenter = augmenter
        self.generator = torch.Generator().manual_seed(seed)

    def _bounds(self) -> list[int]:
        """Batch boundaries; a final batch of one sample joins the previous one (an in-batch
        contrastive loss needs two rows)."""
        n = len(self.samples)
        bounds = [*range(0, n, self.batch_size), n]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] == 1:
            del bounds[-2]
        return bounds

    def __len__(self) -> int:
        return len(self._bounds()) - 1

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        order = torch.randperm(len(self.samples), generator=self.generator).numpy()
        bounds = self._bounds()
        for start, stop in itertools.pairwise(bounds):
            index = order[start:stop]
            batch = self.samples.batch(index)
            if self.augmenter is not None:
                seed = int(torch.randint(2**62, (), generator=self.generator))
                batch.update(self.augmenter.two_views(batch["seqs"], batch["lengths"], seed))
            yield batch
