"""NT-Xent forward + backward: tiled vs dense InfoNCE vs lightly and pytorch-metric-learning.

Compares ``shared.losses.tiled_info_nce``, the dense ``shared.losses.info_nce``,
``lightly.loss.NTXentLoss`` and ``pytorch_metric_learning.losses.NTXentLoss`` (all NT-Xent: 2N-2
negatives, symmetric, cosine similarity) on two views of N d-dimensional rows. A peer that is not
installed is skipped with the reason (``make bench`` runs this in the benchmark environment that
holds them).

1. Agreement: on a small fp64 input every implementation must give the dense value and gradients
   (printed; the script stops if one differs by more than 1e-8).
2. Sizes (t = 0.1, random rows) and the low-temperature cases (t = 0.01, clustered and aligned
   rows at the largest size up to 8192; tiled and dense only, the peers' work does not depend on
   the inputs): the implementations and ``matmul``, the tiled loss's three matrix products per
   tile pair alone at a fixed ``REFERENCE_BLOCK`` = 1024 rows per tile (whose rate, measured on
   this machine at this moment, turns the 12 N^2 d FLOPs of the loss into its arithmetic bound),
   are alternated round-robin in this one process, ``--reps`` rounds
   after one warm-up round, each round starting one implementation later. Process CPU time
   (``time.process_time``) and wall-clock time are reported side by side, with the load average
   before and after: on a shared machine the CPU-time ratios are the ones to read. Peak memory
   is measured once per case in a subprocess (CPU: the peak resident set, VmHWM, reset through
   ``/proc/self/clear_refs`` once the inputs exist, minus the resident set then, under an
   address-space cap of ``--max-gb``; CUDA: ``torch.cuda.max_memory_allocated``). Sizes above
   8192 run only in that subprocess, once, after a warm-up at N = 1024; a case whose largest
   intermediate alone exceeds the cap (see :func:`memory_estimate`) is skipped with the estimate.
3. Temperature grid: tiled vs dense, round-robin as above, at N = ``--grid-size`` for every t in
   {0.01, 0.05, 0.1, 0.5, 1.0}, random / clustered / aligned rows, fp32 and bf16 inputs.

The table is printed; ``--out`` writes the JSON (the committed record changes only when named):

    python benchmarks/bench_infonce.py --threads 1 --out benchmarks/results/infonce.json
    python benchmarks/bench_infonce.py --sizes 65536 --no-grid  # the O(N d) memory case
    python benchmarks/bench_infonce.py --device cuda --sizes 8192 65536
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shared.losses import info_nce, tiled_info_nce  # noqa: E402

IMPLS = ("tiled", "dense", "lightly", "pml")
KINDS = ("random", "clustered", "aligned")
TEMPERATURES = (0.01, 0.05, 0.1, 0.5, 1.0)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
SIZE_TEMPERATURE = 0.1
LOW_TEMPERATURE = 0.01
# Tile side of the ``matmul`` reference: fixed, so the FLOP bound does not move when
# tiled_info_nce's block_size (384 by default) changes. The same products with 384-row tiles run
# about 10 % faster on the 2-core box of docs/RESULTS.md 1.2, where that is reported too.
REFERENCE_BLOCK = 1024
LARGE = 8192  # sizes above this run once, in the memory subprocess, after a warm-up
WARMUP_SIZE = 1024
GIB = 2**30

Step = Callable[[], None]


class PeerMissing(Exception):
    """A peer library is not installed in this environment."""


def _lightly_ntxent() -> type:
    """``lightly.loss.NTXentLoss``; lightly is installed in the benchmark environment
    (``make bench-env``) with the torchvision it imports."""
    try:
        from lightly.loss import NTXentLoss  # type: ignore[import-untyped]
    except ImportError as err:
        raise PeerMissing(f"lightly is not installed ({err})") from err
    except RuntimeError as err:  # beside a torchvision whose operators do not load
        raise PeerMissing(f"lightly.loss does not import here ({err})") from err
    return NTXentLoss


def make_loss(name: str, temperature: float) -> Callable[[Tensor, Tensor], Tensor]:
    """The NT-Xent loss of implementation ``name`` as ``f(z1, z2) -> scalar``.

    Raises :class:`PeerMissing` when a peer library is not installed."""
    if name == "tiled":
        return lambda z1, z2: tiled_info_nce(z1, z2, temperature)
    if name == "dense":
        return lambda z1, z2: info_nce(z1, z2, temperature)
    if name == "lightly":
        return _lightly_ntxent()(temperature=temperature)
    if name == "pml":
        try:
            from pytorch_metric_learning.losses import NTXentLoss  # type: ignore[import-untyped]
        except ImportError as err:
            raise PeerMissing(f"pytorch-metric-learning is not installed ({err})") from err
        pml = NTXentLoss(temperature=temperature)

        def pml_loss(z1: Tensor, z2: Tensor) -> Tensor:
            labels = torch.arange(z1.shape[0], device=z1.device)
            return pml(torch.cat([z1, z2]), torch.cat([labels, labels]))

        return pml_loss
    raise ValueError(f"unknown implementation {name!r}; choose from {IMPLS}")


def missing_peers() -> dict[str, str]:
    """{peer: reason} for every peer library that cannot be loaded here."""
    missing = {}
    for name in ("lightly", "pml"):
        try:
            make_loss(name, SIZE_TEMPERATURE)
        except PeerMissing as err:
            missing[name] = str(err)
    return missing


def make_views(
    kind: str, n: int, dim: int, device: str, dtype: torch.dtype = torch.float32, seed: int = 0
) -> tuple[Tensor, Tensor]:
    """Two views of N rows: ``random`` (independent Gaussian rows), ``clustered`` (32 tight
    clusters, both views of a row from its cluster) or ``aligned`` (z2 = z1 + small noise). At
    t = 0.01 the last two put most similarities 100+ below each row's maximum."""
    g = torch.Generator().manual_seed(seed)
    if kind == "random":
        z1, z2 = torch.randn(n, dim, generator=g), torch.randn(n, dim, generator=g)
    elif kind == "clustered":
        centers = torch.randn(32, dim, generator=g)[torch.randint(32, (n,), generator=g)]
        z1, z2 = (centers + 0.1 * torch.randn(n, dim, generator=g) for _ in range(2))
    elif kind == "aligned":
        base = torch.randn(n, dim, generator=g)
        z1, z2 = (base + 0.1 * torch.randn(n, dim, generator=g) for _ in range(2))
    else:
        raise ValueError(f"unknown input kind {kind!r}; choose from {KINDS}")
    return z1.to(device, dtype).requires_grad_(), z2.to(device, dtype).requires_grad_()


