"""Does the objective registry slow the default path? GRACE on Cora (one full-graph epoch) and
MCLRec on Amazon Beauty (one batch of 256), each timed through the method's ``training_step``
(default objective: ``node_objective`` / ``view_objective`` is None) and through the same loss
written without the registry hook (``graph_cl.contrast.node_contrast`` / ``shared.losses.info_nce``
called directly), alternated in one process; forward + backward, one thread. Prints medians, the
ratio of CPU times and of wall-clock times, and the load average; writes JSON with ``--out``.

    OMP_NUM_THREADS=1 python benchmarks/bench_objective_overhead.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from graph_cl.contrast import node_contrast
from graph_cl.data import GraphDataConfig, build_graph
from graph_cl.grace import GRACE, GraceConfig
from recsys_cl.batches import SequenceBatches
from recsys_cl.config import RecsysExperiment, mclrec_config
from recsys_cl.data_io import load_sequences
from recsys_cl.mclrec import MCLRec
from recsys_cl.splits import leave_one_out
from shared.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def timed(step: Callable[[], torch.Tensor]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    step().backward()
    return time.process_time() - cpu, time.perf_counter() - wall


def grace_steps(data_root: Path) -> tuple[Callable, Callable]:
    data = build_graph(GraphDataConfig(name="cora", root=str(data_root / "graph")))
    torch.manual_seed(0)
    model = GRACE(data.num_features, GraceConfig())

    def default() -> torch.Tensor:
        return model.training_step(data)["loss"]

    def direct() -> torch.Tensor:
        saved = model.node_loss
        model.node_loss = lambda h1, h2, published: node_contrast(  # type: ignore[method-assign]
            h1, h2, model.temperature, intra_view_negatives=True, tiled=model.tiled
        )
        try:
            return model.training_step(data)["loss"]
        finally:
            model.node_loss = saved  # type: ignore[method-assign]

    return default, direct


def mclrec_steps(data_root: Path) -> tuple[Callable, Callable]:
    exp = load_config(RecsysExperiment, ROOT / "configs" / "recsys" / "cl4srec_beauty.yaml")
    split = leave_one_out(load_sequences(data_root / "recsys" / "Beauty.txt"), exp.data.max_length)
    torch.manual_seed(0)
    model = MCLRec(split.n_items, exp.model, mclrec_config(exp))
    batch = next(iter(SequenceBatches(split.train, 256, augmenter=exp.augment, seed=0)))

    def default() -> torch.Tensor:
        parts = model.losses(batch)
        return model.total_loss(parts)

    def direct() -> torch.Tensor:
        saved, model.view_objective = model.view_objective, None
        try:
            parts = model.losses(batch)
            return model.total_loss(parts)
        finally:
            model.view_objective = saved

    return default, direct


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    load_before = os.getloadavg()
    rows = []
    for name, (default, direct) in (
        ("GRACE Cora epoch", grace_steps(args.data)),
        ("CL4SRec Beauty batch", mclrec_steps(args.data)),
    ):
        timed(default), timed(direct)  # warm-up
        samples: dict[str, list[tuple[float, float]]] = {"default": [], "direct": []}
        for _ in range(args.repeats):
            samples["default"].append(timed(default))
            samples["direct"].append(timed(direct))
        cpu = {k: statistics.median(c for c, _ in v) for k, v in samples.items()}
        wall = {k: statistics.median(w for _, w in v) for k, v in samples.items()}
        rows.append(
            {
                "case": name,
                "default_cpu_s": cpu["default"],
                "direct_cpu_s": cpu["direct"],
                "cpu_ratio": cpu["default"] / cpu["direct"],
                "wall_ratio": wall["default"] / wall["direct"],
            }
        )
    load_after = os.getloadavg()
    print(f"load average before {load_before}, after {load_after}; {args.repeats} alternations")
    print("| case | default CPU s | without the hook CPU s | CPU ratio | wall ratio |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['default_cpu_s']:.3f} | {r['direct_cpu_s']:.3f} | "
            f"{r['cpu_ratio']:.3f} | {r['wall_ratio']:.3f} |"
        )
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"load": [load_before, load_after], "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
