"""Typed experiment config of the pointcloud domain (YAML under ``configs/pointcloud/``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pointcloud_cl.io import CAMERA_CHANNELS
from pointcloud_cl.regions import RegionConfig
from pointcloud_cl.synthetic import SyntheticConfig
from pointcloud_cl.voxelize import VoxelGrid
from shared.training import TrainerConfig


@dataclass
class DataConfig:
    """Where the nuScenes-format tables live and how frames become voxels.

    ``root`` is a nuScenes dataroot (real: download from https://www.nuscenes.org/nuscenes). When
    ``make_synthetic`` is true and ``root`` has no tables, the synthetic set is generated there.
    """

    root: str = "runs/pointcloud/synthetic_nuscenes"
    version: str = "v1.0-mini"
    train_split: str = "mini_train"
    val_split: str = "mini_val"
    make_synthetic: bool = True
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    cameras: tuple[str, ...] = CAMERA_CHANNELS
    point_range: tuple[float, float, float, float, float, float] = (
        -25.6,
        -25.6,
        -3.2,
        25.6,
        25.6,
        3.2,
    )
    voxel_size: tuple[float, float, float] = (0.1, 0.1, 0.2)
    batch_size: int = 2
    # LiDAR sweeps per key frame (CenterPoint: 10): > 1 adds the earlier sweeps, ego-motion
    # compensated, with a time-lag channel, which the velocity head needs; 1 = key frame only.
    sweeps: int = 1

    def grid(self) -> VoxelGrid:
        return VoxelGrid(
            (*self.point_range,),
            (*self.voxel_size,),
            point_features=5 if self.sweeps > 1 else 4,
        )


@dataclass
class ModelConfig:
    """Backbone widths (sparse stages base..8 base, BEV neck, camera encoder, camera BEV) and the
    camera branch's input image size (H, W); images of another size are resized to it."""

    base_channels: int = 16
    neck_channels: int = 64
    image_width: int = 32
    camera_bev_channels: int = 64
    depth_bins: tuple[float, float, float] = (1.0, 40.0, 1.0)
    image_size: tuple[int, int] = (128, 224)


@dataclass
class PRCConfig:
    """CALICO PRC (``pointcloud_cl.prc``): N = M = 1024, alpha = 0.5; views rotated in
    [-90, 90] degrees and scaled in [0.9, 1.1] (CALICO's augmentation as reported by reviews of
    the paper; no flip, ``flip: true`` adds a random y-flip). ``scene_points`` (RAPC's K) and
    ``temperature`` are not confirmed."""

    projection_dim: int = 128
    region_points: int = 1024
    background_points: int = 1024
    scene_points: int = 1024
    temperature: float = 0.07
    alpha: float = 0.5
    max_rotation: float = 1.5707963267948966
    scale_min: float = 0.9
    scale_max: float = 1.1
    flip: bool = False


@dataclass
class RADConfig:
    """CALICO RAD (``pointcloud_cl.rad``); ``cells_per_region`` is a compute cap of ours and
    ``temperature`` is not confirmed against the paper."""

    projection_dim: int = 128
    cells_per_region: int = 8
    temperature: float = 0.07
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(epochs=4, lr=1e-3))


@dataclass
class SLidRConfig:
    """SLidR; ``image_teacher``: an :class:`ImageEncoder` state_dict, e.g. the
    ``image_encoder.pt`` of ``contrast pointcloud pretrain-image`` (empty: frozen random init)."""

    projection_dim: int = 64
    temperature: float = 0.07
    n_segments: int = 150
    compactness: float = 6.0
    sigma: float = 3.0
    min_depth: float = 1.0
    image_teacher: str = ""


@dataclass
class ImagePretrainConfig:
    """``pretrain-image`` (``pointcloud_cl.image_pretrain``): SimCLR on the train split's camera
    images for SLidR's teacher (width ``model.image_width``, trained with ``trainer``).
    ``batch_size`` counts images (two views each); ``crop_scale`` is MoCo v2's, ``jitter`` the
    brightness / contrast / saturation strength."""

    projection_dim: int = 64
    temperature: float = 0.1
    batch_size: int = 32
    crop_scale: tuple[float, float] = (0.2, 1.0)
    jitter: float = 0.4


@dataclass
class FinetuneConfig:
    """Fine-tuning from ``pretrained`` (a pretrained.pt, or empty for random init); the stage
    writes into ``trainer.out_dir`` like every other stage."""

    pretrained: str = ""
    use_camera: bool = False
    label_fractions: tuple[float, ...] = (0.01, 0.1)
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 150
    lr: float = 2e-3
    bev_frames: int = 3  # validation frames drawn to <trainer.out_dir>/plots/bev_val*.png


@dataclass
class PointcloudExperiment:
    method: Literal["prc", "slidr", "calico"] = "calico"
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    regions: RegionConfig = field(default_factory=RegionConfig)
    prc: PRCConfig = field(default_factory=PRCConfig)
    rad: RADConfig = field(default_factory=RADConfig)
    slidr: SLidRConfig = field(default_factory=SLidRConfig)
    image: ImagePretrainConfig = field(default_factory=ImagePretrainConfig)
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(epochs=4, lr=1e-3, out_dir="runs/pointcloud/pretrain")
    )
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    # The instance contrast by name (`contrast objectives`), e.g. {name: dcl, temperature: 0.07}:
    # PRC's scene-level point contrast (prc and calico) or SLidR's superpixel contrast; empty
    # keeps the paper's loss (PointInfoNCE / SLidR's InfoNCE).
    objective: dict[str, Any] = field(default_factory=dict)