def loss_step(impl: str, temperature: float, z1: Tensor, z2: Tensor) -> Step:
    loss_fn = make_loss(impl, temperature)

    def step() -> None:
        loss_fn(z1, z2).backward()
        z1.grad = z2.grad = None

    return step


def matmul_step(n: int, dim: int, device: str) -> Step:
    """The matrix products of ``tiled_info_nce`` at 2 x N x d alone, on ``REFERENCE_BLOCK``-row
    tiles: per tile pair I <= J, s_IJ forward and the two gradient products G Z_J, G^T Z_I
    backward (:func:`matmul_flops`)."""
    g = torch.Generator().manual_seed(0)
    keys = torch.randn(2 * n, dim, generator=g).to(device)
    grad = torch.zeros_like(keys)
    block = REFERENCE_BLOCK
    starts = list(range(0, 2 * n, block))

    def step() -> None:
        for a, i in enumerate(starts):
            zi = keys[i : i + block]
            for j in starts[a:]:
                zj = keys[j : j + block]
                tile = torch.mm(zi, zj.T)
                grad[i : i + block].addmm_(tile, zj)
                grad[j : j + block].addmm_(tile.T, zi)

    return step


def flops(n: int, dim: int) -> float:
    """12 N^2 d: half the symmetric (2N)^2 Gram forward, two such products backward (the bound)."""
    return 12.0 * n * n * dim


