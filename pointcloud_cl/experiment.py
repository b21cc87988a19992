"""Pretraining (PRC, SLidR, CALICO = PRC then RAD) and fine-tuning runs, wired to the trainer.

``pretrain(cfg)`` writes ``<trainer.out_dir>/pretrained.pt`` holding the LiDAR encoder (and, for
CALICO, the RAD-distilled camera encoder). ``finetune(cfg)`` trains the BEV segmentation +
CenterPoint heads from those weights (or random init) on a fraction of the labelled frames, for
every label fraction and seed, and scores BEV mIoU and the devkit's NDS / mAP on the val split.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from nuscenes.nuscenes import NuScenes

from pointcloud_cl.camera_backbone import CameraBEVEncoder, ImageEncoder, make_camera_batch
from pointcloud_cl.config import PointcloudExperiment
from pointcloud_cl.data import BatchStream, FrameSet
from pointcloud_cl.evaluation import bev_iou, detection_scores, lidar_boxes_to_results
from pointcloud_cl.finetune import BEVPerceptionModel, LabelledBatch, make_labelled_batch
from pointcloud_cl.heads import N_CLASSES, BEVLayout
from pointcloud_cl.lidar_backbone import LidarBEVEncoder
from pointcloud_cl.nuscenes_data import open_nuscenes
from pointcloud_cl.prc import PointRegionContrast
from pointcloud_cl.rad import RegionAwareDistillation, RegionBEVBatch, region_cells
from pointcloud_cl.slidr import SLidR, SuperpixelConfig, make_superpixel_pairs
from pointcloud_cl.synthetic import make_synthetic_nuscenes
from pointcloud_cl.views import ViewAugmentation, make_point_views
from pointcloud_cl.voxelize import voxelize_batch
from shared.evaluation import mean_std
from shared.training import Trainer, TrainerConfig, seed_everything

log = logging.getLogger("contrast")
PRETRAINED_FORMAT = "contrastive-suite/pointcloud-pretrained-v1"


def open_data(cfg: PointcloudExperiment) -> NuScenes:
    root = Path(cfg.data.root)
    if cfg.data.make_synthetic and not (root / cfg.data.version).is_dir():
        log.info("writing the synthetic nuScenes set to %s", root)
        make_synthetic_nuscenes(root, cfg.data.synthetic)
    return open_nuscenes(root, cfg.data.version)


def lidar_encoder(cfg: PointcloudExperiment) -> LidarBEVEncoder:
    return LidarBEVEncoder(cfg.data.grid(), cfg.model.base_channels, cfg.model.neck_channels)


def camera_encoder(cfg: PointcloudExperiment) -> CameraBEVEncoder:
    m = cfg.model
    return CameraBEVEncoder(
        cfg.data.grid(),
        tuple(m.image_size),
        m.image_width,
        m.camera_bev_channels,
        tuple(m.depth_bins),
    )


def _prc(cfg: PointcloudExperiment, train: FrameSet) -> tuple[PointRegionContrast, BatchStream]:
    p = cfg.prc
    method = PointRegionContrast(
        lidar_encoder(cfg),
        p.projection_dim,
        p.region_points,
        p.background_points,
        p.scene_points,
        p.temperature,
        p.alpha,
    )
    augmentation = ViewAugmentation(p.max_rotation, (p.scale_min, p.scale_max), p.flip)

    def batch(index: list[int], rng: np.random.Generator):
        return make_point_views(
            [train.frames[i].points for i in index],
            [train.regions(i) for i in index],
            train.grid,
            augmentation,
            rng,
        )

    return method, BatchStream(len(train), cfg.data.batch_size, batch)


def _slidr(cfg: PointcloudExperiment, train: FrameSet) -> tuple[SLidR, BatchStream]:
    s = cfg.slidr
    teacher = ImageEncoder(cfg.model.image_width)
    if s.image_teacher:
        teacher.load_state_dict(torch.load(s.image_teacher, map_location="cpu", weights_only=True))
    else:
        log.warning(
            "slidr.image_teacher is empty: distilling from a frozen, randomly initialised "
            "image encoder"
        )
    method = SLidR(lidar_encoder(cfg), teacher, s.projection_dim, s.temperature)
    sp_cfg = SuperpixelConfig(s.n_segments, s.compactness, s.sigma)

    def batch(index: list[int], rng: np.random.Generator):
        frames = [train.frames[i] for i in index]
        return make_superpixel_pairs(
            frames, [train.superpixels(i, sp_cfg) for i in index], train.grid, s.min_depth
        )

    return method, BatchStream(len(train), cfg.data.batch_size, batch)


def _rad(
    cfg: PointcloudExperiment, train: FrameSet, teacher: LidarBEVEncoder
) -> tuple[RegionAwareDistillation, BatchStream]:
    r = cfg.rad
    method = RegionAwareDistillation(
        camera_encoder(cfg), teacher, r.projection_dim, r.cells_per_region, r.temperature
    )

    def batch(index: list[int], rng: np.random.Generator):
        frames = [train.frames[i] for i in index]
        scans = [f.points for f in frames]
        cells, owner = region_cells(scans, [train.regions(i) for i in index], train.grid)
        return RegionBEVBatch(
            voxelize_batch(scans, train.grid),
            make_camera_batch(frames, cfg.data.cameras, tuple(cfg.model.image_size)),
            cells,
            owner,
        )

    return method, BatchStream(len(train), cfg.data.batch_size, batch)


def pretrain(cfg: PointcloudExperiment) -> Path:
    """Run ``cfg.method`` on the train split; returns the path of ``pretrained.pt``."""
    nusc = open_data(cfg)
    cameras = () if cfg.method == "prc" else cfg.data.cameras
    train = FrameSet.load(nusc, cfg.data.train_split, cfg.data.grid(), cameras, cfg.regions)
    out_dir = Path(cfg.trainer.out_dir)
    camera_state = None
    seed_everything(cfg.trainer.seed)  # model initialisation, before the trainer seeds the loop
    if cfg.method == "slidr":
        method, batches = _slidr(cfg, train)
        Trainer(cfg.trainer, method, experiment=cfg).fit(batches)
        lidar = method.encoder
    else:
        method, batches = _prc(cfg, train)
        Trainer(cfg.trainer, method, experiment=cfg).fit(batches)
        lidar = method.encoder
        if cfg.method == "calico":
            stage2 = replace(cfg.rad.trainer, out_dir=str(out_dir / "rad"), seed=cfg.trainer.seed)
            rad, rad_batches = _rad(cfg, train, lidar)
            Trainer(stage2, rad, experiment=cfg).fit(rad_batches)
            camera_state = rad.student.state_dict()
    path = out_dir / "pretrained.pt"
    torch.save(
        {
            "format": PRETRAINED_FORMAT,
            "method": cfg.method,
            "lidar": lidar.state_dict(),
            "camera": camera_state,
        },
        path,
    )
    log.info("pretrained %s weights written to %s", cfg.method, path)
    return path


def load_pretrained(model: BEVPerceptionModel, path: str | Path) -> str:
    """Load the LiDAR (and, for a fusion model, camera) encoder weights; returns the init name."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != PRETRAINED_FORMAT:
        raise ValueError(f"{path} is not a pointcloud pretrained.pt ({PRETRAINED_FORMAT})")
    model.lidar.load_state_dict(state["lidar"])
    method = str(state["method"])
    if model.camera is not None:
        if state["camera"] is None:
            raise ValueError(
                f"{path} ({method}) has no camera encoder; set finetune.use_camera=false"
            )
        model.camera.load_state_dict(state["camera"])
    elif state["camera"] is not None:
        return f"{method} LiDAR encoder only"  # CALICO's LiDAR encoder is its PRC stage
    return method


