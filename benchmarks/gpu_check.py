"""One-command accelerator check of the whole suite: ``python benchmarks/gpu_check.py``.

On a CUDA machine it installs nothing; it checks that the ``.[cuda]`` extra imports (spconv-cu120,
nuscenes-devkit, OpenCV, scikit-image, Pillow), then runs and times, each as the median of
``--reps`` runs after one warm-up (CUDA synchronised), with the peak CUDA memory of each row:

1. ``backbone``: :class:`LidarBEVEncoder` (OpenPCDet VoxelBackBone8x widths) on the nuScenes grid,
   one ray-cast street scan (about 11k voxels): fp32 forward, forward + backward, and fp16 autocast
   forward + backward with a ``GradScaler`` (the BEV map's relative L2 difference to fp32 must stay
   under 0.05); plus the determinism of ``index_add_`` (``segment_mean``), which uses float atomics
   on CUDA, and whether ``torch.use_deterministic_algorithms(True)`` accepts it.
2. ``pointcloud``: one training step (forward, backward, Adam) of PRC, RAD, SLidR and BEV
   fine-tuning with the models of ``configs/pointcloud/*_synthetic.yaml`` on two frames of a
   freshly written synthetic nuScenes set, in fp32 and in AMP (fp16 autocast + ``GradScaler`` on
   CUDA, as the trainer's ``trainer.amp``); the loss must be finite and the LiDAR encoder must get
   finite, non-zero gradients.
3. ``infonce``: tiled InfoNCE (``shared.losses.tiled_info_nce``) forward + backward at 2 x 65536 x
   128 in fp32 and bf16, and the dense ``info_nce`` at the largest N of 65536, 32768, ... that fits
   in memory, with the tiled loss at that N beside it (their difference is reported).
4. ``graph``: one GRACE epoch on Cora (official hyper-parameters, full graph, one Adam step).
5. ``recsys``: one MCLRec batch of 256 Amazon Beauty sequences (forward + backward of L, one Adam
   step; the loss weights of ``configs/recsys/mclrec_beauty.yaml``).
6. ``ddp``: with two GPUs, one DDP step on two NCCL ranks
   (``shared.distributed.distributed_info_nce`` through a projection head); rank 0's averaged
   gradient must equal the single-process gradient of ``info_nce`` on the concatenated batch.

Graph and recsys rows read ``--data`` (default ``$CONTRAST_DATA``) and are skipped when the files
are absent. It prints one markdown table and writes JSON (device, versions, rows) to ``--out``;
it exits 1 when a check that ran failed. Without CUDA it refuses with one line and exit 2;
``--allow-cpu`` is a dry run at tiny sizes (the DDP row then uses two gloo processes), for testing
the script itself. The whole check takes well under 5 minutes on one H100.

    python benchmarks/gpu_check.py                      # on a CUDA machine (make gpu-check)
    OMP_NUM_THREADS=1 python benchmarks/gpu_check.py --allow-cpu --out /tmp/gpu_check.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
NUSCENES_RANGE = (-51.2, -51.2, -5.0, 51.2, 51.2, 3.0)
GROUPS = ("backbone", "pointcloud", "infonce", "graph", "recsys", "ddp")
CUDA_EXTRA = {  # module imported -> distribution of the `.[cuda]` extra
    "spconv.pytorch": "spconv-cu120",
    "nuscenes": "nuscenes-devkit",
    "cv2": "opencv-python-headless",
    "skimage": "scikit-image",
    "PIL": "pillow",
}
FP16_TOLERANCE = 0.05  # relative L2 difference of the BEV map, fp16 autocast vs fp32
NO_CUDA = (
    "gpu_check: no CUDA device visible to torch {torch} (CUDA build: {build}); run it on a CUDA "
    "machine, or pass --allow-cpu for a tiny dry run"
)


@dataclass
class Row:
    group: str
    check: str
    status: str  # "ok" | "FAILED" | "skipped"
    median_s: float | None
    peak_mib: float | None
    detail: str


@dataclass(frozen=True)
class Sizes:
    """Problem sizes: full on CUDA, tiny for the ``--allow-cpu`` dry run."""

    street_range: tuple[float, float, float, float, float, float]
    backbone_widths: tuple[int, int]  # sparse base channels, BEV neck channels
    image_hw: tuple[int, int]
    infonce_n: int
    infonce_dim: int
    segments: tuple[int, int]  # rows, segments of the index_add_ check
    ddp_rows: int

    @classmethod
    def for_device(cls, cuda: bool) -> Sizes:
        if cuda:  # the nuScenes grid (OpenPCDet's range), the synthetic set's image size
            return cls(NUSCENES_RANGE, (16, 64), (128, 224), 65536, 128, (10**6, 5000), 4096)
        tiny = (-6.4, -6.4, -5.0, 6.4, 6.4, 3.0)
        return cls(tiny, (4, 16), (64, 112), 512, 32, (20000, 100), 64)


class Timer:
    """Median wall time of ``reps`` calls after one warm-up, and the peak CUDA memory."""

    def __init__(self, device: torch.device, reps: int) -> None:
        self.device, self.reps = device, reps

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def __call__(self, step: Callable[[], object]) -> tuple[float, float | None]:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        step()
        self.sync()
        times = []
        for _ in range(self.reps):
            start = time.perf_counter()
            step()
            self.sync()
            times.append(time.perf_counter() - start)
        peak = None
        if self.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(self.device) / 2**20
        return statistics.median(times), peak


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


# ---------------------------------------------------------------- environment


def extra_rows(cuda: bool) -> list[Row]:
    """Whether every module of ``.[cuda]`` imports, and which spconv build is installed."""
    rows = []
    for module, dist in CUDA_EXTRA.items():
        try:
            importlib.import_module(module)
        except Exception as error:  # an ImportError, or a broken CUDA library under it
            rows.append(Row("env", f"import {module}", "FAILED", None, None, _first_line(error)))
            continue
        name = dist if dist != "spconv-cu120" or _version(dist) else "spconv"
        version = _version(name)
        status = "ok"
        if dist == "spconv-cu120" and cuda and name != "spconv-cu120":
            status = "FAILED"  # the CPU wheel on a CUDA machine: pip install -e .[cuda]
        detail = f"{name} {version or 'version unknown'}"
        rows.append(Row("env", f"import {module}", status, None, None, detail))
    return rows


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# ---------------------------------------------------------------- backbone


def street_scan(seed: int = 0) -> np.ndarray:
    """A ray-cast street (ground, 12 cars / pedestrians) in the sensor frame, (N, 5)."""
    from pointcloud_cl.raycast import scan_lidar

    rng = np.random.default_rng(seed)
    boxes = []
    for i in range(12):
        x, y = rng.uniform(-30, 30), rng.choice([-1, 1]) * rng.uniform(4, 20)
        size = (4.6, 1.9, 1.7) if i % 3 else (0.7, 0.7, 1.75)
        boxes.append([x, y, size[2] / 2, *size, rng.uniform(-np.pi, np.pi)])
    points, _ = scan_lidar(np.array([0.94, 0.0, 1.84]), np.array(boxes), np.full(12, 60.0), rng)
    points[:, 2] -= 1.84  # sensor frame: the ground at -1.84 m
    return points


def backbone_rows(device: torch.device, timer: Timer, sizes: Sizes) -> list[Row]:
    from pointcloud_cl.lidar_backbone import LidarBEVEncoder
    from pointcloud_cl.voxelize import VoxelGrid, crop_to_range, voxelize

    grid = VoxelGrid(sizes.street_range)
    torch.manual_seed(0)
    model = LidarBEVEncoder(grid, *sizes.backbone_widths).to(device)
    voxels = voxelize(crop_to_range(street_scan(), grid), grid).to(device)
    with torch.no_grad():
        fwd, peak = timer(lambda: model(voxels))
        reference = model(voxels).float()
    rows = [
        Row(
            "backbone",
            "fp32 forward",
            "ok",
            fwd,
            peak,
            f"{len(voxels.features)} voxels -> BEV {tuple(reference.shape)}",
        )
    ]
    first = model.backbone.conv_input[0].weight

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(voxels).square().mean().backward()

    both, peak = timer(step)
    good = _good_grad(first.grad)
    detail = "first-layer gradient finite and non-zero" if good else "bad first-layer gradient"
    rows.append(
        Row("backbone", "fp32 forward+backward", "ok" if good else "FAILED", both, peak, detail)
    )
    rows.append(_fp16_backbone_row(model, first, voxels, reference, device, timer))
    rows.append(_index_add_row(device, timer, sizes))
    return rows


def _good_grad(grad: torch.Tensor | None) -> bool:
    return grad is not None and bool(torch.isfinite(grad).all()) and bool(grad.abs().sum() > 0)


def _fp16_backbone_row(
    model: torch.nn.Module,
    first_layer: torch.Tensor,
    voxels: Any,
    reference: torch.Tensor,
    device: torch.device,
    timer: Timer,
) -> Row:
    name = "fp16 autocast forward+backward"
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
        seconds, peak = timer(step)
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.float16):
            half = model(voxels).float()
    except Exception as error:  # a check reports its failure; the others still run
        return _amp_failure("backbone", name, device, error)
    rel = float((half - reference).norm() / reference.norm().clamp_min(1e-12))
    good = rel < FP16_TOLERANCE and _good_grad(first_layer.grad)
    detail = f"BEV relative L2 difference to fp32 {rel:.2e} (limit {FP16_TOLERANCE})"
    return Row("backbone", name, "ok" if good else "FAILED", seconds, peak, detail)


def _amp_failure(group: str, name: str, device: torch.device, error: BaseException) -> Row:
    """AMP errors fail the check on CUDA; on the CPU spconv's kernels refuse half inputs."""
    if device.type == "cuda":
        return Row(group, name, "FAILED", None, None, _first_line(error))
    return Row(group, name, "skipped", None, None, f"CPU autocast: {_first_line(error)}")