def matmul_flops(n: int, dim: int) -> float:
    """FLOPs of :func:`matmul_step`: three products per tile pair I <= J (diagonal tiles whole, so
    a little above :func:`flops`)."""
    block = REFERENCE_BLOCK
    sizes = [min(block, 2 * n - start) for start in range(0, 2 * n, block)]
    return sum(3 * 2.0 * a * b * dim for i, a in enumerate(sizes) for b in sizes[i:])


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def round_robin(steps: dict[str, Step], reps: int, device: str) -> dict:
    """Alternate ``steps`` in this process: one warm-up round, then ``reps`` timed rounds, round r
    starting with the r-th step. Returns medians and samples of CPU and wall seconds per step."""
    names = list(steps)
    for name in names:
        steps[name]()
    samples: dict[str, dict[str, list[float]]] = {n: {"cpu_s": [], "wall_s": []} for n in names}
    load_before = os.getloadavg()
    for r in range(reps):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            _sync(device)
            wall, cpu = time.perf_counter(), time.process_time()
            steps[name]()
            _sync(device)
            samples[name]["wall_s"].append(time.perf_counter() - wall)
            samples[name]["cpu_s"].append(time.process_time() - cpu)
    load_after = os.getloadavg()
    return {
        "load_avg": [round(load_before[0], 2), round(load_after[0], 2)],
        "impls": {
            name: {
                "status": "ok",
                "cpu_s": statistics.median(s["cpu_s"]),
                "wall_s": statistics.median(s["wall_s"]),
                "samples": s,
            }
            for name, s in samples.items()
        },
    }


def check_agreement(device: str, missing: dict[str, str]) -> list[dict]:
    """Value and gradient of every implementation on a small fp64 input vs the dense loss."""
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(2, 37, 16, generator=g, dtype=torch.float64).to(device)
    rows = []
    reference = None
    for name in ("dense", "tiled", "lightly", "pml"):
        if name in missing:
            continue
        a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
        loss = make_loss(name, SIZE_TEMPERATURE)(a, b)
        loss.backward()
        result = (loss.item(), torch.cat([a.grad, b.grad]))
        if reference is None:
            reference = result
        rows.append(
            {
                "impl": name,
                "loss": result[0],
                "loss_diff": abs(result[0] - reference[0]),
                "grad_diff": (result[1] - reference[1]).abs().max().item(),
            }
        )
    return rows


def _proc_status_bytes(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(f"{field}:"))


