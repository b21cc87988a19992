"""Feedback while an epoch (or any long loop, such as an evaluation over 20 splits) runs: a tqdm
bar with ETA on a terminal, a log line every 30 s elsewhere (CI, nohup, a file), nothing when
``trainer.progress`` is off.

    >>> bar = EpochProgress(range(3), desc="epoch 1/5", enabled=True)
    >>> for batch in bar:
    ...     bar.set_values(loss=0.5)
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

log = logging.getLogger("contrast")

LOG_EVERY_S = 30.0


def format_duration(seconds: float) -> str:
    """``1:02:03`` / ``02:03`` for an ETA or elapsed time."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class EpochProgress:
    """Iterate ``batches`` and report progress.

    Args:
        batches: the epoch's batches (its ``len`` gives the total and the ETA when it has one).
        desc: the label, e.g. ``"epoch 3/10"``.
        enabled: ``trainer.progress``.
        terminal: draw a bar (default: whether stderr is a terminal); otherwise a log line is
            written at most every ``log_every_s`` seconds.
        unit: what one item is called in the bar and the log line.
    """

    def __init__(
        self,
        batches: Iterable[Any],
        *,
        desc: str,
        enabled: bool,
        terminal: bool | None = None,
        log_every_s: float = LOG_EVERY_S,
        unit: str = "batch",
    ) -> None:
        self.batches = batches
        self.desc = desc
        self.enabled = enabled
        self.terminal = sys.stderr.isatty() if terminal is None else terminal
        self.log_every_s = log_every_s
        self.unit = unit
        self.total = len(batches) if hasattr(batches, "__len__") else None  # type: ignore[arg-type]
        self.values: dict[str, str] = {}
        self._bar: Any = None

    def set_values(self, **values: float) -> None:
        """The latest numbers to show (e.g. loss, samples/s)."""
        self.values = {k: f"{v:.4g}" for k, v in values.items()}
        if self._bar is not None:
            self._bar.set_postfix(self.values, refresh=False)

    def __iter__(self) -> Iterator[Any]:
        if not self.enabled:
            yield from self.batches
            return
        if self.terminal:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                self.batches,
                total=self.total,
                desc=self.desc,
                unit=self.unit,
                leave=False,
                dynamic_ncols=True,
            )
            try:
                yield from self._bar
            finally:
                self._bar.close()
                self._bar = None
            return
        start = last = time.perf_counter()
        for done, batch in enumerate(self.batches, start=1):
            yield batch
            now = time.perf_counter()
            if now - last >= self.log_every_s:
                last = now
                log.info("%s", self.line(done, now - start))

    def line(self, done: int, elapsed: float) -> str:
        """The log line after ``done`` batches in ``elapsed`` seconds."""
        parts = [self.desc]
        if self.total:
            eta = elapsed / done * (self.total - done)
            parts.append(f"{self.unit} {done}/{self.total} ({100 * done / self.total:.0f}%)")
            parts.append(f"elapsed {format_duration(elapsed)}, ETA {format_duration(eta)}")
        else:
            parts.append(f"{self.unit} {done}, elapsed {format_duration(elapsed)}")
        parts.append(f"{done / max(elapsed, 1e-9):.3g} {self.unit}/s")
        parts += [f"{k} {v}" for k, v in self.values.items()]
        return "  ".join(parts)