def _index_add_row(device: torch.device, timer: Timer, sizes: Sizes) -> Row:
    from pointcloud_cl.slidr import segment_mean

    rows, segments = sizes.segments
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(rows, 16, generator=generator).to(device)
    segment = torch.randint(0, segments, (rows,), generator=generator).to(device)
    seconds, peak = timer(lambda: segment_mean(values, segment, segments))
    diff = float(
        (segment_mean(values, segment, segments)[0] - segment_mean(values, segment, segments)[0])
        .abs()
        .max()
    )
    torch.use_deterministic_algorithms(True)
    try:
        segment_mean(values, segment, segments)
        mode = "accepted under use_deterministic_algorithms(True)"
    except Exception as error:  # a check reports its failure; the others still run
        mode = f"refused under use_deterministic_algorithms(True): {_first_line(error)}"
    finally:
        torch.use_deterministic_algorithms(False)
    note = "float atomics: run-to-run differences" if diff else "bit-identical runs"
    return Row(
        "backbone",
        f"index_add_ determinism (segment_mean, {rows} x 16 -> {segments})",
        "ok",
        seconds,
        peak,
        f"max |run1 - run2| = {diff:.2e} ({note}); {mode}",
    )


# ---------------------------------------------------------------- pointcloud methods


def pointcloud_rows(device: torch.device, timer: Timer, sizes: Sizes, work: Path) -> list[Row]:
    """PRC, RAD, SLidR and fine-tuning steps, fp32 and AMP, on two synthetic frames."""
    from pointcloud_cl import experiment as pc
    from pointcloud_cl.config import PointcloudExperiment
    from pointcloud_cl.finetune import BEVPerceptionModel, make_labelled_batch
    from pointcloud_cl.synthetic import SyntheticConfig, make_synthetic_nuscenes
    from shared.config import load_config

    height, width = sizes.image_hw
    root = make_synthetic_nuscenes(
        work / "synthetic_nuscenes",
        SyntheticConfig(samples_per_scene=1, image_height=height, image_width=width),
    )
    configs = ROOT / "configs" / "pointcloud"

    def experiment(name: str) -> PointcloudExperiment:
        return load_config(
            PointcloudExperiment,
            configs / f"{name}_synthetic.yaml",
            [f"data.root={root}", f"model.image_size=[{height},{width}]"],
        )

    calico = experiment("calico")
    train = pc.load_frames(
        pc.open_data(calico), calico, calico.data.train_split, calico.data.cameras
    )
    index, rng = [0, 1], np.random.default_rng(0)
    torch.manual_seed(0)
    cases: list[tuple[str, torch.nn.Module, Any, torch.nn.Module]] = []
    _, prc, prc_batches = pc.build(experiment("prc"))
    cases.append(("PRC", prc, prc_batches.make_batch(index, rng), prc.encoder))
    rad, rad_batches = pc._rad(calico, train, pc.lidar_encoder(calico))
    cases.append(("RAD", rad, rad_batches.make_batch(index, rng), rad.student))
    _, slidr, slidr_batches = pc.build(experiment("slidr"))
    cases.append(("SLidR", slidr, slidr_batches.make_batch(index, rng), slidr.encoder))
    finetune_exp = experiment("finetune")
    model = BEVPerceptionModel(pc.lidar_encoder(finetune_exp), None)
    frames = [train.frames[i] for i in index]
    labelled = make_labelled_batch(frames, model.layout, train.grid, None, sizes.image_hw)
    cases.append(("fine-tuning (BEV seg + CenterPoint)", model, labelled, model.lidar))

    rows = []
    for name, method, batch, encoder in cases:
        method.to(device).train()
        batch = batch.to(device)
        for amp in (False, True):
            rows.append(_method_row(name, method, batch, encoder, amp, device, timer))
    return rows