def evaluate(
    model: BEVPerceptionModel,
    nusc: NuScenes,
    val: FrameSet,
    cfg: PointcloudExperiment,
    out_dir: Path,
) -> dict[str, float]:
    """BEV mIoU over the val frames and the devkit detection metrics (NDS, mAP, TP errors)."""
    model.eval()
    cameras = cfg.data.cameras if model.camera is not None else None
    preds, targets, results = [], [], {}
    for start in range(0, len(val), cfg.data.batch_size):
        frames = val.frames[start : start + cfg.data.batch_size]
        batch = make_labelled_batch(
            frames, model.layout, val.grid, cameras, tuple(cfg.model.image_size)
        )
        segmentation, detections = model.predict(batch)
        preds += list(segmentation)
        targets += list(batch.segmentation.numpy())
        for frame, (boxes, scores, labels) in zip(frames, detections, strict=True):
            results[frame.token] = lidar_boxes_to_results(nusc, frame.token, boxes, scores, labels)
    scores = {"mIoU": bev_iou(preds, targets, N_CLASSES + 1)["mIoU"]}
    scores.update(detection_scores(nusc, results, cfg.data.val_split, out_dir))
    return scores


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


def finetune(cfg: PointcloudExperiment) -> dict[str, dict[str, tuple[float, float]]]:
    """Fine-tune for every (label fraction, seed); returns mean/std per fraction, writes JSON."""
    f = cfg.finetune
    nusc = open_data(cfg)
    cameras = cfg.data.cameras if f.use_camera else ()
    train = FrameSet.load(nusc, cfg.data.train_split, cfg.data.grid(), cameras, cfg.regions)
    val = FrameSet.load(nusc, cfg.data.val_split, cfg.data.grid(), cameras, cfg.regions)
    out_dir = Path(f.out_dir)
    runs: dict[str, list[dict[str, float]]] = {}
    init = "random"
    for fraction in f.label_fractions:
        for seed in f.seeds:
            seed_everything(seed)
            model = BEVPerceptionModel(
                lidar_encoder(cfg), camera_encoder(cfg) if f.use_camera else None
            )
            if f.pretrained:
                init = load_pretrained(model, f.pretrained)
            labelled = train.subset(fraction, seed)
            batches = BatchStream(
                len(labelled),
                cfg.data.batch_size,
                partial(
                    _labelled_batch,
                    labelled,
                    model.layout,
                    cfg.data.cameras if f.use_camera else None,
                    tuple(cfg.model.image_size),
                ),
            )
            run_dir = out_dir / f"labels{fraction:g}_seed{seed}"
            trainer_cfg = TrainerConfig(
                epochs=max(1, math.ceil(f.steps / len(batches))),
                lr=f.lr,
                seed=seed,
                out_dir=str(run_dir),
                checkpoint_every=0,
                progress=False,
                tensorboard=False,
                log_every=0,
                device=cfg.trainer.device,
            )
            Trainer(trainer_cfg, model).fit(batches)
            scores = evaluate(model, nusc, val, cfg, run_dir)
            log.info("init=%s labels=%g seed=%d %s", init, fraction, seed, scores)
            runs.setdefault(f"{fraction:g}", []).append(scores)
    summary = {fraction: mean_std(rows) for fraction, rows in runs.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "finetune.json").write_text(
        json.dumps(
            {
                "init": init,
                "use_camera": f.use_camera,
                "steps": f.steps,
                "seeds": list(f.seeds),
                "runs": runs,
                "summary": summary,
            },
            indent=2,
        )
    )
    return summary
