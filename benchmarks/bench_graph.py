"""Epoch time and memory of GRACE and gCooL (dense vs tiled contrast) on Cora, Amazon-Computers
and Coauthor-CS, with the official GRACE code on Cora, alternated in one process.

Per data set every implementation is built first (same graph object, same seed); then
``--warmup`` untimed and ``--rounds`` timed rounds each run one training epoch (full graph, both
views, forward + backward + Adam) of every implementation in turn, so load drift on a shared
machine hits all of them alike. Each implementation's first epoch is watched by a dispatch mode
that records the largest tensor any op produces, forward or backward: its shape and its size over
N^2 show whether an epoch builds an N x N matrix. Per implementation the table gives the median
wall-clock and CPU seconds (``time.process_time``) per timed epoch, both as ratios to the reference
row (``grace-tiled`` for GRACE-style rows, ``gcool-tiled`` for gCooL), and the epoch's working set:
the peak resident memory during the epoch above the resident memory just before it (the peak is
reset through ``/proc/self/clear_refs`` before each epoch, so it is that epoch's own). The load
average before and after is recorded.

Hyper-parameters are the shipped configs: ``grace_cora.yaml`` / ``gcool_cora.yaml`` on Cora,
``gcool_{computers,cs}.yaml`` on the others (GRACE there takes the same encoder, views and
temperature without the community terms). The official GRACE row (github.com/CRIPAC-DIG/GRACE,
``model.py``; pass a checkout with ``--official-grace PATH``, it is never part of this repository)
runs its ``Model.loss`` and its ``train()`` step on the same Cora graph with the official Cora
settings; without the path the row is skipped. Above ``graph_cl.contrast.DENSE_MAX_NODES``
nodes the node contrast is tiled whatever the config says, so there the dense rows are skipped and
listed. ``sbm100k`` (a 100,000-node block model, one epoch takes minutes) runs only when named;
so do Computers and CS, whose epochs at the official widths take minutes of CPU each on one
thread, and the multiplex ACM (``gcool_acm.yaml``; PLP layer 2.2 M edges).

``--messages`` adds, for every implementation, a twin ``<impl>+messages`` whose encoders propagate
as before the sparse-matrix propagation of ``graph_cl.encoders``: each layer is PyG's ``GCNConv``
called on the edge index (one hidden-width message per edge, scatter-added), the same function
with the same parameters (``tests/graph_cl/test_sparse_propagation.py``). The twin starts from the
same seed and runs alternately with its sparse original; its ratios are to that original.
``--impls`` keeps only the named implementations (and their twins).

    CONTRAST_DATA=../shared/data python benchmarks/bench_graph.py --data cora \\
        --official-grace /tmp/GRACE
    python benchmarks/bench_graph.py --data computers cs --warmup 0 --rounds 1 \\
        --out benchmarks/results/graph.json
    python benchmarks/bench_graph.py --data acm --impls gcool-tiled --messages --rounds 3

The table is printed; ``--out`` writes the JSON (the committed results change only when named).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import MethodType

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch_geometric.data import Data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from graph_cl.config import GraphExperiment  # noqa: E402
from graph_cl.contrast import DENSE_MAX_NODES  # noqa: E402
from graph_cl.data import (  # noqa: E402
    GraphDataConfig,
    build_graph,
    edge_layers,
)
from graph_cl.encoders import GCNEncoder  # noqa: E402
from graph_cl.gcool import GCooL  # noqa: E402
from graph_cl.grace import GRACE, GraceConfig  # noqa: E402
from shared.config import load_config  # noqa: E402

CONFIGS = {
    "cora": ("grace_cora.yaml", "gcool_cora.yaml"),
    "computers": ("gcool_computers.yaml", "gcool_computers.yaml"),
    "cs": ("gcool_cs.yaml", "gcool_cs.yaml"),
    "sbm100k": ("gcool_synthetic.yaml", "gcool_synthetic.yaml"),
    "acm": ("gcool_acm.yaml", "gcool_acm.yaml"),
}
MESSAGES = "+messages"
Epoch = Callable[[], float]


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _release_and_reset_peak() -> None:
    """Return freed heap to the system and start a new peak-RSS window (Linux >= 4.0)."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    Path("/proc/self/clear_refs").write_text("5")


class LargestTensor(TorchDispatchMode):
    """Records the largest dense tensor any op (forward or backward) produces while active (a
    sparse matrix's ``numel`` is its logical N x N size, not what it stores; its index and value
    tensors are dense and counted)."""

    def __init__(self) -> None:
        super().__init__()
        self.numel = 0
        self.shape: tuple[int, ...] = ()
        self.op = ""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.layout == torch.strided and t.numel() > self.numel:
                self.numel, self.shape, self.op = t.numel(), tuple(t.shape), str(func)
        return out