def _method_row(
    name: str,
    method: Any,  # an nn.Module with training_step(batch) -> {"loss": ...}
    batch: Any,
    encoder: torch.nn.Module,
    amp: bool,
    device: torch.device,
    timer: Timer,
) -> Row:
    precision = "AMP" if amp else "fp32"
    check = f"{name} step {precision}"
    dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    params = [p for p in method.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-5)
    scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")
    losses: list[float] = []
    good: list[bool] = []

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=dtype, enabled=amp):
            loss = method.training_step(batch)["loss"]
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        losses.append(float(loss.detach()))
        grads = [p.grad for p in encoder.parameters() if p.grad is not None]
        good.append(bool(grads) and all(bool(torch.isfinite(g).all()) for g in grads))
        good.append(any(bool(g.abs().sum() > 0) for g in grads))
        scaler.step(optimizer)
        scaler.update()

    try:
        seconds, peak = timer(step)
    except Exception as error:  # a check reports its failure; the others still run
        if amp:
            return _amp_failure("pointcloud", check, device, error)
        return Row("pointcloud", check, "FAILED", None, None, _first_line(error))
    finite = all(math.isfinite(v) for v in losses)
    status = "ok" if finite and all(good) else "FAILED"
    detail = f"loss {losses[-1]:.4f}; encoder gradients " + (
        "finite and non-zero" if all(good) else "missing, zero or not finite"
    )
    return Row("pointcloud", check, status, seconds, peak, detail)


