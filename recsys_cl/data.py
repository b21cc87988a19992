"""Interaction sequences: loaders, the leave-one-out protocol, batches and a synthetic generator.

Item ids are integers ``1..n_items``; ``0`` is the padding id (and the id masked items take).
Loaders make the ids contiguous, so full ranking runs over exactly the items that occur; the file's
own token of each id is kept in :attr:`InteractionSequences.item_tokens`.

Protocol (S3Rec, CL4SRec, CoSeRec, ICLRec, MCLRec): for a user with time-ordered items
``s_1..s_n`` the last item is the test target (history ``s_1..s_{n-1}``), the second-to-last the
validation target (history ``s_1..s_{n-2}``), and every earlier position is a training sample:
target ``s_t`` with history ``s_1..s_{t-1}`` for ``t = 2..n-2``. Histories keep their most recent
``max_length`` items and are stored left-aligned (positions start at 0 at the oldest kept item,
as in RecBole, which MCLRec is built on), so a batch can be trimmed to its longest history without
changing any output. Users with fewer than 3 items have no validation and test target; they are
left out of every split and counted in :attr:`LeaveOneOut.n_short_users`.
"""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from recsys_cl.augment import SequenceAugmenter
from shared.errors import InputError

log = logging.getLogger("contrast")

#: Public download paths of the preprocessed files (S3Rec / ICLRec / MCLRec line of work).
PUBLIC_URLS: dict[str, str] = {
    "Beauty.txt": "https://raw.githubusercontent.com/salesforce/ICLRec/master/data/Beauty.txt",
    "Sports_and_Outdoors.txt": (
        "https://raw.githubusercontent.com/salesforce/ICLRec/master/data/Sports_and_Outdoors.txt"
    ),
    "Toys_and_Games.txt": (
        "https://raw.githubusercontent.com/salesforce/ICLRec/master/data/Toys_and_Games.txt"
    ),
    "Yelp.txt": "https://raw.githubusercontent.com/salesforce/ICLRec/master/data/Yelp.txt",
    "Amazon_Beauty.inter": (
        "https://raw.githubusercontent.com/QinHsiu/MCLRec/master/dataset/Amazon_Beauty/Amazon_Beauty.inter"
    ),
    "Amazon_Sports_and_Outdoors.inter": (
        "https://raw.githubusercontent.com/QinHsiu/MCLRec/master/dataset/"
        "Amazon_Sports_and_Outdoors/Amazon_Sports_and_Outdoors.inter"
    ),
}


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


def download(name: str, root: str | Path) -> Path:
    """Fetch one of :data:`PUBLIC_URLS` into ``root`` (needs internet); returns the local path."""
    if name not in PUBLIC_URLS:
        raise ValueError(f"no public download path for '{name}'; known: {', '.join(PUBLIC_URLS)}")
    import urllib.request

    path = Path(root) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    urllib.request.urlretrieve(PUBLIC_URLS[name], tmp)
    tmp.replace(path)
    return path


