"""Checkpoint files: atomic writes, a kept previous ``last.pt``, safe reads, orphan clean-up.

Every checkpoint is a dict of tensors and plain values tagged with :data:`CHECKPOINT_FORMAT`,
written to a temp file in the same folder, fsync'ed and renamed over the target, so a run killed
mid-write leaves the previous file intact. ``last.pt`` also keeps its predecessor as
``last.prev.pt``: when ``last.pt`` cannot be read (a disk fault, a foreign file), a resume falls
back to it with a warning instead of forcing a restart. Reads use ``torch.load(weights_only=True)``
only, so no checkpoint can run code.

    >>> path = save_checkpoint_atomic({"format": CHECKPOINT_FORMAT, "epoch": 3}, "/tmp/x/last.pt")
    >>> load_checkpoint(path)["epoch"]
    3
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from shared.errors import CheckpointError

log = logging.getLogger("contrast")

CHECKPOINT_FORMAT = "contrastive-suite/checkpoint-v1"


def save_checkpoint_atomic(
    state: dict[str, Any], path: str | os.PathLike, *, keep_previous: bool = False
) -> Path:
    """``torch.save`` to a temp file beside ``path``, fsync, then rename over ``path``.

    With ``keep_previous`` the file being replaced stays as ``<stem>.prev<suffix>`` (hard-linked
    before the rename, so ``path`` itself exists at every moment).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        if keep_previous and path.is_file():
            _keep_previous(path)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def previous_path(path: Path) -> Path:
    """Where :func:`save_checkpoint_atomic` keeps the checkpoint it replaced."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def _keep_previous(path: Path) -> None:
    link = path.with_name(f".{path.name}-prev.tmp")
    link.unlink(missing_ok=True)
    os.link(path, link)
    os.replace(link, previous_path(path))


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint_atomic`; errors say what to do."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for truncated / foreign files
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated and cannot be read ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'no detail'}); delete it to start over"
        ) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not a contrastive-suite checkpoint (format {CHECKPOINT_FORMAT})"
        )
    return state


def load_resume_checkpoint(
    path: Path, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, Any], Path]:
    """``path`` (a run's ``last.pt``), or its kept predecessor when ``path`` cannot be read.

    Returns the state and the file it came from.
    """
    try:
        return load_checkpoint(path, map_location), path
    except CheckpointError as err:
        prev = previous_path(path)
        if not prev.is_file():
            raise
        reason = str(err).split("; delete it")[0]
        log.warning("%s; resuming from the previous checkpoint %s instead", reason, prev)
        return load_checkpoint(prev, map_location), prev


def remove_orphan_temp_files(folder: Path) -> list[Path]:
    """Delete the ``.<name>-*.tmp`` files a killed write left in ``folder``; returns them."""
    removed = sorted(folder.glob(".*-*.tmp")) if folder.is_dir() else []
    for tmp in removed:
        tmp.unlink(missing_ok=True)
    if removed:
        log.info("removed %d unfinished temp file(s) of a killed run in %s", len(removed), folder)
    return removed


def load_model_weights(model: torch.nn.Module, path: str | os.PathLike) -> dict[str, Any]:
    """Load the ``"model"`` weights of checkpoint ``path`` into ``model``; a checkpoint of another
    architecture or config is a :class:`CheckpointError` that says so. Returns the checkpoint."""
    state = load_checkpoint(path)
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError) as err:
        raise CheckpointError(
            f"checkpoint {path} does not fit this model (another method or config?): "
            f"{str(err).splitlines()[0]}"
        ) from err
    return state