def _reset_peak_rss() -> int:
    """Reset the peak resident set (VmHWM, what ru_maxrss reports) to the current one; return it.

    Without the reset the peak would still hold the import-time high-water mark and hide the
    memory of a small case."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _proc_status_bytes("VmRSS")


def _cap_address_space(max_gb: float) -> None:
    limit = _proc_status_bytes("VmSize") + int(max_gb * GIB)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def measure_case(impl: str, n: int, dim: int, device: str, max_gb: float) -> dict:
    """Peak memory growth of one forward + backward (and its CPU and wall time) in this process."""
    temperature = SIZE_TEMPERATURE
    if n > LARGE:  # warm up on a small copy; the large case itself runs once
        loss_step(impl, temperature, *make_views("random", WARMUP_SIZE, dim, device))()
    z1, z2 = make_views("random", n, dim, device)
    step = loss_step(impl, temperature, z1, z2)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        _cap_address_space(max_gb)
        base = _reset_peak_rss()
    try:
        _sync(device)
        wall, cpu = time.perf_counter(), time.process_time()
        step()
        _sync(device)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    except (MemoryError, RuntimeError) as err:
        if isinstance(err, MemoryError) or "memory" in str(err).lower():
            return {"status": "oom", "note": f"OOM within the {max_gb:g} GiB cap"}
        raise
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else _proc_status_bytes("VmHWM")
    return {"status": "ok", "peak_bytes": peak - base, "cpu_s": cpu, "wall_s": wall}


def memory_estimate(impl: str, n: int, measured: dict[int, int]) -> tuple[int, int]:
    """(lower bound, extrapolation) of the bytes a dense implementation needs; (0, 0) for tiled.

    The lower bound is its largest fp32 intermediate. dense and lightly build the 2N x 2N
    similarity matrix (peak memory grows as N^2); pytorch-metric-learning's NTXentLoss builds a
    (positive pairs) x (negative pairs) mask of 2N x 2N(2N - 2) entries (N^3). The extrapolation
    scales the peak measured at the largest smaller size by (N / n_measured)^2 or ^3 (it
    overestimates: fixed overheads scale too); 0 when no smaller size was measured.
    """
    if impl == "tiled":
        return 0, 0
    power, bound = (3, 4 * 2 * n * 2 * n * (2 * n - 2)) if impl == "pml" else (2, 4 * (2 * n) ** 2)
    smaller = [m for m in measured if m < n]
    if not smaller:
        return bound, 0
    m = max(smaller)
    return bound, int(measured[m] * (n / m) ** power)


def _memory_subprocess(impl: str, n: int, args: argparse.Namespace) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--case",
        impl,
        str(n),
        "--device",
        args.device,
        "--dim",
        str(args.dim),
        "--threads",
        str(args.threads),
        "--max-gb",
        str(args.max_gb),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode == 0:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
    return {"status": "failed", "note": f"failed: {tail[0][:120]}"}


def run_sizes(args: argparse.Namespace, missing: dict[str, str]) -> dict[str, dict]:
    """Memory per case (subprocess), then the round-robin timing of every size."""
    rows: dict[str, dict] = {}
    measured: dict[str, dict[int, int]] = {impl: {} for impl in IMPLS}
    for n in args.sizes:
        memory: dict[str, dict] = {}
        for impl in IMPLS:
            need, extrapolated = memory_estimate(impl, n, measured[impl])
            if impl in missing:
                memory[impl] = {"status": "skipped", "note": f"skipped: {missing[impl]}"}
            elif need > args.max_gb * GIB:
                note = f"skipped: would need >= {need / GIB:,.0f} GiB"
                if extrapolated:
                    note += f" (~{extrapolated / GIB:,.0f} GiB from 2x{max(measured[impl])})"
                memory[impl] = {"status": "skipped", "note": note}
            else:
                memory[impl] = _memory_subprocess(impl, n, args)
                if memory[impl]["status"] == "ok":
                    measured[impl][n] = memory[impl]["peak_bytes"]
            print(f"2x{n}x{args.dim} {impl} memory: {memory[impl]}", flush=True)
        fits = [impl for impl in IMPLS if memory[impl]["status"] == "ok"]
        row = {"n": n, "kind": "random", "temperature": SIZE_TEMPERATURE, "memory": memory}
        if n <= LARGE:
            row.update(_time_row(fits, "random", n, SIZE_TEMPERATURE, args))
        else:  # timed once, in its memory subprocess
            row["impls"] = {i: c for i, c in memory.items() if c["status"] == "ok"}
            row["load_avg"] = [round(os.getloadavg()[0], 2)] * 2
        rows[f"random/{n}"] = row
        print(f"2x{n}x{args.dim} random t={SIZE_TEMPERATURE}: {_brief(row)}", flush=True)
    fitting = [n for n in args.sizes if n <= LARGE]
    if fitting:
        n = max(fitting)
        fits = [i for i in ("tiled", "dense") if rows[f"random/{n}"]["memory"][i]["status"] == "ok"]
        for kind in ("clustered", "aligned"):
            row = {"n": n, "kind": kind, "temperature": LOW_TEMPERATURE}
            row.update(_time_row(fits, kind, n, LOW_TEMPERATURE, args))
            rows[f"{kind}/{n}"] = row
            print(f"2x{n}x{args.dim} {kind} t={LOW_TEMPERATURE}: {_brief(row)}", flush=True)
    return rows


def _time_row(impls: list[str], kind: str, n: int, t: float, args: argparse.Namespace) -> dict:
    views = {i: make_views(kind, n, args.dim, args.device) for i in impls}
    steps = {i: loss_step(i, t, *views[i]) for i in impls}
    steps["matmul"] = matmul_step(n, args.dim, args.device)
    return round_robin(steps, args.reps, args.device)


def run_grid(args: argparse.Namespace) -> dict[str, dict]:
    """tiled vs dense at N = --grid-size for every input kind, temperature and input dtype."""
    rows = {}
    n = args.grid_size
    for dtype_name, dtype in DTYPES.items():
        for kind in KINDS:
            for t in TEMPERATURES:
                steps = {
                    i: loss_step(i, t, *make_views(kind, n, args.dim, args.device, dtype))
                    for i in ("tiled", "dense")
                }
                row = {"n": n, "kind": kind, "temperature": t, "dtype": dtype_name}
                row.update(round_robin(steps, args.grid_reps, args.device))
                rows[f"{dtype_name}/{kind}/{t}"] = row
                print(f"grid {dtype_name} {kind} t={t}: {_brief(row)}", flush=True)
    return rows


def _brief(row: dict) -> str:
    return (
        ", ".join(
            f"{i} {c['cpu_s']:.3f} s cpu / {c['wall_s']:.3f} s wall"
            for i, c in row["impls"].items()
        )
        + f" (load {row['load_avg'][0]:.1f} -> {row['load_avg'][1]:.1f})"
    )


def _ratio(row: dict, a: str, b: str, key: str) -> str:
    impls = row["impls"]
    if a in impls and b in impls:
        return f"{impls[a][key] / impls[b][key]:.2f}"
    return "n/a"


def _ratios(row: dict, a: str, b: str) -> str:
    return f"{_ratio(row, a, b, 'cpu_s')} / {_ratio(row, a, b, 'wall_s')}"


def format_sizes(rows: dict[str, dict], dim: int) -> str:
    def cell(row: dict, impl: str) -> str:
        if impl not in row["impls"]:
            memory = row.get("memory", {}).get(impl)
            return memory["note"] if memory else "n/a"
        c = row["impls"][impl]
        text = f"{c['cpu_s']:.3f} / {c['wall_s']:.3f} s"
        if "memory" in row and row["memory"][impl]["status"] == "ok":
            text += f", {row['memory'][impl]['peak_bytes'] / GIB:.3f} GiB"
        return text

    lines = [
        "| input | t | tiled | dense | lightly | pml | tiled/dense | lightly/tiled | pml/tiled "
        "| tiled/matmul | matmul GFLOP/s | tiled / FLOP bound | load 1 min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows.values():
        rate, bound = "n/a", "n/a"
        if "matmul" in row["impls"]:
            gflops = matmul_flops(row["n"], dim) / row["impls"]["matmul"]["cpu_s"] / 1e9
            rate = f"{gflops:.1f}"
            if "tiled" in row["impls"]:
                bound_s = flops(row["n"], dim) / gflops / 1e9
                bound = f"{row['impls']['tiled']['cpu_s'] / bound_s:.2f}"
        lines.append(
            f"| 2x{row['n']}x{dim} {row['kind']} | {row['temperature']} | "
            + " | ".join(cell(row, i) for i in IMPLS)
            + f" | {_ratios(row, 'tiled', 'dense')} | {_ratios(row, 'lightly', 'tiled')} | "
            f"{_ratios(row, 'pml', 'tiled')} | {_ratios(row, 'tiled', 'matmul')} | {rate} | "
            f"{bound} | {row['load_avg'][0]:.1f} -> {row['load_avg'][1]:.1f} |"
        )
    return "\n".join(lines)


def format_grid(rows: dict[str, dict], dim: int) -> str:
    lines = [
        "| input | dtype | t | tiled cpu / wall s | dense cpu / wall s | tiled/dense cpu | "
        "tiled/dense wall | load 1 min |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows.values():
        tiled, dense = row["impls"]["tiled"], row["impls"]["dense"]
        lines.append(
            f"| 2x{row['n']}x{dim} {row['kind']} | {row['dtype']} | {row['temperature']} | "
            f"{tiled['cpu_s']:.3f} / {tiled['wall_s']:.3f} | "
            f"{dense['cpu_s']:.3f} / {dense['wall_s']:.3f} | "
            f"{_ratio(row, 'tiled', 'dense', 'cpu_s')} | {_ratio(row, 'tiled', 'dense', 'wall_s')} "
            f"| {row['load_avg'][0]:.1f} -> {row['load_avg'][1]:.1f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[256, 1024, 8192], help="N per view"
    )
    parser.add_argument("--reps", type=int, default=3, help="timed round-robin rounds per case")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--grid-size", type=int, default=1024, help="N of the temperature grid")
    parser.add_argument("--grid-reps", type=int, default=5, help="rounds per grid case")
    parser.add_argument("--no-grid", action="store_true", help="skip the temperature grid")
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(), help="torch CPU threads"
    )
    parser.add_argument("--max-gb", type=float, default=8.0, help="memory cap per CPU case, GiB")
    parser.add_argument("--out", type=Path, help="write the JSON here (default: print only)")
    parser.add_argument("--case", nargs=2, metavar=("IMPL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error(
            f"--device cuda: this torch ({torch.__version__}) sees no CUDA device; "
            "run on a machine with one, or use --device cpu"
        )

    if args.case:  # subprocess mode: one case, JSON on stdout
        impl, n = args.case[0], int(args.case[1])
        print(json.dumps(measure_case(impl, n, args.dim, args.device, args.max_gb)))
        return 0

    missing = missing_peers()
    for peer, reason in missing.items():
        print(f"{peer}: {reason}; its columns are skipped", file=sys.stderr)
    agreement = check_agreement(args.device, missing)
    print("Agreement on 2x37x16 (fp64), vs dense info_nce:")
    print("| impl | NT-Xent | |loss - dense| | max |grad - dense| |")
    print("| --- | --- | --- | --- |")
    for row in agreement:
        diffs = f"{row['loss_diff']:.1e} | {row['grad_diff']:.1e}"
        print(f"| {row['impl']} | {row['loss']:.12f} | {diffs} |")
    if any(row["loss_diff"] > 1e-8 or row["grad_diff"] > 1e-8 for row in agreement):
        print("implementations disagree: not timing them", file=sys.stderr)
        return 1

    started = time.process_time()
    sizes = run_sizes(args, missing)
    grid = {} if args.no_grid else run_grid(args)
    sizes_table = format_sizes(sizes, args.dim)
    print("\nforward + backward, median CPU / wall seconds (peak memory growth); ratios CPU / wall")
    print(
        f"matmul: the tiled loss's matrix products alone, on fixed {REFERENCE_BLOCK}-row tiles; "
        "FLOP bound: 12 N^2 d at their rate\n"
    )
    print(sizes_table)
    grid_table = format_grid(grid, args.dim) if grid else ""
    if grid:
        print(
            f"\ntiled vs dense over temperatures, input kinds and dtypes (N = {args.grid_size})\n"
        )
        print(grid_table)
    print(
        f"\nCPU time of this process (subprocesses excluded): {time.process_time() - started:.0f} s"
    )
    if args.out:
        record = {
            "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
            "device": args.device,
            "machine": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch": torch.__version__,
            "threads": args.threads,
            "missing_peers": missing,
            "agreement": agreement,
            "sizes": sizes,
            "grid": grid,
            "sizes_table": sizes_table,
            "grid_table": grid_table,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