# ---------------------------------------------------------------- InfoNCE


def infonce_rows(device: torch.device, timer: Timer, sizes: Sizes) -> list[Row]:
    from shared.losses import info_nce, tiled_info_nce

    n, dim = sizes.infonce_n, sizes.infonce_dim

    def views(count: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator(device="cpu").manual_seed(0)
        z = torch.randn(2, count, dim, generator=generator).to(device=device, dtype=dtype)
        return z[0].requires_grad_(), z[1].requires_grad_()

    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        z1, z2 = views(n, dtype)
        label = f"tiled InfoNCE 2 x {n} x {dim} {str(dtype).removeprefix('torch.')}"
        try:
            seconds, peak = timer(partial(_backward, tiled_info_nce, z1, z2))
            with torch.no_grad():
                value = float(tiled_info_nce(z1, z2, 0.1))
        except Exception as error:  # a check reports its failure; the others still run
            rows.append(Row("infonce", label, "FAILED", None, None, _first_line(error)))
            continue
        status = "ok" if math.isfinite(value) else "FAILED"
        rows.append(Row("infonce", label, status, seconds, peak, f"loss {value:.4f}"))
        del z1, z2
    rows.append(_dense_row(device, timer, n, views, info_nce, tiled_info_nce))
    return rows


def _backward(loss: Callable[..., torch.Tensor], z1: torch.Tensor, z2: torch.Tensor) -> None:
    loss(z1, z2, 0.1).backward()


def _dense_row(
    device: torch.device,
    timer: Timer,
    n: int,
    views: Callable[[int, torch.dtype], tuple[torch.Tensor, torch.Tensor]],
    dense: Callable[..., torch.Tensor],
    tiled: Callable[..., torch.Tensor],
) -> Row:
    """Dense fp32 InfoNCE at the largest N (halving from ``n``) that fits in memory."""
    count, tried = n, []
    while count >= 2:
        z1, z2 = views(count, torch.float32)
        try:
            seconds, peak = timer(partial(_backward, dense, z1, z2))
        except torch.cuda.OutOfMemoryError:
            tried.append(count)
            del z1, z2
            if device.type == "cuda":
                torch.cuda.empty_cache()
            count //= 2
            continue
        with torch.no_grad():
            gap = abs(float(dense(z1, z2, 0.1)) - float(tiled(z1, z2, 0.1)))
        too_big = f"; out of memory at N = {', '.join(map(str, tried))}" if tried else ""
        status = "ok" if gap < 1e-3 else "FAILED"
        detail = f"largest N that fits: {count}; |dense - tiled| = {gap:.1e}{too_big}"
        return Row("infonce", f"dense InfoNCE 2 x {count} fp32", status, seconds, peak, detail)
    return Row("infonce", "dense InfoNCE fp32", "FAILED", None, None, "no size fits in memory")


# ---------------------------------------------------------------- graph and recsys


def graph_rows(device: torch.device, timer: Timer, data: Path) -> list[Row]:
    check = "GRACE Cora epoch (full graph, one Adam step)"
    if not (data / "graph" / "Cora").is_dir():
        return [Row("graph", check, "skipped", None, None, f"no Cora under {data / 'graph'}")]
    from graph_cl.data import GraphDataConfig, build_graph
    from graph_cl.grace import GRACE, GraceConfig

    graph = build_graph(GraphDataConfig(name="cora", root=str(data / "graph"))).to(device)
    torch.manual_seed(0)
    model = GRACE(graph.num_features, GraceConfig()).to(device)
    return [_train_row("graph", check, model, lambda: model.training_step(graph)["loss"], timer)]


def recsys_rows(device: torch.device, timer: Timer, data: Path) -> list[Row]:
    check = "MCLRec Beauty batch of 256 (forward + backward of L, one Adam step)"
    path = data / "recsys" / "Beauty.txt"
    if not path.is_file():
        return [Row("recsys", check, "skipped", None, None, f"no {path}")]
    from recsys_cl.batches import SequenceBatches
    from recsys_cl.config import RecsysExperiment, mclrec_config
    from recsys_cl.data_io import load_sequences
    from recsys_cl.mclrec import MCLRec
    from recsys_cl.splits import leave_one_out
    from shared.config import load_config
    from shared.training.batches import move_to_device

    exp = load_config(RecsysExperiment, ROOT / "configs" / "recsys" / "mclrec_beauty.yaml")
    split = leave_one_out(load_sequences(path), exp.data.max_length)
    torch.manual_seed(0)
    model = MCLRec(split.n_items, exp.model, mclrec_config(exp)).to(device)
    batch = next(iter(SequenceBatches(split.train, 256, augmenter=exp.augment, seed=0)))
    batch = move_to_device(batch, device)
    return [
        _train_row("recsys", check, model, lambda: model.total_loss(model.losses(batch)), timer)
    ]


def _train_row(
    group: str,
    check: str,
    model: torch.nn.Module,
    loss_fn: Callable[[], torch.Tensor],
    timer: Timer,
) -> Row:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    losses: list[float] = []

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))

    try:
        seconds, peak = timer(step)
    except Exception as error:  # a check reports its failure; the others still run
        return Row(group, check, "FAILED", None, None, _first_line(error))
    status = "ok" if all(math.isfinite(v) for v in losses) else "FAILED"
    return Row(group, check, status, seconds, peak, f"loss {losses[-1]:.4f}")