def _experiment(name: str) -> GraphExperiment:
    return load_config(GraphExperiment, ROOT / "configs" / "graph" / name, [])


def _data_config(data: str) -> GraphDataConfig:
    exp = _experiment(CONFIGS[data][1])
    if data == "sbm100k":
        return dataclasses.replace(exp.data, sbm_nodes=100_000, sbm_blocks=10, sbm_feature_dim=64)
    root = Path(os.environ.get("CONTRAST_DATA", ROOT.parent / "shared" / "data")) / "graph"
    return dataclasses.replace(exp.data, root=str(root))


def _message_passing(encoder: GCNEncoder, x: Tensor, edge_index: Tensor) -> Tensor:
    """The encoder's function with PyG's message passing: each layer ``GCNConv(x, edge_index)``."""
    for conv in encoder.convs:
        x = encoder.act(conv(x, edge_index))
    return x


def _ours(method: str, tiled: bool, data: str, graph: Data, messages: bool = False) -> Epoch:
    grace_exp, gcool_exp = (_experiment(c) for c in CONFIGS[data])
    torch.manual_seed(0)
    model: GRACE | GCooL
    if method == "gcool":
        exp = gcool_exp
        cfg_gcool = dataclasses.replace(exp.gcool, tiled=tiled)
        model = GCooL(graph.num_features, cfg_gcool, num_edge_layers=len(edge_layers(graph)))
    else:
        exp = grace_exp
        base = exp.grace if exp.method == "grace" else exp.gcool
        cfg = GraceConfig(
            encoder=base.encoder, views=base.views, temperature=base.temperature, tiled=tiled
        )
        model = GRACE(graph.num_features, cfg, num_edge_layers=len(edge_layers(graph)))
    if messages:
        for encoder in model.encoders:
            encoder.forward = MethodType(_message_passing, encoder)
    opt = torch.optim.Adam(
        model.parameters(), lr=exp.trainer.lr, weight_decay=exp.trainer.weight_decay
    )

    def epoch() -> float:
        model.train()
        loss = model.training_step(graph)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    return epoch


def _official_grace(checkout: Path, graph: Data) -> Epoch:
    """One step of the official ``train()`` (train.py) with the official Cora settings."""
    import torch.nn.functional as F
    from torch_geometric.nn import GCNConv
    from torch_geometric.utils import dropout_edge

    sys.path.insert(0, str(checkout))
    from model import (  # type: ignore[import-not-found]  # official GRACE model.py
        Encoder,
        Model,
        drop_feature,
    )

    torch.manual_seed(0)
    encoder = Encoder(graph.num_features, 128, F.relu, base_model=GCNConv, k=2)
    model = Model(encoder, 128, 128, 0.4)
    opt = torch.optim.Adam(model.parameters(), lr=0.0005, weight_decay=0.00001)

    def epoch() -> float:
        model.train()
        opt.zero_grad()
        # dropout_adj(edge_index, p)[0] of the official code, renamed in PyG 2.3
        edge_index_1 = dropout_edge(graph.edge_index, p=0.2)[0]
        edge_index_2 = dropout_edge(graph.edge_index, p=0.4)[0]
        z1 = model(drop_feature(graph.x, 0.3), edge_index_1)
        z2 = model(drop_feature(graph.x, 0.4), edge_index_2)
        loss = model.loss(z1, z2, batch_size=0)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return float(loss.detach())

    return epoch


