r"""Reading interaction files: the S3Rec / ICLRec ``.txt`` line format and RecBole ``.inter``
files, and downloading the public ones. Bad files are :class:`shared.errors.InputError`\ s that
name the file and the line.

    >>> data = load_sequences("../shared/data/recsys/Beauty.txt")
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np

from recsys_cl.dataset import InteractionSequences
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