def load_txt(path: str | Path) -> InteractionSequences:
    """Read the ``user item_1 item_2 ...`` format (one user per line, items in time order).

    Item ids must be positive integers (0 is reserved for padding). Files whose ids already run
    over ``1..max`` (the Amazon files of the S3Rec line) keep them; a file with unused ids in that
    range (MovieLens raw movie ids) has its ids renumbered ``1..n_items`` in increasing order, the
    original ids kept as ``item_tokens``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; pass the folder holding it "
            "(e.g. data.root=../shared/data/recsys)"
            + (f" or download it from {PUBLIC_URLS[path.name]}" if path.name in PUBLIC_URLS else "")
        )
    text = _read_text(path)
    users: list[str] = []
    sequences: list[np.ndarray] = []
    seen: set[str] = set()
    lines = text.split("\n")
    for line_no, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        user, items = parts[0], parts[1:]
        if not items:
            raise InputError(f"{path} line {line_no}: user {user} has no items")
        if user in seen:
            raise InputError(f"{path} line {line_no}: user {user} appears on more than one line")
        seq = _item_ids(items, path, line_no)
        seen.add(user)
        users.append(user)
        sequences.append(seq)
    if lines[-1].strip():
        log.warning(
            "%s: the last line (%d) does not end with a newline; if the file was cut short, "
            "user %s's sequence is incomplete",
            path,
            len(lines),
            users[-1],
        )
    if not sequences:
        raise InputError(f"{path} holds no interactions")
    used = np.unique(np.concatenate(sequences))
    if used[-1] == len(used):
        return InteractionSequences(users, sequences, len(used), name=path.stem)
    log.info(
        "%s: %d distinct item ids between 1 and %d; renumbered 1..%d (item_tokens keeps the "
        "file's ids)",
        path.name,
        len(used),
        used[-1],
        len(used),
    )
    sequences = [np.searchsorted(used, seq) + 1 for seq in sequences]
    tokens = [str(i) for i in used]
    return InteractionSequences(users, sequences, len(used), name=path.stem, item_tokens=tokens)


_INT64_MAX = np.iinfo(np.int64).max


def _read_text(path: Path) -> str:
    """The UTF-8 text of ``path``; a binary or non-UTF-8 file is an error naming its line."""
    raw = path.read_bytes()
    if b"\x00" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\x00")) + 1
        raise InputError(
            f"{path} line {line}: a NUL byte, so this is a binary file, not interaction text"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise InputError(
            f"{path} line {line}: not UTF-8 text (byte 0x{raw[err.start]:02x}); "
            "convert the file to UTF-8"
        ) from None


def _item_ids(tokens: list[str], path: Path, line_no: int) -> np.ndarray:
    """Item ids of one line: ASCII decimal integers from 1 to 2**63 - 1."""
    joined = "".join(tokens)
    if joined.isascii() and joined.isdigit() and max(map(len, tokens)) <= 18:  # the usual line
        seq = np.array(list(map(int, tokens)), dtype=np.int64)
        if seq.min() >= 1:
            return seq
    for token in tokens:
        digits = token[1:] if token.startswith("-") else token
        if not (digits.isascii() and digits.isdigit()):
            raise InputError(f"{path} line {line_no}: item id {token!r} is not an integer")
        if token.startswith("-") or int(token) == 0:
            raise InputError(
                f"{path} line {line_no}: item id {int(token)} is not allowed; ids start at 1 "
                "because 0 is the padding id"
            )
        if len(token) > 18 and int(token) > _INT64_MAX:
            raise InputError(
                f"{path} line {line_no}: item id {token} has {len(token)} digits; ids must be at "
                f"most {_INT64_MAX} (a 64-bit integer)"
            )
    return np.array([int(t) for t in tokens], dtype=np.int64)


def load_inter(path: str | Path) -> InteractionSequences:
    """Read a RecBole atomic ``.inter`` file (tab-separated, header ``name:type`` per column).

    Needs ``user_id`` and ``item_id`` columns; when a ``timestamp`` column exists each user's items
    are ordered by it (stable, so ties keep file order), otherwise file order is time order. Item
    tokens are mapped to ids ``1..n_items`` in order of first appearance.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    text = _read_text(path)
    if not text.strip():
        raise InputError(f"{path} is empty; a .inter file starts with a header line")
    try:
        frame = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
    except pd.errors.ParserError as err:
        raise InputError(f"{path}: not a tab-separated .inter file ({err})") from None
    columns = {c.split(":")[0]: c for c in frame.columns}
    missing = [c for c in ("user_id", "item_id") if c not in columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; header is {list(frame.columns)}")
    if frame.empty:
        raise InputError(f"{path} holds no interactions")
    users = frame[columns["user_id"]]
    items = frame[columns["item_id"]]
    empty = (users == "") | (items == "")
    if empty.any():
        raise InputError(
            f"{path} line {int(empty.to_numpy().argmax()) + 2}: empty user or item token "
            "(a truncated last line?)"
        )
    item_ids, tokens = pd.factorize(items)
    order = frame.assign(_item=item_ids + 1, _row=np.arange(len(frame)))
    if "timestamp" in columns:
        order["_time"] = pd.to_numeric(order[columns["timestamp"]], errors="coerce")
        bad = order["_time"].isna().to_numpy()
        if bad.any():
            row = int(bad.argmax())
            raise InputError(
                f"{path} line {row + 2}: timestamp {frame[columns['timestamp']].iloc[row]!r} "
                "is not a number"
            )
        order = order.sort_values(["_time", "_row"], kind="stable")
    grouped = order.groupby(users.loc[order.index], sort=False)["_item"]
    user_list, sequences = [], []
    for user, group in grouped:
        user_list.append(str(user))
        sequences.append(group.to_numpy(dtype=np.int64))
    return InteractionSequences(
        user_list, sequences, len(tokens), name=path.stem, item_tokens=[str(t) for t in tokens]
    )


def load_sequences(path: str | Path) -> InteractionSequences:
    """:func:`load_txt` or :func:`load_inter` by file extension."""
    path = Path(path)
    if path.suffix == ".inter":
        return load_inter(path)
    if path.suffix == ".txt":
        return load_txt(path)
    raise InputError(f"{path}: unknown format '{path.suffix}'; expected .txt or .inter")


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
