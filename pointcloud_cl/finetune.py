"""Supervised BEV perception model for fine-tuning: LiDAR (optionally + camera) BEV encoders
with the segmentation and CenterPoint heads trained jointly (sum of the two losses)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pointcloud_cl._device import batch_to
from pointcloud_cl.camera_backbone import (
    CameraBatch,
    CameraBEVEncoder,
    ConvFuser,
    make_camera_batch,
)
from pointcloud_cl.heads import (
    N_CLASSES,
    BEVLayout,
    BEVSegmentationHead,
    CenterHead,
    DetectionTarget,
    detection_target,
    segmentation_target,
)
from pointcloud_cl.io import LidarFrame
from pointcloud_cl.lidar_backbone import LidarBEVEncoder
from pointcloud_cl.voxelize import VoxelGrid, Voxels, voxelize_batch


@dataclass
class LabelledBatch:
    voxels: Voxels
    cameras: CameraBatch | None
    segmentation: Tensor  # (B, rows, cols)
    detection: list[DetectionTarget]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> LabelledBatch:
        return batch_to(self, device, non_blocking)


def make_labelled_batch(
    frames: Sequence[LidarFrame],
    layout: BEVLayout,
    grid: VoxelGrid,
    cameras: Sequence[str] | None,
    image_hw: tuple[int, int] | None = None,
) -> LabelledBatch:
    """Voxels, cameras (``None``: LiDAR only; resized to ``image_hw``) and BEV targets."""
    return LabelledBatch(
        voxels=voxelize_batch([f.points for f in frames], grid),
        cameras=None if cameras is None else make_camera_batch(frames, cameras, image_hw),
        segmentation=torch.from_numpy(
            np.stack([segmentation_target(f.boxes, f.labels, layout) for f in frames])
        ),
        detection=[
            detection_target(f.boxes, f.labels, layout, velocities=f.velocities) for f in frames
        ],
    )


class BEVPerceptionModel(nn.Module):
    """LiDAR BEV (+ camera BEV fused by :class:`ConvFuser`) -> segmentation and detection heads.

    Loss: class-weighted cross-entropy over BEV cells (background weighted by
    ``background_weight``, objects by 1: background covers ~95% of the cells) plus the
    CenterPoint loss.
    """

    class_weights: Tensor  # buffer registered in __init__

    def __init__(
        self,
        lidar: LidarBEVEncoder,
        camera: CameraBEVEncoder | None = None,
        background_weight: float = 0.1,
    ) -> None:
        super().__init__()
        if not 0 < background_weight <= 1:
            raise ValueError(f"background_weight must be in (0, 1], got {background_weight}")
        weights = torch.ones(N_CLASSES + 1)
        weights[0] = background_weight
        self.register_buffer("class_weights", weights, persistent=False)
        self.lidar = lidar
        self.camera = camera
        self.fuser = (
            None
            if camera is None
            else ConvFuser(lidar.out_channels, camera.out_channels, lidar.out_channels)
        )
        self.layout = BEVLayout.of(lidar.grid)
        self.segmentation_head = BEVSegmentationHead(lidar.out_channels)
        self.center_head = CenterHead(lidar.out_channels)

    def bev(self, voxels: Voxels, cameras: CameraBatch | None) -> Tensor:
        lidar_bev = self.lidar(voxels)
        if self.camera is None or self.fuser is None:  # the fuser exists iff the camera does
            return lidar_bev
        if cameras is None:
            raise ValueError("this model fuses cameras: the batch has no camera images")
        return self.fuser(lidar_bev, self.camera(cameras))

    def training_step(self, batch: LabelledBatch) -> dict[str, Tensor]:
        bev = self.bev(batch.voxels, batch.cameras)
        seg_loss = F.cross_entropy(
            self.segmentation_head(bev), batch.segmentation, weight=self.class_weights
        )
        heatmap, regression = self.center_head(bev)
        det_loss = self.center_head.loss(heatmap, regression, batch.detection)
        return {
            "loss": seg_loss + det_loss,
            "seg_loss": seg_loss.detach(),
            "det_loss": det_loss.detach(),
        }

    @torch.no_grad()
    def embed(self, batch: LabelledBatch) -> Tensor:
        return self.bev(batch.voxels, batch.cameras)

    @torch.no_grad()
    def predict(
        self, batch: LabelledBatch
    ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
        bev = self.bev(batch.voxels, batch.cameras)
        segmentation = self.segmentation_head(bev).argmax(1).cpu().numpy()
        heatmap, regression = self.center_head(bev)
        return segmentation, self.center_head.decode(heatmap, regression, self.layout)