# ---------------------------------------------------------------- DDP


def ddp_rows(device: torch.device, sizes: Sizes, work: Path, timeout_s: float) -> list[Row]:
    """Two ranks (NCCL on two GPUs; gloo in the CPU dry run), one DDP step each."""
    check = "DDP step, 2 ranks (distributed_info_nce)"
    if device.type == "cuda" and torch.cuda.device_count() < 2:
        detail = f"{torch.cuda.device_count()} GPU: needs two"
        return [Row("ddp", check, "skipped", None, None, detail)]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    procs = []
    for rank in range(2):
        env = dict(
            os.environ,
            WORLD_SIZE="2",
            RANK=str(rank),
            LOCAL_RANK=str(rank),
            MASTER_ADDR="127.0.0.1",
            MASTER_PORT=str(port),
        )
        if device.type != "cuda":
            env["CUDA_VISIBLE_DEVICES"] = ""
        out = work / f"ddp_rank{rank}.json"
        cmd = [
            sys.executable,
            __file__,
            "--ddp-worker",
            str(out),
            "--ddp-rows",
            str(sizes.ddp_rows),
        ]
        procs.append((subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True), out))
    errors = []
    for proc, _ in procs:
        try:
            _, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
            errors.append(f"rank timed out after {timeout_s:.0f} s")
            continue
        if proc.returncode:
            tail = (stderr or "").strip().splitlines()
            errors.append(tail[-1] if tail else f"exit {proc.returncode}")
    if errors:
        return [Row("ddp", check, "FAILED", None, None, "; ".join(errors))]
    report = json.loads(procs[0][1].read_text())
    good = report["grad_diff"] < 1e-4
    detail = (
        f"{report['backend']}; max |DDP grad - single-process grad| = {report['grad_diff']:.1e}"
    )
    return [
        Row("ddp", check, "ok" if good else "FAILED", report["seconds"], report["peak_mib"], detail)
    ]


