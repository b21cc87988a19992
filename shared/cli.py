"""The ``contrast`` command.

    contrast demo                                   # every domain on synthetic data, one table
    contrast graph pretrain --config configs/graph/gcool_cora.yaml trainer.epochs=50
    contrast info                                   # versions, device, installed domains

Domains plug in through the entry-point group ``contrast.domains``: a zero-argument function that
returns a :class:`Domain`. ``shared`` itself imports no domain package.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import logging
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

from shared.config import ConfigError
from shared.domain import DemoRow, Domain
from shared.errors import CheckpointError

ENTRY_POINT_GROUP = "contrast.domains"

# What a user can cause (a bad file, a bad config value, a missing path): one line and exit 2.
USER_ERRORS = (
    ConfigError,
    ValueError,
    FileNotFoundError,
    IsADirectoryError,
    PermissionError,
    CheckpointError,
)


@dataclass(frozen=True)
class _Unavailable:
    name: str
    reason: str


@dataclass(frozen=True)
class _NotLoaded:
    """A domain listed in ``contrast --help`` without importing it (its package docstring's first
    sentence is the help), so the command starts as fast as ``import torch``."""

    name: str
    help: str


def discover_domains(only: str | None = None) -> list[Domain | _Unavailable]:
    """Load the registered domains (just ``only`` when given, so a domain command does not pay
    for importing the others)."""
    found: list[Domain | _Unavailable] = []
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if only is not None and ep.name != only:
            continue
        try:
            domain = ep.load()()
        except ImportError as err:
            found.append(_Unavailable(ep.name, f"{err} (install contrastive-suite[{ep.name}])"))
            continue
        if not isinstance(domain, Domain):
            found.append(_Unavailable(ep.name, f"{ep.value} did not return a shared.cli.Domain"))
            continue
        found.append(domain)
    return found


def list_domains_lazily() -> list[_NotLoaded]:
    """Every registered domain with a one-line help read from its package's source (nothing is
    imported)."""
    listed = []
    for ep in sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        listed.append(_NotLoaded(ep.name, _package_summary(ep.value.split(".")[0].split(":")[0])))
    return listed


def _package_summary(package: str) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return "(not installed)"
    doc = ast.get_docstring(ast.parse(Path(spec.origin).read_text(encoding="utf-8"))) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    return first.split(". ")[0].rstrip(".:") or package


def build_parser(
    domains: Sequence[Domain | _Unavailable | _NotLoaded],
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="contrast",
        description="Contrastive self-supervised pretraining for graphs, LiDAR+camera, medical "
        "time series and recommendation. Each command takes --config FILE.yaml and key=value "
        "overrides.",
        epilog="Examples:\n  contrast demo\n"
        "  contrast graph pretrain --config configs/graph/gcool_cora.yaml "
        "trainer.epochs=50\n  contrast <domain> --help",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback of an error (bug reports)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo", help="run every domain briefly on synthetic data and print a table"
    )
    demo.add_argument(
        "--out-dir", type=Path, default=Path("runs/demo"), help="where runs are written"
    )
    demo.add_argument(
        "--only", nargs="+", metavar="DOMAIN", help="run only these parts (core, graph, ...)"
    )
    demo.set_defaults(func=_run_demo)

    plot = sub.add_parser("plot", help="draw a run's training curves (metrics.csv) to a PNG")
    plot.add_argument("run_dir", type=Path, help="a trainer.out_dir holding metrics.csv")
    plot.add_argument("--names", nargs="+", help="metric names to draw (default: all)")
    plot.add_argument(
        "--out", type=Path, help="PNG path (default: RUN_DIR/plots/training_curves.png)"
    )
    plot.set_defaults(func=_plot_run)

    objectives = sub.add_parser(
        "objectives", help="the contrastive objectives any method can use (objective.name=...)"
    )
    objectives.set_defaults(func=_print_objectives)

    info = sub.add_parser("info", help="versions, device and which domains are installed")
    info.set_defaults(func=lambda args: _print_info(discover_domains()))

    for domain in domains:
        if isinstance(domain, _NotLoaded):
            sub.add_parser(domain.name, help=domain.help, add_help=False)
            continue
        if isinstance(domain, _Unavailable):
            unavailable = sub.add_parser(domain.name, help=f"(unavailable: {domain.reason})")
            unavailable.set_defaults(func=lambda args, d=domain: _fail_unavailable(d))
            continue
        domain_parser = sub.add_parser(domain.name, help=domain.help, description=domain.help)
        domain_sub = domain_parser.add_subparsers(
            dest="domain_command", metavar="COMMAND", required=True
        )
        domain.add_commands(domain_sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    names = {ep.name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    first = next((a for a in argv if not a.startswith("-")), None)
    domains: list[Domain | _Unavailable | _NotLoaded] = list(
        discover_domains(first) if first in names else list_domains_lazily()
    )
    parser = build_parser(domains)
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as err:
        if args.debug:
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"contrast: error: {message} (--debug shows the traceback)", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (``contrast objectives | head``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print(
            "contrast: interrupted; the last complete checkpoint is kept (use --resume)",
            file=sys.stderr,
        )
        return 130


def _fail_unavailable(domain: _Unavailable) -> int:
    print(
        f"contrast: the '{domain.name}' domain is not available: {domain.reason}", file=sys.stderr
    )
    return 2


def _plot_run(args: argparse.Namespace) -> int:
    from shared.evaluation import plot_training_curves

    csv_path = args.run_dir / "metrics.csv"
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path} not found: is {args.run_dir} a run directory?")
    out = args.out or args.run_dir / "plots" / "training_curves.png"
    print(plot_training_curves(csv_path, out, names=args.names))
    return 0


def _print_objectives(args: argparse.Namespace) -> int:
    from shared.losses.registry import format_objectives_table

    print(format_objectives_table())
    return 0


def _print_info(domains: Sequence[Domain | _Unavailable]) -> int:
    import torch

    print(f"contrastive-suite {metadata.version('contrastive-suite')}")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"cuda available: {torch.cuda.is_available()}"
    )
    for domain in domains:
        status = "ok" if isinstance(domain, Domain) else f"unavailable: {domain.reason}"
        print(f"  {domain.name:<11} {status}")
    return 0


def _run_demo(args: argparse.Namespace) -> int:
    from shared.demo import core_demo
    from shared.evaluation import markdown_table

    domains = discover_domains()
    parts: list[tuple[str, Callable[[Path], list[DemoRow]]]] = [("core", core_demo)]
    parts += [(d.name, d.demo) for d in domains if isinstance(d, Domain)]
    if args.only:
        known = {name for name, _ in parts}
        missing = sorted(set(args.only) - known)
        if missing:
            raise ValueError(
                f"unknown demo part(s) {', '.join(missing)}; choose from {', '.join(sorted(known))}"
            )
        parts = [(name, fn) for name, fn in parts if name in args.only]
    rows: list[DemoRow] = []
    for name, fn in parts:
        start = time.perf_counter()
        logging.getLogger("contrast").info("demo: %s ...", name)
        part_rows = fn(args.out_dir / name)
        seconds = time.perf_counter() - start
        rows += [replace(r, note=r.note or f"{seconds:.0f} s") for r in part_rows]
    for domain in domains:
        if isinstance(domain, _Unavailable) and (not args.only or domain.name in args.only):
            rows.append(DemoRow(domain.name, "-", "skipped", float("nan"), note=domain.reason))
    table: list[dict[str, Any]] = [
        {
            "domain": r.domain,
            "method": r.method,
            "metric": r.metric,
            "value": f"{r.value:.4f}",
            "good looks like": r.reference,
            "note": r.note,
        }
        for r in rows
    ]
    print()
    print(markdown_table(table, ["domain", "method", "metric", "value", "good looks like", "note"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
