"""Camera branch: a small residual image encoder and the Lift-Splat view transform to BEV.

Lift-Splat-Shoot (Philion & Fidler, ECCV 2020): every feature pixel predicts a categorical depth
distribution alpha over D depth bins and a context vector c; the frustum feature at depth d is
alpha_d * c ("lift"). Frustum points are mapped to the LiDAR frame with the inverse calibration,

    p = T(lidar->cam)^-1 [ K^-1 (u d, v d, d) ],

and sum-pooled into the BEV cells of the LiDAR grid ("splat"), so camera and LiDAR BEV maps are
aligned cell by cell and can be fused (BEVFusion's ConvFuser: concat + conv).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from pointcloud_cl._device import batch_to
from pointcloud_cl.io import CameraView, LidarFrame
from pointcloud_cl.lidar_backbone import BEV_STRIDE, bev_cell_index
from pointcloud_cl.voxelize import VoxelGrid

IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)


@dataclass
class CameraBatch:
    """Images (B, N, 3, H, W) normalised, intrinsics (B, N, 3, 3), lidar->camera (B, N, 4, 4)."""

    images: Tensor
    intrinsics: Tensor
    lidar_to_camera: Tensor

    def __post_init__(self) -> None:
        if self.images.ndim != 5 or self.images.shape[2] != 3:
            raise ValueError(f"images must be (B, N_cam, 3, H, W), got {tuple(self.images.shape)}")
        b, n = self.images.shape[:2]
        if self.intrinsics.shape != (b, n, 3, 3):
            raise ValueError(
                f"intrinsics must be ({b}, {n}, 3, 3), got {tuple(self.intrinsics.shape)}"
            )
        if self.lidar_to_camera.shape != (b, n, 4, 4):
            raise ValueError(
                f"lidar_to_camera must be ({b}, {n}, 4, 4), got {tuple(self.lidar_to_camera.shape)}"
            )

    def to(self, device: torch.device | str, non_blocking: bool = False) -> CameraBatch:
        return batch_to(self, device, non_blocking)


def normalize_images(images_uint8: Tensor) -> Tensor:
    """(..., H, W, 3) uint8 -> (..., 3, H, W) float, ImageNet mean/std."""
    x = images_uint8.float().div(255.0).movedim(-1, -3)
    mean = torch.tensor(IMAGE_MEAN, device=x.device)[:, None, None]
    std = torch.tensor(IMAGE_STD, device=x.device)[:, None, None]
    return (x - mean) / std


class ResidualBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and c_in == c_out
            else nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        )

    def forward(self, x: Tensor) -> Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class ImageEncoder(nn.Module):
    """ResNet-style image encoder, output stride 8: (B, 3, H, W) -> (B, 4 width, H / 8, W / 8)."""

    stride = 8

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            ResidualBlock(width, width, 1),
            ResidualBlock(width, 2 * width, 2),
            ResidualBlock(2 * width, 4 * width, 2),
        )
        self.out_channels = 4 * width

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)


class LiftSplat(nn.Module):
    """Image features of N cameras -> one BEV map on the LiDAR grid (stride ``BEV_STRIDE``)."""

    def __init__(
        self,
        grid: VoxelGrid,
        image_hw: tuple[int, int],
        in_channels: int,
        out_channels: int = 64,
        depth_bins: tuple[float, float, float] = (1.0, 40.0, 1.0),
        feature_stride: int = 8,
    ) -> None:
        super().__init__()
        height, width = image_hw
        if height % feature_stride or width % feature_stride:
            raise ValueError(
                f"image size {image_hw} must be a multiple of the stride {feature_stride}"
            )
        self.grid = grid
        self.image_hw = (int(height), int(width))
        self.out_channels = out_channels
        depths = torch.arange(*depth_bins)
        self.n_depth = len(depths)
        self.depth_net = nn.Conv2d(in_channels, self.n_depth + out_channels, 1)
        h, w = height // feature_stride, width // feature_stride
        v = (torch.arange(h) + 0.5) * feature_stride
        u = (torch.arange(w) + 0.5) * feature_stride
        d, vv, uu = torch.meshgrid(depths, v, u, indexing="ij")
        # Frustum (D, h, w, 3) of (u d, v d, d): pixel rays scaled by depth.
        self.register_buffer("frustum", torch.stack([uu * d, vv * d, d], dim=-1), persistent=False)

    def frustum_points(self, intrinsics: Tensor, lidar_to_camera: Tensor) -> Tensor:
        """(B, N, D, h, w, 3) LiDAR-frame positions of every frustum cell."""
        cam = torch.einsum("bnij,dhwj->bndhwi", torch.linalg.inv(intrinsics), self.frustum)
        cam_to_lidar = torch.linalg.inv(lidar_to_camera)
        return (
            torch.einsum("bnij,bndhwj->bndhwi", cam_to_lidar[..., :3, :3], cam)
            + cam_to_lidar[:, :, None, None, None, :3, 3]
        )

    def forward(self, features: Tensor, cameras: CameraBatch) -> Tensor:
        b, n = cameras.images.shape[:2]
        if tuple(cameras.images.shape[-2:]) != self.image_hw:
            raise ValueError(
                f"images are {tuple(cameras.images.shape[-2:])} (H, W) but the camera branch was "
                f"built for {self.image_hw}"
            )
        x = self.depth_net(features)  # (B N, D + C, h, w)
        depth = x[:, : self.n_depth].softmax(dim=1)
        context = x[:, self.n_depth :]
        lifted = depth[:, :, None] * context[:, None]  # (B N, D, C, h, w)
        lifted = lifted.view(b, n, self.n_depth, self.out_channels, *x.shape[-2:]).permute(
            0, 1, 2, 4, 5, 3
        )
        points = self.frustum_points(cameras.intrinsics, cameras.lidar_to_camera)
        z0, z1 = self.grid.point_range[2], self.grid.point_range[5]
        x0, y0, _, x1, y1, _ = self.grid.point_range
        pts = points.reshape(b, -1, 3)
        feats = lifted.reshape(b, -1, self.out_channels)
        keep = (
            (pts[..., 0] >= x0)
            & (pts[..., 0] < x1)
            & (pts[..., 1] >= y0)
            & (pts[..., 1] < y1)
            & (pts[..., 2] >= z0)
            & (pts[..., 2] < z1)
        )
        nx, ny = self.grid.shape_xyz[0] // BEV_STRIDE, self.grid.shape_xyz[1] // BEV_STRIDE
        bev = feats.new_zeros(b * ny * nx, self.out_channels)
        batch_id = torch.arange(b, device=pts.device)[:, None].expand(b, pts.shape[1])
        row, col = bev_cell_index(pts[keep][:, :2], self.grid)
        bev.index_add_(0, (batch_id[keep] * ny + row) * nx + col, feats[keep])
        return bev.view(b, ny, nx, self.out_channels).permute(0, 3, 1, 2)


class CameraBEVEncoder(nn.Module):
    """Images -> :class:`ImageEncoder` -> :class:`LiftSplat` -> 2D BEV conv: (B, C, ny/8, nx/8)."""

    def __init__(
        self,
        grid: VoxelGrid,
        image_hw: tuple[int, int],
        width: int = 32,
        bev_channels: int = 64,
        depth_bins: tuple[float, float, float] = (1.0, 40.0, 1.0),
    ) -> None:
        super().__init__()
        self.image_encoder = ImageEncoder(width)
        self.lift_splat = LiftSplat(
            grid, image_hw, self.image_encoder.out_channels, bev_channels, depth_bins
        )
        self.bev_conv = nn.Sequential(
            nn.Conv2d(bev_channels, bev_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(bev_channels),
            nn.ReLU(),
            nn.Conv2d(bev_channels, bev_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(bev_channels),
            nn.ReLU(),
        )
        self.grid = grid
        self.out_channels = bev_channels

    def forward(self, cameras: CameraBatch) -> Tensor:
        feats = self.image_encoder(cameras.images.flatten(0, 1))
        return self.bev_conv(self.lift_splat(feats, cameras))


class ConvFuser(nn.Module):
    """BEVFusion's fuser: concatenate LiDAR and camera BEV maps, 3x3 conv + BN + ReLU."""

    def __init__(self, lidar_channels: int, camera_channels: int, out_channels: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(lidar_channels + camera_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )
        self.out_channels = out_channels

    def forward(self, lidar_bev: Tensor, camera_bev: Tensor) -> Tensor:
        if lidar_bev.shape[-2:] != camera_bev.shape[-2:]:
            raise ValueError(
                f"BEV maps differ in size: {lidar_bev.shape[-2:]} vs {camera_bev.shape[-2:]}"
            )
        return self.net(torch.cat([lidar_bev, camera_bev], dim=1))


def resize_camera(cam: CameraView, image_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Image resized to ``image_hw`` (H, W) and the intrinsics scaled to match (u' = s_x u)."""
    height, width = image_hw
    if height < 1 or width < 1:
        raise ValueError(f"image size must be positive, got {image_hw}")
    scale = np.diag([width / cam.image_hw[1], height / cam.image_hw[0], 1.0])
    image = cv2.resize(cam.image, (width, height), interpolation=cv2.INTER_AREA)
    return image, scale @ cam.intrinsic


def make_camera_batch(
    frames: Sequence[LidarFrame], channels: Sequence[str], image_hw: tuple[int, int] | None = None
) -> CameraBatch:
    """Stack the ``channels`` cameras of each frame, resized to ``image_hw`` when given (e.g. the
    1600 x 900 nuScenes images to the camera branch's input size); without it every image must
    already have the same size. A missing camera is a KeyError naming it."""
    images, intrinsics, extrinsics = [], [], []
    size = None if image_hw is None else (int(image_hw[0]), int(image_hw[1]))
    for frame in frames:
        by_channel = {cam.channel: cam for cam in frame.cameras}
        for channel in channels:
            cam = by_channel.get(channel)
            if cam is None:
                raise KeyError(
                    f"frame {frame.token} has no camera {channel} (has {sorted(by_channel)})"
                )
            image, intrinsic = cam.image, cam.intrinsic
            if size is None:
                size = cam.image_hw
            elif cam.image_hw != size:
                if image_hw is None:
                    raise ValueError(
                        f"frame {frame.token} {channel}: image is {cam.image_hw}, expected {size}"
                    )
                image, intrinsic = resize_camera(cam, size)
            images.append(image)
            intrinsics.append(intrinsic)
            extrinsics.append(cam.lidar_to_camera)
    b, n = len(frames), len(channels)
    stacked = normalize_images(torch.from_numpy(np.stack(images)))
    assert size is not None  # np.stack needs at least one image, and the first one sets size
    return CameraBatch(
        images=stacked.view(b, n, 3, *size),
        intrinsics=torch.from_numpy(np.stack(intrinsics)).float().view(b, n, 3, 3),
        lidar_to_camera=torch.from_numpy(np.stack(extrinsics)).float().view(b, n, 4, 4),
    )
