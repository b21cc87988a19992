"""One-command check of the pointcloud domain's accelerator path (runs on the CPU too).

Rows, each timed as the median of ``--reps`` runs after one warm-up (CUDA synchronised):

1. ``spconv``: which spconv distribution is installed (``spconv-cu120`` on a CUDA machine, the CPU
   wheel ``spconv`` elsewhere) and whether the CPU backward patch is active.
2. ``backbone fp32 forward`` / ``forward+backward``: :class:`LidarBEVEncoder` (OpenPCDet
   VoxelBackBone8x layout, base 16 channels) on the nuScenes grid, one ray-cast street scan
   (about 15k voxels, like a real scan); gradients must be finite and reach the first convolution.
   On CUDA these are the spconv-cu120 kernels.
3. ``backbone fp16 autocast forward+backward``: the same under ``torch.autocast`` (float16) with a
   ``GradScaler``; the BEV map's relative difference to fp32 is reported. spconv 2.3.8's CPU
   kernels fail under autocast (float features meet half weights in ``indice_conv``'s ``torch.mm``),
   so on the CPU the row is skipped with that error; on CUDA an error fails the check.
4. ``index_add_ determinism``: the superpixel / voxel averages (``segment_mean``) accumulate with
   ``index_add_``, which on CUDA uses float atomics: the row reports the largest difference
   between two identical calls, and whether ``torch.use_deterministic_algorithms(True)`` accepts
   it. On the CPU the sum is sequential and the difference is 0.

Prints a markdown table and writes JSON (device, versions, rows) to ``--out``. Exits 1 when a
check that ran failed (non-finite or missing gradients, fp16 far from fp32).

    OMP_NUM_THREADS=1 python benchmarks/gpu_check_pointcloud.py --out gpu_check_pointcloud.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pointcloud_cl.lidar_backbone import LidarBEVEncoder  # noqa: E402
from pointcloud_cl.raycast import scan_lidar  # noqa: E402
from pointcloud_cl.slidr import segment_mean  # noqa: E402
from pointcloud_cl.spconv_cpu import install_cpu_stream_patch  # noqa: E402
from pointcloud_cl.voxelize import VoxelGrid, crop_to_range, voxelize  # noqa: E402

FP16_TOLERANCE = 0.05  # relative L2 difference of the BEV map, fp16 autocast vs fp32


@dataclass
class Row:
    check: str
    status: str  # "ok" | "FAILED" | "skipped"
    median_s: float | None
    detail: str


def street_scan(seed: int = 0) -> np.ndarray:
    """A ray-cast street (ground, 12 cars / pedestrians) in the sensor frame, (N, 5)."""
    rng = np.random.default_rng(seed)
    boxes = []
    for i in range(12):
        x, y = rng.uniform(-30, 30), rng.choice([-1, 1]) * rng.uniform(4, 20)
        size = (4.6, 1.9, 1.7) if i % 3 else (0.7, 0.7, 1.75)
        boxes.append([x, y, size[2] / 2, *size, rng.uniform(-np.pi, np.pi)])
    points, _ = scan_lidar(np.array([0.94, 0.0, 1.84]), np.array(boxes), np.full(12, 60.0), rng)
    points[:, 2] -= 1.84  # sensor frame: the ground at -1.84 m
    return points


def _median_time(step: Callable[[], object], reps: int, device: torch.device) -> float:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def spconv_row() -> Row:
    names = [name for name in ("spconv-cu120", "spconv") if _installed(name)]
    patched = install_cpu_stream_patch()
    detail = f"{', '.join(f'{n} {metadata.version(n)}' for n in names) or 'none found'}; "
    detail += "CPU backward patch active" if patched else "CUDA stream path (no patch)"
    return Row("spconv", "ok" if names else "FAILED", None, detail)


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def backbone_rows(device: torch.device, reps: int, grid: VoxelGrid) -> list[Row]:
    torch.manual_seed(0)
    model = LidarBEVEncoder(grid).to(device)
    voxels = voxelize(crop_to_range(street_scan(), grid), grid).to(device)
    rows = []
    with torch.no_grad():
        fwd = _median_time(lambda: model(voxels), reps, device)
        reference = model(voxels).float()
    rows.append(
        Row(
            "backbone fp32 forward",
            "ok",
            fwd,
            f"{len(voxels.features)} voxels -> BEV {tuple(reference.shape)}",
        )
    )

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(voxels).square().mean().backward()

    both = _median_time(step, reps, device)
    grad = model.backbone.conv_input[0].weight.grad
    good = grad is not None and bool(torch.isfinite(grad).all()) and grad.abs().sum() > 0
    rows.append(
        Row(
            "backbone fp32 forward+backward",
            "ok" if good else "FAILED",
            both,
            "first-layer gradient finite and non-zero" if good else "bad first-layer gradient",
        )
    )
    rows.append(fp16_row(model, voxels, reference, device, reps))
    return rows


def fp16_row(
    model: LidarBEVEncoder, voxels, reference: torch.Tensor, device: torch.device, reps: int
) -> Row:
    name = "backbone fp16 autocast forward+backward"
    scaler = torch.amp.GradScaler(device.type)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.float16):
            loss = model(voxels).float().square().mean()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    try:
        seconds = _median_time(step, reps, device)
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16):
            half = model(voxels).float()
    except RuntimeError as error:
        message = str(error).splitlines()[0]
        if device.type == "cuda":
            return Row(name, "FAILED", None, message)
        return Row(name, "skipped", None, f"spconv's CPU kernels under autocast: {message}")
    rel = float((half - reference).norm() / reference.norm().clamp_min(1e-12))
    grad = model.backbone.conv_input[0].weight.grad
    good = rel < FP16_TOLERANCE and grad is not None and bool(torch.isfinite(grad).all())
    return Row(
        name,
        "ok" if good else "FAILED",
        seconds,
        f"BEV relative L2 difference to fp32 {rel:.2e} (limit {FP16_TOLERANCE})",
    )


def index_add_row(device: torch.device, reps: int) -> Row:
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(1_000_000, 16, generator=generator).to(device)
    segment = torch.randint(0, 5_000, (1_000_000,), generator=generator).to(device)
    seconds = _median_time(lambda: segment_mean(values, segment, 5_000), reps, device)
    first, _ = segment_mean(values, segment, 5_000)
    second, _ = segment_mean(values, segment, 5_000)
    diff = float((first - second).abs().max())
    torch.use_deterministic_algorithms(True)
    try:
        segment_mean(values, segment, 5_000)
        mode = "accepted under use_deterministic_algorithms(True)"
    except RuntimeError as error:
        mode = f"refused under use_deterministic_algorithms(True): {str(error).splitlines()[0]}"
    finally:
        torch.use_deterministic_algorithms(False)
    note = "float atomics: run-to-run differences" if diff else "bit-identical runs"
    return Row(
        "index_add_ determinism (segment_mean, 1M x 16 -> 5k)",
        "ok",
        seconds,
        f"max |run1 - run2| = {diff:.2e} ({note}); {mode}",
    )


def markdown(rows: list[Row]) -> str:
    lines = ["| check | status | median s | detail |", "|---|---|---|---|"]
    for row in rows:
        seconds = "" if row.median_s is None else f"{row.median_s:.4f}"
        lines.append(f"| {row.check} | {row.status} | {seconds} | {row.detail} |")
    return "\n".join(lines)


def run(device: torch.device, reps: int, grid: VoxelGrid) -> dict:
    rows = [spconv_row(), *backbone_rows(device, reps, grid), index_add_row(device, reps)]
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = torch.cuda.max_memory_allocated(device) / 2**20
        rows.append(Row("peak CUDA memory", "ok", None, f"{peak:.0f} MiB on {name}"))
    else:
        rows.append(Row("CUDA", "skipped", None, "no CUDA device: CUDA-only rows skipped"))
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "reps": reps,
        "rows": [asdict(row) for row in rows],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("gpu_check_pointcloud.json"))
    parser.add_argument(
        "--small", action="store_true", help="a 25.6 m grid instead of nuScenes' 51.2 m (quick)"
    )
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error(f"--reps must be >= 1, got {args.reps}")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch sees no CUDA device on this machine")
    use_cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if use_cuda else "cpu")
    grid = VoxelGrid((-25.6, -25.6, -5.0, 25.6, 25.6, 3.0)) if args.small else VoxelGrid()
    report = run(device, args.reps, grid)
    print(markdown([Row(**row) for row in report["rows"]]))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 1 if any(row["status"] == "FAILED" for row in report["rows"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
