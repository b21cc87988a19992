"""A run's metric history: ``metrics.csv`` (epoch, step, split, name, value) and TensorBoard
scalars, both written only by the main rank.

On resume the rows written after the checkpoint being resumed are dropped and the kept ones are
written back atomically (temp file + rename) before the file is reopened for appending, so a run
killed at any moment leaves either the old or the new history, never an empty file.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

COLUMNS = ("epoch", "step", "split", "name", "value")


class MetricsLog:
    """Appends metric rows to ``out_dir/metrics.csv`` and ``out_dir/tensorboard``.

    Args:
        out_dir: the run folder.
        keep_epochs: on resume, the last epoch of the checkpoint (rows of later epochs are
            dropped); None starts a new history.
        global_step: TensorBoard events after this step are purged (resume).
        tensorboard: write TensorBoard events too.
    """

    def __init__(
        self, out_dir: Path, *, keep_epochs: int | None, global_step: int, tensorboard: bool
    ) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / "metrics.csv"
        kept: list[list[str]] = []
        if keep_epochs is not None and self.path.is_file():
            with self.path.open(newline="") as fh:
                rows = list(csv.reader(fh))[1:]
            kept = [row for row in rows if len(row) == len(COLUMNS) and _epoch(row) <= keep_epochs]
        _write_atomic(self.path, [list(COLUMNS), *kept])
        self._fh = self.path.open("a", newline="")
        self._writer = csv.writer(self._fh)
        self._tb: Any = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(out_dir / "tensorboard"), purge_step=global_step)

    def log(self, split: str, values: Mapping[str, float], step: int, epoch: int) -> None:
        """One row per value; ``epoch`` is the 1-based epoch the values belong to."""
        for name, value in values.items():
            self._writer.writerow([epoch, step, split, name, f"{value:.8g}"])
            if self._tb is not None:
                self._tb.add_scalar(f"{split}/{name}", value, step)
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def _epoch(row: list[str]) -> int:
    try:
        return int(row[0])
    except ValueError:
        return 1 << 62  # an unreadable row is dropped


def _write_atomic(path: Path, rows: list[list[str]]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