def bench_data(
    data: str,
    warmup: int,
    rounds: int,
    official: Path | None,
    keep: list[str] | None = None,
    messages: bool = False,
) -> tuple[list[dict], list[str]]:
    graph = build_graph(_data_config(data))
    impls: dict[str, Epoch] = {}
    skipped = []
    for method in ("grace", "gcool"):
        for kind in ("dense", "tiled"):
            if kind == "dense" and graph.num_nodes > DENSE_MAX_NODES:
                skipped.append(
                    f"{data} {method}-dense: {graph.num_nodes:,} nodes > DENSE_MAX_NODES "
                    f"({DENSE_MAX_NODES:,}), the node contrast is tiled"
                )
                continue
            name = f"{method}-{kind}"
            if keep is not None and name not in keep:
                continue
            impls[name] = _ours(method, kind == "tiled", data, graph)
            if messages:
                impls[name + MESSAGES] = _ours(method, kind == "tiled", data, graph, True)
    if data == "sbm100k":
        impls = {k: v for k, v in impls.items() if k.startswith("gcool-tiled")}
    if data == "cora" and official is not None and (keep is None or "official-grace" in keep):
        impls["official-grace"] = _official_grace(official, graph)
    largest = {name: LargestTensor() for name in impls}
    samples: dict[str, list[tuple[float, float, float, float]]] = {k: [] for k in impls}
    for round_index in range(warmup + rounds):
        for name, epoch in impls.items():
            watch = largest[name] if round_index == 0 else contextlib.nullcontext()
            _release_and_reset_peak()
            before = _status_kib("VmRSS")
            wall, cpu = time.perf_counter(), time.process_time()
            with watch:
                loss = epoch()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            peak = _status_kib("VmHWM")
            print(
                f"{data} round {round_index + 1}/{warmup + rounds} {name}: {wall:.2f} s wall, "
                f"{cpu:.2f} s CPU, +{(peak - before) / 1024:.0f} MiB, loss {loss:.4f}"
                + (" (warm-up)" if round_index < warmup else ""),
                flush=True,
            )
            if round_index >= warmup:
                samples[name].append((wall, cpu, (peak - before) / 1024, loss))
    medians = {
        k: (statistics.median(s[0] for s in v), statistics.median(s[1] for s in v))
        for k, v in samples.items()
    }
    rows = []
    for name, runs in samples.items():
        reference = "gcool-tiled" if name.startswith("gcool") else "grace-tiled"
        if name.endswith(MESSAGES):
            reference = name.removesuffix(MESSAGES)
        ref_wall, ref_cpu = medians.get(reference, medians[name])
        wall, cpu = medians[name]
        rows.append(
            {
                "data": data,
                "impl": name,
                "nodes": graph.num_nodes,
                "edges": sum(int(e.shape[1]) for e in edge_layers(graph)),
                "features": graph.num_features,
                "timed_epochs": len(runs),
                "wall_s": wall,
                "cpu_s": cpu,
                "reference": reference,
                "wall_vs_reference": wall / ref_wall,
                "cpu_vs_reference": cpu / ref_cpu,
                "epoch_working_set_mib": max(s[2] for s in runs),
                "largest_tensor_shape": list(largest[name].shape),
                "largest_tensor_op": largest[name].op,
                "largest_tensor_vs_n_squared": largest[name].numel / graph.num_nodes**2,
                "losses": [s[3] for s in runs],
            }
        )
    return rows, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["cora"], choices=list(CONFIGS))
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds first (default 1)")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds (default 2)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--official-grace", type=Path, help="checkout of CRIPAC-DIG/GRACE")
    parser.add_argument("--out", type=Path, help="write the JSON here (default: print only)")
    parser.add_argument(
        "--impls",
        nargs="+",
        choices=["grace-dense", "grace-tiled", "gcool-dense", "gcool-tiled", "official-grace"],
        help="run only these implementations (default: all)",
    )
    parser.add_argument(
        "--messages",
        action="store_true",
        help="add a GCNConv message-passing twin of every implementation",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.rounds < 1 or args.warmup < 0:
        parser.error("--rounds must be >= 1 and --warmup >= 0")
    if args.official_grace is not None and not (args.official_grace / "model.py").is_file():
        parser.error(f"--official-grace {args.official_grace}: no model.py there")
    if args.official_grace is None:
        print("skip official-grace: no --official-grace PATH")
    load_before = os.getloadavg()
    rows, skipped = [], []
    for data in args.data:
        data_rows, data_skipped = bench_data(
            data, args.warmup, args.rounds, args.official_grace, args.impls, args.messages
        )
        rows += data_rows
        skipped += data_skipped
    load_after = os.getloadavg()
    print(f"\nload average before {load_before}, after {load_after}; {args.threads} thread(s)")
    print(
        "| data | impl | nodes | edges | features | s / epoch (wall) | s / epoch (CPU) | "
        "wall / ref | CPU / ref | epoch working set (MiB) | largest tensor | / N^2 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        shape = " x ".join(f"{n:,}" for n in r["largest_tensor_shape"])
        print(
            f"| {r['data']} | {r['impl']} | {r['nodes']:,} | {r['edges']:,} | {r['features']:,} "
            f"| {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['wall_vs_reference']:.2f} | "
            f"{r['cpu_vs_reference']:.2f} | {r['epoch_working_set_mib']:.0f} | {shape} | "
            f"{r['largest_tensor_vs_n_squared']:.3f} |"
        )
    for line in skipped:
        print(f"skipped {line}")
    if args.out:
        report = {
            "benchmark": "graph epoch time and working set, implementations alternated",
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"2-core CPU ({platform.machine()}), shared",
            "torch": torch.__version__,
            "threads": args.threads,
            "warmup_rounds": args.warmup,
            "timed_rounds": args.rounds,
            "messages_twins": args.messages,
            "load_before": load_before,
            "load_after": load_after,
            "rows": rows,
            "skipped": skipped,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
