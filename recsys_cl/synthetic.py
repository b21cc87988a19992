"""A synthetic interaction data set with planted structure (users' tastes walking an item Markov
chain), the embedded default of the recsys domain.

    >>> data = synthetic_sequences(n_users=600, n_items=300)
"""

from __future__ import annotations

import numpy as np

from recsys_cl.dataset import InteractionSequences


def synthetic_sequences(
    n_users: int = 1000,
    n_items: int = 300,
    n_tastes: int = 10,
    mean_length: float = 12.0,
    follow_prob: float = 0.75,
    successors: int = 3,
    seed: int = 0,
) -> InteractionSequences:
    """Users with latent tastes walking an item Markov chain (the embedded default data set).

    Items fall into ``n_tastes`` equal groups; each item has ``successors`` likely next items in its
    own group. A user has a taste mixture ``pi ~ Dirichlet(0.2)``; the first item is drawn from a
    taste ``~ pi``; each next item follows the current item's chain with probability
    ``follow_prob`` (uniform over its successors) and otherwise jumps to a uniform item of a taste
    ``~ pi``. Lengths are ``5 + Poisson(mean_length - 5)`` (a 5-core-like minimum), items never
    repeat back-to-back. A sequential model can learn both the chain and the user's tastes.
    """
    if n_items < n_tastes * (successors + 1):
        raise ValueError(
            f"n_items={n_items} is too small for {n_tastes} tastes of >{successors} items"
        )
    if not 0 <= follow_prob <= 1:
        raise ValueError(f"follow_prob must be in [0, 1], got {follow_prob}")
    if mean_length < 5:
        raise ValueError(f"mean_length must be >= 5, got {mean_length}")
    rng = np.random.default_rng(seed)
    group = np.arange(n_items) * n_tastes // n_items
    members = [np.flatnonzero(group == g) for g in range(n_tastes)]
    succ = np.stack(
        [
            rng.choice(members[group[i]][members[group[i]] != i], size=successors, replace=False)
            for i in range(n_items)
        ]
    )
    sequences = []
    for _ in range(n_users):
        taste = rng.dirichlet(np.full(n_tastes, 0.2))
        length = 5 + rng.poisson(mean_length - 5)
        seq = [int(rng.choice(members[rng.choice(n_tastes, p=taste)]))]
        while len(seq) < length:
            if rng.random() < follow_prob:
                nxt = int(rng.choice(succ[seq[-1]]))
            else:
                nxt = int(rng.choice(members[rng.choice(n_tastes, p=taste)]))
            if nxt != seq[-1]:
                seq.append(nxt)
        sequences.append(np.asarray(seq, dtype=np.int64) + 1)
    users = [str(u + 1) for u in range(n_users)]
    return InteractionSequences(users, sequences, n_items, name="synthetic")
