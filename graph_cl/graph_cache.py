"""A processed-graph cache that can neither run code nor hand back another data set's graph.

A cache entry is a ``torch.save`` of plain tensors in ``<cache_dir>/<name>-<key>.pt``, where the
key hashes the resolved data root and the SHA-256 of every raw file (its name and bytes), so a
cache built from another root, or from files since changed, is never read. Entries are loaded
with ``torch.load(weights_only=True)`` only: a file that does not load that way (a crafted
pickle, a truncated write) is rebuilt from the raw files with a warning, never retried unsafely.
Writes are atomic (temp file + ``os.replace``).

    >>> tensors = cached_tensors("cora", root, raw_files, cache_dir, lambda: read(...))
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

log = logging.getLogger("contrast")

DEFAULT_CACHE = Path("~/.cache/contrastive_suite/graph")


def cache_key(root: Path, raw_files: list[Path]) -> str:
    """SHA-256 over the resolved ``root`` and each raw file's name and bytes."""
    digest = hashlib.sha256(str(Path(root).expanduser().resolve()).encode())
    for path in raw_files:
        digest.update(path.name.encode())
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def cached_tensors(
    name: str,
    root: Path,
    raw_files: list[Path],
    cache_dir: Path | str,
    build: Callable[[], dict[str, Tensor]],
) -> dict[str, Tensor]:
    """The tensors ``build()`` returns, from the cache when an entry for exactly these files
    exists (module docstring); ``raw_files`` must all exist."""
    key = cache_key(root, raw_files)
    folder = Path(cache_dir or DEFAULT_CACHE).expanduser()
    path = folder / f"{name}-{key[:32]}.pt"
    if path.is_file():
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            if entry.get("key") == key:
                return entry["tensors"]
            log.warning("%s: cache entry of other raw files; rebuilding it", path)
        except Exception as err:  # any failure of the safe load means: rebuild, never unsafe
            log.warning("%s: unreadable cache entry (%s); rebuilding it", path, type(err).__name__)
    tensors = build()
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}-", suffix=".tmp")
    os.close(fd)
    try:
        torch.save({"key": key, "tensors": tensors}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return tensors
