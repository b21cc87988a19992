"""The contract a domain package fulfils to plug into ``contrast``, and the verbs every domain
shares.

A domain registers a zero-argument function under the entry-point group ``contrast.domains``
(``graph = "graph_cl.cli:domain"``) that returns a :class:`Domain`. Its ``add_commands`` adds the
same verbs in every domain with the helpers here:

- ``pretrain`` (:func:`add_config_command`): the contrastive training stage;
- ``finetune`` where the domain has a supervised stage;
- ``evaluate`` (:func:`add_evaluate_command`): ``--checkpoint`` defaulting to
  :func:`default_checkpoint` (``best.pt`` when it exists, else ``last.pt``);
- ``summarize`` (:func:`add_summarize_command`): mean ± std over several run folders.

    >>> def add_commands(sub):
    ...     add_config_command(sub, "pretrain", "train, then evaluate", _pretrain)
    ...     add_evaluate_command(sub, "evaluate a checkpoint", _evaluate)
    ...     add_summarize_command(sub)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from shared.config import load_config

T = TypeVar("T")


@dataclass(frozen=True)
class DemoRow:
    """One line of the ``contrast demo`` results table; ``reference`` says what good looks like
    (chance level, or the random-init / raw-feature score to beat)."""

    domain: str
    method: str
    metric: str
    value: float
    reference: str = ""
    note: str = ""


@dataclass(frozen=True)
class Domain:
    """A domain's commands and its demo, as registered under ``contrast.domains``."""

    name: str
    help: str
    add_commands: Callable[[argparse._SubParsersAction], None]
    demo: Callable[[Path], list[DemoRow]]


def add_config_command(
    sub: argparse._SubParsersAction,
    name: str,
    help: str,
    func: Callable[[argparse.Namespace], int],
    *,
    aliases: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """A training command taking ``--config PATH``, ``--resume`` and ``key=value`` overrides; it
    runs ``func(args)``. Returns the parser for command-specific arguments."""
    parser = sub.add_parser(name, help=help, description=help, aliases=list(aliases))
    _config_arguments(parser)
    parser.add_argument("--resume", action="store_true", help="continue from OUT_DIR/last.pt")
    parser.set_defaults(func=func)
    return parser


def add_evaluate_command(
    sub: argparse._SubParsersAction, help: str, func: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    """``evaluate --config PATH [--checkpoint FILE] [key=value ...]``."""
    parser = sub.add_parser("evaluate", help=help, description=help)
    _config_arguments(parser)
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="checkpoint to evaluate (default: <trainer.out_dir>/best.pt when it exists, else "
        "last.pt)",
    )
    parser.set_defaults(func=func)
    return parser


def add_summarize_command(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """``summarize RUN_DIR ...``: one mean ± std table over the runs' ``metrics.json``."""
    parser = sub.add_parser(
        "summarize",
        help="mean ± std of several runs' metrics.json, grouped by method",
        description="Read RUN_DIR/metrics.json and RUN_DIR/config.yaml of each run and print one "
        "table: mean ± std over runs with the same method (e.g. several seeds).",
    )
    parser.add_argument("run_dirs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument("--metrics", nargs="+", help="metrics to show (default: all shared ones)")
    parser.add_argument("--by", default="method", help="config key that groups runs (dotted)")
    parser.add_argument("--out", type=Path, help="also write the table as JSON here")
    parser.set_defaults(func=_summarize)
    return parser


def _summarize(args: argparse.Namespace) -> int:
    from shared.summarize import print_summary

    return print_summary(args.run_dirs, metrics=args.metrics, by=args.by, out=args.out)


def _config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, help="YAML experiment config (defaults: synthetic demo)"
    )
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="KEY=VALUE",
        help="dotted overrides, e.g. trainer.epochs=50 trainer.out_dir=runs/x",
    )


def load_experiment(cls: type[T], args: argparse.Namespace) -> T:
    """The experiment config from ``--config`` and overrides (``--resume`` sets trainer.resume)."""
    overrides = list(args.overrides)
    if getattr(args, "resume", False):
        overrides.append("trainer.resume=true")
    return load_config(cls, args.config, overrides)


def default_checkpoint(out_dir: str | Path) -> Path:
    """``out_dir/best.pt`` when it exists (the run validated), else ``out_dir/last.pt``."""
    best = Path(out_dir) / "best.pt"
    return best if best.is_file() else Path(out_dir) / "last.pt"