def ddp_worker(out: Path, rows: int) -> int:
    """One rank of :func:`ddp_rows`: a DDP step of a projection head under
    ``distributed_info_nce``; rank 0 compares its gradient with ``info_nce`` on the full batch."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    from shared import distributed
    from shared.heads import ProjectionHead
    from shared.losses import info_nce

    distributed.init_from_env()
    rank = distributed.rank()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda", rank) if cuda else torch.device("cpu")
    torch.manual_seed(0)
    head = ProjectionHead(32, 64, 16, batch_norm=False).to(device)  # no per-rank statistics
    reference = ProjectionHead(32, 64, 16, batch_norm=False).to(device)
    reference.load_state_dict(head.state_dict())
    model = DistributedDataParallel(head, device_ids=[rank] if cuda else None)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(2, 2 * rows, 32, generator=generator).to(device)
    local = slice(rank * rows, (rank + 1) * rows)
    timer = Timer(device, 1)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        z1, z2 = model(x[0, local]), model(x[1, local])
        distributed.distributed_info_nce(z1, z2, 0.2).backward()

    seconds, peak = timer(step)
    info_nce(reference(x[0]), reference(x[1]), 0.2).backward()
    diff = max(
        float((_grad(p) - _grad(q)).abs().max())
        for p, q in zip(head.parameters(), reference.parameters(), strict=True)
    )
    if rank == 0:
        report = {
            "backend": dist.get_backend(),
            "seconds": seconds,
            "peak_mib": peak,
            "grad_diff": diff,
        }
        out.write_text(json.dumps(report))
    dist.destroy_process_group()
    return 0


def _grad(param: torch.Tensor) -> torch.Tensor:
    if param.grad is None:
        raise RuntimeError("a parameter got no gradient")
    return param.grad


# ---------------------------------------------------------------- report


def markdown(rows: Sequence[Row]) -> str:
    lines = [
        "| group | check | status | median s | peak MiB | detail |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        seconds = "" if row.median_s is None else f"{row.median_s:.4f}"
        peak = "" if row.peak_mib is None else f"{row.peak_mib:.0f}"
        lines.append(
            f"| {row.group} | {row.check} | {row.status} | {seconds} | {peak} | {row.detail} |"
        )
    return "\n".join(lines)


def run(
    device: torch.device, groups: Sequence[str], reps: int, data: Path, work: Path
) -> dict[str, Any]:
    cuda = device.type == "cuda"
    sizes = Sizes.for_device(cuda)
    timer = Timer(device, reps)
    started = time.perf_counter()
    rows = extra_rows(cuda)
    for group in groups:
        if group == "backbone":
            rows += backbone_rows(device, timer, sizes)
        elif group == "pointcloud":
            rows += pointcloud_rows(device, timer, sizes, work)
        elif group == "infonce":
            rows += infonce_rows(device, timer, sizes)
        elif group == "graph":
            rows += graph_rows(device, timer, data)
        elif group == "recsys":
            rows += recsys_rows(device, timer, data)
        elif group == "ddp":
            rows += ddp_rows(device, sizes, work, timeout_s=120.0)
    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if cuda else None,
        "gpus": torch.cuda.device_count() if cuda else 0,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "reps": reps,
        "total_s": time.perf_counter() - started,
        "load_average": os.getloadavg(),
        "rows": [asdict(row) for row in rows],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--allow-cpu",
        action="store_true",
        help="without CUDA, a dry run at tiny sizes on the CPU (tests the script, times nothing "
        "meaningful)",
    )
    parser.add_argument("--reps", type=int, default=3, help="timed runs per row after a warm-up")
    parser.add_argument(
        "--only", nargs="+", choices=GROUPS, default=list(GROUPS), help="run these groups only"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("CONTRAST_DATA", ROOT.parent / "shared" / "data")),
        help="data root with graph/Cora and recsys/Beauty.txt (default: $CONTRAST_DATA)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/gpu_check.json")
    parser.add_argument("--ddp-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--ddp-rows", type=int, default=64, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error(f"--reps must be >= 1, got {args.reps}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.ddp_worker is not None:
        return ddp_worker(args.ddp_worker, args.ddp_rows)
    cuda = torch.cuda.is_available()
    if not cuda and not args.allow_cpu:
        print(NO_CUDA.format(torch=torch.__version__, build=torch.version.cuda), file=sys.stderr)
        return 2
    device = torch.device("cuda" if cuda else "cpu")
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as work:
        report = run(device, args.only, args.reps, args.data, Path(work))
    rows = [Row(**row) for row in report["rows"]]
    where = report["gpu"] or "CPU dry run (tiny sizes)"
    print(f"gpu_check on {where}, torch {report['torch']}, {report['total_s']:.0f} s")
    print(markdown(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 1 if any(row.status == "FAILED" for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
