"""Pointcloud runs through the entry points every domain's ``experiment.py`` has:

- :func:`build` -> the train frames (their statistics logged first), the pretraining method
  ``exp.method`` names (PRC, SLidR, or CALICO's PRC stage) and its batches;
- :func:`run` -> pretraining; writes ``<trainer.out_dir>/pretrained.pt`` (the LiDAR encoder and,
  for CALICO, the RAD-distilled camera encoder, in its own run folder ``rad/``), the run folder's
  metrics and plots, and prints the final table;
- :func:`evaluate_checkpoint` -> BEV mIoU and the devkit's NDS / mAP of a fine-tuned checkpoint;

and the supervised stage :func:`finetune`: the BEV segmentation + CenterPoint heads trained from
those weights (or random init) on a fraction of the labelled frames, for every label fraction and
seed, each a run folder of its own under ``<trainer.out_dir>/labels<f>_seed<s>/`` (its model in
``last.pt``), with the summary, BEV pictures of validation frames and the final table in
``<trainer.out_dir>``.

    >>> exp = load_config(PointcloudExperiment, "configs/pointcloud/prc_synthetic.yaml", [])
    >>> weights = run(exp)
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from nuscenes.nuscenes import NuScenes

from pointcloud_cl.bev_render import render_bev
from pointcloud_cl.camera_backbone import CameraBEVEncoder, ImageEncoder, make_camera_batch
from pointcloud_cl.config import PointcloudExperiment
from pointcloud_cl.data import BatchStream, FrameSet
from pointcloud_cl.evaluation import bev_iou, detection_scores, lidar_boxes_to_results
from pointcloud_cl.finetune import BEVPerceptionModel, LabelledBatch, make_labelled_batch
from pointcloud_cl.heads import N_CLASSES, BEVLayout
from pointcloud_cl.lidar_backbone import LidarBEVEncoder
from pointcloud_cl.nuscenes_data import open_nuscenes
from pointcloud_cl.prc import SCENE_CONTRAST_PROVIDES, PointRegionContrast
from pointcloud_cl.rad import RegionAwareDistillation, RegionBEVBatch, region_cells
from pointcloud_cl.slidr import (
    SUPERPIXEL_CONTRAST_PROVIDES,
    SLidR,
    SuperpixelConfig,
    SuperpixelPairs,
    make_superpixel_pairs,
)
from pointcloud_cl.synthetic import check_reusable, make_synthetic_nuscenes
from pointcloud_cl.views import PointViews, ViewAugmentation, make_point_views
from pointcloud_cl.voxelize import voxelize_batch
from shared.config import save_config
from shared.errors import CheckpointError, InputError
from shared.evaluation import mean_std
from shared.losses.registry import check_fits
from shared.run_report import finish_run
from shared.training import (
    Trainer,
    TrainerConfig,
    TrainResult,
    load_model_weights,
    save_checkpoint_atomic,
    seed_everything,
)
from shared.training.run_log import MetricsLog

log = logging.getLogger("contrast")
PRETRAINED_FORMAT = "contrastive-suite/pointcloud-pretrained-v1"


def open_data(exp: PointcloudExperiment) -> NuScenes:
    root = Path(exp.data.root)
    if exp.data.make_synthetic and not (root / exp.data.version).is_dir():
        log.info("writing the synthetic nuScenes set to %s", root)
        make_synthetic_nuscenes(root, exp.data.synthetic)
    elif exp.data.make_synthetic and (differs := check_reusable(root, exp.data.synthetic)):
        log.warning(
            "reusing the synthetic set at %s, which differs from data.synthetic in %s; delete it "
            "to regenerate it with this config",
            root,
            ", ".join(differs),
        )
    nusc = open_nuscenes(root, exp.data.version)
    log.info(
        "nuScenes %s at %s: %d scenes, %d samples (key frames), %d annotations",
        exp.data.version,
        root,
        len(nusc.scene),
        len(nusc.sample),
        len(nusc.sample_annotation),
    )
    return nusc


def load_frames(
    nusc: NuScenes, exp: PointcloudExperiment, split: str, cameras: tuple[str, ...]
) -> FrameSet:
    """The key frames of ``split`` (points, cameras, boxes), their statistics logged."""
    frames = FrameSet.load(
        nusc, split, exp.data.grid(), cameras, exp.regions, sweeps=exp.data.sweeps
    )
    points = sum(len(f.points) for f in frames.frames)
    objects = sum(len(f.boxes) for f in frames.frames)
    log.info(
        "split %s: %d frames, %.0f points and %.1f boxes per frame, cameras: %s",
        split,
        len(frames),
        points / max(len(frames), 1),
        objects / max(len(frames), 1),
        ", ".join(cameras) or "none",
    )
    return frames


def lidar_encoder(exp: PointcloudExperiment) -> LidarBEVEncoder:
    grid = exp.data.grid()
    return LidarBEVEncoder(
        grid, exp.model.base_channels, exp.model.neck_channels, in_channels=grid.point_features
    )


def camera_encoder(exp: PointcloudExperiment) -> CameraBEVEncoder:
    m = exp.model
    return CameraBEVEncoder(
        exp.data.grid(),
        (*m.image_size,),
        m.image_width,
        m.camera_bev_channels,
        (*m.depth_bins,),
    )


def _prc(exp: PointcloudExperiment, train: FrameSet) -> tuple[PointRegionContrast, BatchStream]:
    p = exp.prc
    method = PointRegionContrast(
        lidar_encoder(exp),
        p.projection_dim,
        p.region_points,
        p.background_points,
        p.scene_points,
        p.temperature,
        p.alpha,
        scene_contrast=exp.objective,
    )
    augmentation = ViewAugmentation(p.max_rotation, (p.scale_min, p.scale_max), p.flip)

    def batch(index: list[int], rng: np.random.Generator) -> PointViews:
        return make_point_views(
            [train.frames[i].points for i in index],
            [train.regions(i) for i in index],
            train.grid,
            augmentation,
            rng,
        )

    return method, BatchStream(len(train), exp.data.batch_size, batch)


def load_image_teacher(teacher: ImageEncoder, path: str | Path) -> None:
    """Load an ``ImageEncoder`` state dict (``pretrain-image``'s ``image_encoder.pt``) into
    ``teacher``; a missing, unreadable or mis-sized file is one error naming it."""
    if not Path(path).is_file():
        raise InputError(f"slidr.image_teacher: {path} not found (see `pretrain-image`)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        teacher.load_state_dict(state)
    except Exception as err:  # truncated, foreign, or another encoder width
        raise CheckpointError(
            f"slidr.image_teacher: {path} is not an image encoder of width "
            f"{teacher.out_channels // 4} ({str(err).splitlines()[0]})"
        ) from err
    log.info("SLidR image teacher: %s (frozen)", path)


def _slidr(exp: PointcloudExperiment, train: FrameSet) -> tuple[SLidR, BatchStream]:
    s = exp.slidr
    teacher = ImageEncoder(exp.model.image_width)
    if s.image_teacher:
        load_image_teacher(teacher, s.image_teacher)
    else:
        log.warning(
            "slidr.image_teacher is empty: distilling from a frozen, randomly initialised "
            "image encoder"
        )
    method = SLidR(
        lidar_encoder(exp), teacher, s.projection_dim, s.temperature, objective=exp.objective
    )
    sp_cfg = SuperpixelConfig(s.n_segments, s.compactness, s.sigma)

    def batch(index: list[int], rng: np.random.Generator) -> SuperpixelPairs:
        frames = [train.frames[i] for i in index]
        return make_superpixel_pairs(
            frames, [train.superpixels(i, sp_cfg) for i in index], train.grid, s.min_depth
        )

    return method, BatchStream(len(train), exp.data.batch_size, batch)


def _rad(
    exp: PointcloudExperiment, train: FrameSet, teacher: LidarBEVEncoder
) -> tuple[RegionAwareDistillation, BatchStream]:
    r = exp.rad
    method = RegionAwareDistillation(
        camera_encoder(exp), teacher, r.projection_dim, r.cells_per_region, r.temperature
    )

    def batch(index: list[int], rng: np.random.Generator) -> RegionBEVBatch:
        frames = [train.frames[i] for i in index]
        scans = [f.points for f in frames]
        cells, owner = region_cells(scans, [train.regions(i) for i in index], train.grid)
        return RegionBEVBatch(
            voxelize_batch(scans, train.grid),
            make_camera_batch(frames, exp.data.cameras, (*exp.model.image_size,)),
            cells,
            owner,
        )

    return method, BatchStream(len(train), exp.data.batch_size, batch)


def build(exp: PointcloudExperiment) -> tuple[FrameSet, Any, BatchStream]:
    """The train frames and the pretraining method ``exp.method`` names (CALICO: its PRC stage)
    with its batches, initialised from ``trainer.seed``. An ``objective:`` that does not fit the
    method fails here, before any data is read."""
    if exp.objective:
        if exp.method == "slidr":
            check_fits(exp.objective, SUPERPIXEL_CONTRAST_PROVIDES, "slidr superpixel contrast")
        else:
            check_fits(exp.objective, SCENE_CONTRAST_PROVIDES, "prc scene-level term")
    nusc = open_data(exp)
    cameras = () if exp.method == "prc" else exp.data.cameras
    train = load_frames(nusc, exp, exp.data.train_split, cameras)
    seed_everything(exp.trainer.seed)  # model initialisation, before the trainer seeds the loop
    method, batches = _slidr(exp, train) if exp.method == "slidr" else _prc(exp, train)
    return train, method, batches


def run(exp: PointcloudExperiment) -> Path:
    """Pretrain ``exp.method`` on the train split; returns the path of ``pretrained.pt``."""
    train, method, batches = build(exp)
    out_dir = Path(exp.trainer.out_dir)
    result = Trainer(exp.trainer, method, experiment=exp).fit(batches)
    lidar = method.encoder
    camera_state = None
    if exp.method == "calico":
        stage2 = replace(exp.rad.trainer, out_dir=str(out_dir / "rad"), seed=exp.trainer.seed)
        rad, rad_batches = _rad(exp, train, lidar)
        rad_result = Trainer(stage2, rad, experiment=exp).fit(rad_batches)
        finish_run(
            out_dir / "rad",
            _final_losses(rad_result),
            title="CALICO stage 2: region-aware distillation (camera BEV student)",
            experiment=exp,
            tensorboard=stage2.tensorboard,
        )
        camera_state = rad.student.state_dict()
    path = save_checkpoint_atomic(
        {
            "format": PRETRAINED_FORMAT,
            "method": exp.method,
            "lidar": lidar.state_dict(),
            "camera": camera_state,
        },
        out_dir / "pretrained.pt",
    )
    stage = "PRC stage of CALICO" if exp.method == "calico" else exp.method
    finish_run(
        out_dir,
        _final_losses(result),
        title=f"{stage} pretraining on {len(train)} frames; weights: {path}",
        experiment=exp,
        tensorboard=exp.trainer.tensorboard,
    )
    return path


def _final_losses(result: TrainResult) -> dict[str, float]:
    last = result.history[-1] if result.history else {}
    metrics = {f"final_{k}": v for k, v in last.items() if "loss" in k}
    metrics["epochs"] = result.epochs_run
    metrics["epoch_time_s"] = float(last.get("epoch_time_s", float("nan")))
    return metrics


def load_pretrained(model: BEVPerceptionModel, path: str | Path) -> str:
    """Load the LiDAR (and, for a fusion model, camera) encoder weights; returns the init name."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"finetune.pretrained: {path} not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, foreign, or a pickle that is not plain tensors
        raise CheckpointError(f"{path} cannot be read as a pretrained.pt ({err})") from err
    if not isinstance(state, dict) or state.get("format") != PRETRAINED_FORMAT:
        raise CheckpointError(f"{path} is not a pointcloud pretrained.pt ({PRETRAINED_FORMAT})")
    method = str(state["method"])
    try:
        model.lidar.load_state_dict(state["lidar"])
        if model.camera is not None and state["camera"] is not None:
            model.camera.load_state_dict(state["camera"])
    except RuntimeError as err:
        raise CheckpointError(
            f"{path} ({method}) does not fit this model (other model sizes?): "
            f"{str(err).splitlines()[0]}"
        ) from err
    if model.camera is not None:
        if state["camera"] is None:
            raise ValueError(
                f"{path} ({method}) has no camera encoder; set finetune.use_camera=false"
            )
    elif state["camera"] is not None:
        return f"{method} LiDAR encoder only"  # CALICO's LiDAR encoder is its PRC stage
    return method


def evaluate(
    model: BEVPerceptionModel,
    nusc: NuScenes,
    val: FrameSet,
    exp: PointcloudExperiment,
    out_dir: Path,
) -> dict[str, float]:
    """BEV mIoU over the val frames and the devkit detection metrics (NDS, mAP, TP errors)."""
    model.eval()
    cameras = exp.data.cameras if model.camera is not None else None
    preds, targets, results = [], [], {}
    for start in range(0, len(val), exp.data.batch_size):
        frames = val.frames[start : start + exp.data.batch_size]
        batch = make_labelled_batch(
            frames, model.layout, val.grid, cameras, (*exp.model.image_size,)
        )
        segmentation, detections = model.predict(batch)
        preds += list(segmentation)
        targets += list(batch.segmentation.numpy())
        for frame, (boxes, scores, labels) in zip(frames, detections, strict=True):
            results[frame.token] = lidar_boxes_to_results(nusc, frame.token, boxes, scores, labels)
    metrics = {"mIoU": bev_iou(preds, targets, N_CLASSES + 1)["mIoU"]}
    metrics.update(detection_scores(nusc, results, exp.data.val_split, out_dir))
    return metrics


def _labelled_batch(
    frames: FrameSet,
    layout: BEVLayout,
    cameras: tuple[str, ...] | None,
    image_hw: tuple[int, int],
    index: list[int],
    rng: np.random.Generator,
) -> LabelledBatch:
    chosen = [frames.frames[i] for i in index]
    return make_labelled_batch(chosen, layout, frames.grid, cameras, image_hw)


def _finetune_model(exp: PointcloudExperiment) -> BEVPerceptionModel:
    return BEVPerceptionModel(
        lidar_encoder(exp), camera_encoder(exp) if exp.finetune.use_camera else None
    )


def finetune(exp: PointcloudExperiment) -> dict[str, dict[str, tuple[float, float]]]:
    """Fine-tune for every (label fraction, seed); returns mean/std per fraction and writes the
    stage folder ``trainer.out_dir`` (see the module docstring)."""
    f = exp.finetune
    nusc = open_data(exp)
    cameras = exp.data.cameras if f.use_camera else ()
    train = load_frames(nusc, exp, exp.data.train_split, cameras)
    val = load_frames(nusc, exp, exp.data.val_split, cameras)
    out_dir = Path(exp.trainer.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(exp, out_dir / "config.yaml")
    runs: dict[str, list[dict[str, float]]] = {}
    init = "random"
    model = None
    summary_log = MetricsLog(
        out_dir, keep_epochs=None, global_step=0, tensorboard=exp.trainer.tensorboard
    )
    try:
        for fraction in f.label_fractions:
            for seed in f.seeds:
                seed_everything(seed)
                model = _finetune_model(exp)
                if f.pretrained:
                    init = load_pretrained(model, f.pretrained)
                labelled = train.subset(fraction, seed)
                batches = BatchStream(
                    len(labelled),
                    exp.data.batch_size,
                    partial(
                        _labelled_batch,
                        labelled,
                        model.layout,
                        exp.data.cameras if f.use_camera else None,
                        (*exp.model.image_size,),
                    ),
                )
                run_name = f"labels{fraction:g}_seed{seed}"
                trainer_cfg = TrainerConfig(
                    epochs=max(1, math.ceil(f.steps / len(batches))),
                    lr=f.lr,
                    seed=seed,
                    out_dir=str(out_dir / run_name),
                    progress=exp.trainer.progress,
                    tensorboard=exp.trainer.tensorboard,
                    log_every=10,
                    device=exp.trainer.device,
                )
                log.info(
                    "fine-tuning %s init on %d labelled frames (%s)", init, len(labelled), run_name
                )
                Trainer(trainer_cfg, model, experiment=exp).fit(batches)
                scores = evaluate(model, nusc, val, exp, out_dir / run_name)
                finish_run(
                    out_dir / run_name,
                    scores,
                    title=f"{init} init, {fraction:.0%} labels, seed {seed}",
                    experiment=exp,
                    tensorboard=exp.trainer.tensorboard,
                    print_table=False,
                )
                _copy_epoch_rows(out_dir / run_name / "metrics.csv", run_name, summary_log)
                log.info("init=%s labels=%g seed=%d %s", init, fraction, seed, scores)
                runs.setdefault(f"{fraction:g}", []).append(scores)
    finally:
        summary_log.close()
    summary = {fraction: mean_std(rows) for fraction, rows in runs.items()}
    if model is not None:
        render_validation_frames(model, val, exp, out_dir / "plots", count=exp.finetune.bev_frames)
    headline = {
        f"{key}@{fraction}": mean
        for fraction, stats in summary.items()
        for key, (mean, _) in stats.items()
        if key in ("mIoU", "NDS", "mAP", "mAVE")
    }
    finish_run(
        out_dir,
        {
            **headline,
            "init": init,
            "use_camera": f.use_camera,
            "steps": f.steps,
            "seeds": list(f.seeds),
            "runs": runs,
            "summary": summary,
        },
        title=f"fine-tuning from {init} init (mean over seeds {list(f.seeds)})",
        experiment=exp,
        tensorboard=exp.trainer.tensorboard,
    )
    return summary


def _copy_epoch_rows(metrics_csv: Path, run_name: str, into: MetricsLog) -> None:
    """A fine-tuning run's epoch rows, under the run's name, in the stage's metrics.csv: its
    training-curve plot then overlays every (label fraction, seed)."""
    with metrics_csv.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if row["split"] == "epoch" and row["name"] != "epoch_time_s":
                values = {row["name"]: float(row["value"])}
                into.log(run_name, values, step=int(row["step"]), epoch=int(row["epoch"]))


def render_validation_frames(
    model: BEVPerceptionModel, val: FrameSet, exp: PointcloudExperiment, folder: Path, count: int
) -> list[Path]:
    """BEV pictures (points, segmentation, ground-truth and predicted boxes) of the first
    ``count`` validation frames."""
    model.eval()
    cameras = exp.data.cameras if model.camera is not None else None
    frames = val.frames[:count]
    if not frames:
        return []
    batch = make_labelled_batch(frames, model.layout, val.grid, cameras, (*exp.model.image_size,))
    device = next(model.parameters()).device
    segmentation, detections = model.predict(batch.to(device))
    return [
        render_bev(frame, seg, det, model.layout, folder / f"bev_val{i}.png")
        for i, (frame, seg, det) in enumerate(zip(frames, segmentation, detections, strict=True))
    ]


def evaluate_checkpoint(exp: PointcloudExperiment, checkpoint: Path) -> dict[str, float]:
    """BEV mIoU and the devkit's detection metrics of a fine-tuned checkpoint (a
    ``labels<f>_seed<s>/last.pt`` of :func:`finetune`) on the val split."""
    nusc = open_data(exp)
    cameras = exp.data.cameras if exp.finetune.use_camera else ()
    val = load_frames(nusc, exp, exp.data.val_split, cameras)
    model = _finetune_model(exp)
    load_model_weights(model, checkpoint)
    return evaluate(model, nusc, val, exp, checkpoint.parent)
