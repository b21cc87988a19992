"""SLidR: image-to-LiDAR self-supervised distillation through superpixels.

Sautier, Puy, Gidaris, Boulch, Bursuc, Marlet; "Image-to-Lidar Self-Supervised Distillation for
Autonomous Driving Data", CVPR 2022. Each camera image is cut into SLIC superpixels; LiDAR points
are projected into the images with the calibration (depth > 1 m, inside the image). For every
superpixel s with at least one point, the L2-normalised 3D features of its points and the
L2-normalised 2D features of its pixels are averaged into a "superpoint" k_s and a "superpixel"
q_s embedding (as the official code, github.com/valeoai/SLidR: the VoxelNet output and the image
decoder normalise each feature, ``loss_superpixels_average`` averages and does not normalise
again, so |k_s|, |q_s| <= 1), and the loss is the InfoNCE over the S superpixels of the batch,

    k_s = mean_{p in s} f_p / |f_p|,  q_s = mean_{x in s} g_x / |g_x|,
    L = -(1/S) sum_s log( exp(<k_s, q_s> / t) / sum_{s'} exp(<k_s, q_s'> / t) ),   t = 0.07,

i.e. ``shared.losses.info_nce(k, q, t, intra_view_negatives=False, symmetric=False,
normalize=False)`` (:func:`superpixel_contrast`). An ``objective:`` section (``contrast
objectives``; any loss consuming two views, e.g. ``{name: dcl}``) replaces that InfoNCE on the
same (k_s, q_s) pairs; the default is SLidR's. The image backbone is a frozen teacher (kept
in eval mode); only its 1x1 projection "decoder", the 3D backbone and the 3D projection head are
trained. As in SLidR's spconv/VoxelNet variant, point features are bilinearly read from the BEV
feature map; unlike it, each point's feature is normalised after that read and our linear head
(the official code normalises every voxel of its 64-channel sparse output before the height
compression and reads the BEV map without normalising again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from skimage.segmentation import slic
from torch import Tensor, nn

from pointcloud_cl._device import batch_to
from pointcloud_cl.camera_backbone import ImageEncoder, normalize_images
from pointcloud_cl.geometry import project_to_image
from pointcloud_cl.io import LidarFrame
from pointcloud_cl.lidar_backbone import LidarBEVEncoder, sample_bev
from pointcloud_cl.voxelize import VoxelGrid, Voxels, crop_to_range, voxelize_batch
from shared.losses import info_nce
from shared.losses.registry import build_objective, check_fits

SUPERPIXEL_CONTRAST_PROVIDES = frozenset({"two_views"})
"""What the superpixel contrast hands an objective: the S superpoint / superpixel embedding pairs
of the batch (superpixels are re-cut every batch, so no per-sample indices)."""


@dataclass(frozen=True)
class SuperpixelConfig:
    """SLIC parameters (SLidR: 150 segments for MinkUNet, compactness 6, sigma 3)."""

    n_segments: int = 150
    compactness: float = 6.0
    sigma: float = 3.0


def superpixels(image: np.ndarray, cfg: SuperpixelConfig) -> np.ndarray:
    """SLIC superpixel id (0..S-1) per pixel of an (H, W, 3) uint8 image."""
    return slic(
        image,
        n_segments=cfg.n_segments,
        compactness=cfg.compactness,
        sigma=cfg.sigma,
        start_label=0,
    ).astype(np.int64)


@dataclass
class SuperpixelPairs:
    """Points, camera images, superpixels and the point <-> pixel pairing of a batch."""

    voxels: Voxels
    xyz: Tensor  # (N, 3)
    batch_index: Tensor  # (N,)
    images: Tensor  # (M, 3, H, W) normalised, every camera of every scan
    superpixel: Tensor  # (M, H, W) batch-unique superpixel id
    point_index: Tensor  # (P,) paired point
    pixel: Tensor  # (P, 3) paired (image, row, col)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> SuperpixelPairs:
        return batch_to(self, device, non_blocking)


def make_superpixel_pairs(
    frames: Sequence[LidarFrame],
    superpixel_maps: Sequence[Sequence[np.ndarray]],
    grid: VoxelGrid,
    min_depth: float = 1.0,
) -> SuperpixelPairs:
    """Pair every point (cropped to ``grid``) visible in a camera with its pixel and superpixel.

    ``superpixel_maps[b][c]`` is the SLIC map of camera c of frame b (see :func:`superpixels`).
    """
    if len(superpixel_maps) != len(frames):
        raise ValueError(f"{len(frames)} frames but superpixels for {len(superpixel_maps)}")
    scans: list[np.ndarray] = []
    images: list[np.ndarray] = []
    sp_maps: list[np.ndarray] = []
    point_index: list[np.ndarray] = []
    pixels: list[np.ndarray] = []
    point_offset, sp_offset, image_size = 0, 0, None
    for frame, maps in zip(frames, superpixel_maps, strict=True):
        if not frame.cameras:
            raise ValueError(f"frame {frame.token} has no camera: SLidR needs images")
        points = crop_to_range(frame.points, grid)
        scans.append(points)
        for cam, sp in zip(frame.cameras, maps, strict=True):
            if image_size is None:
                image_size = cam.image_hw
            if cam.image_hw != image_size or sp.shape != image_size:
                raise ValueError(
                    f"{frame.token}/{cam.channel}: image {cam.image_hw} / superpixels {sp.shape}, "
                    f"expected {image_size}"
                )
            proj = project_to_image(
                points[:, :3], cam.lidar_to_camera, cam.intrinsic, cam.image_hw, min_depth
            )
            visible = np.flatnonzero(proj.visible)
            uv = proj.uv[visible].astype(np.int64)
            point_index.append(visible + point_offset)
            pixels.append(np.column_stack([np.full(len(visible), len(images)), uv[:, 1], uv[:, 0]]))
            images.append(cam.image)
            sp_maps.append(sp + sp_offset)
            sp_offset += int(sp.max()) + 1
        point_offset += len(points)
    return SuperpixelPairs(
        voxels=voxelize_batch(scans, grid),
        xyz=torch.from_numpy(np.concatenate(scans)[:, :3]).float(),
        batch_index=torch.from_numpy(
            np.concatenate([np.full(len(s), b) for b, s in enumerate(scans)])
        ).long(),
        images=normalize_images(torch.from_numpy(np.stack(images))),
        superpixel=torch.from_numpy(np.stack(sp_maps)),
        point_index=torch.from_numpy(np.concatenate(point_index)).long(),
        pixel=torch.from_numpy(np.concatenate(pixels)).long(),
    )


def segment_mean(values: Tensor, segment: Tensor, n_segments: int) -> tuple[Tensor, Tensor]:
    """Mean of ``values`` rows per segment id and the count per segment."""
    sums = values.new_zeros(n_segments, values.shape[1]).index_add_(0, segment, values)
    counts = values.new_zeros(n_segments).index_add_(
        0, segment, torch.ones_like(segment, dtype=values.dtype)
    )
    return sums / counts.clamp_min(1)[:, None], counts


def superpixel_contrast(
    point_feats: Tensor,
    pixel_feats: Tensor,
    point_superpixel: Tensor,
    pixel_superpixel: Tensor,
    n_superpixels: int,
    temperature: float = 0.07,
    objective: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """SLidR's superpixel InfoNCE (module docstring) and the number S of superpixels used.

    ``point_feats`` (P, d) are the paired points' features, ``pixel_feats`` (Q, d) every pixel's;
    ``point_superpixel`` (P,) / ``pixel_superpixel`` (Q,) their superpixel ids in
    ``[0, n_superpixels)``. Superpixels without a point are left out. ``objective(k, q)`` (a
    built ``objective:`` section) replaces the InfoNCE when given; ``temperature`` is then unused.

    Example::

        loss, used = superpixel_contrast(f, g, sp_of_point, sp.flatten(), int(sp.max()) + 1)
    """
    k, count = segment_mean(F.normalize(point_feats, dim=1), point_superpixel, n_superpixels)
    q, _ = segment_mean(F.normalize(pixel_feats, dim=1), pixel_superpixel, n_superpixels)
    used = count > 0
    if objective is not None:
        return objective(k[used], q[used]), used.sum()
    loss = info_nce(
        k[used],
        q[used],
        temperature,
        intra_view_negatives=False,
        symmetric=False,
        normalize=False,
    )
    return loss, used.sum()


class SLidR(nn.Module):
    """Superpixel-driven 2D -> 3D distillation (module docstring has the loss).

    ``objective``: an ``objective:`` section (``shared.losses.registry``) replacing the
    superpixel InfoNCE by another two-view loss; empty keeps SLidR's. One that does not fit is an
    :class:`~shared.errors.InputError` naming those that do.

        >>> SLidR(encoder, ImageEncoder(16), objective={"name": "dcl", "temperature": 0.07})
    """

    def __init__(
        self,
        encoder: LidarBEVEncoder,
        image_teacher: ImageEncoder,
        projection_dim: int = 64,
        temperature: float = 0.07,
        *,
        objective: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.objective: nn.Module | None = None
        if objective:
            check_fits(objective, SUPERPIXEL_CONTRAST_PROVIDES, method="slidr superpixel contrast")
            self.objective = build_objective(objective, dim=projection_dim)
        self.encoder = encoder
        self.point_head = nn.Linear(encoder.out_channels, projection_dim)
        self.image_teacher = image_teacher.requires_grad_(False).eval()
        self.image_head = nn.Conv2d(image_teacher.out_channels, projection_dim, 1)
        self.temperature = temperature

    def train(self, mode: bool = True) -> SLidR:
        super().train(mode)
        self.image_teacher.eval()  # frozen teacher: BatchNorm statistics stay fixed
        return self

    def training_step(self, batch: SuperpixelPairs) -> dict[str, Tensor]:
        if len(batch.point_index) == 0:
            raise ValueError("no LiDAR point projects into any image: check the calibration")
        bev = self.encoder(batch.voxels)
        idx = batch.point_index
        point_feats = self.point_head(
            sample_bev(bev, batch.xyz[idx, :2], batch.batch_index[idx], self.encoder.grid)
        )
        with torch.no_grad():
            teacher = self.image_teacher(batch.images)
        pixel_feats = F.interpolate(
            self.image_head(teacher),
            size=batch.images.shape[-2:],
            mode="bilinear",
            align_corners=False,
        )
        sp_of_point = batch.superpixel[batch.pixel[:, 0], batch.pixel[:, 1], batch.pixel[:, 2]]
        loss, used = superpixel_contrast(
            point_feats,
            pixel_feats.permute(0, 2, 3, 1).reshape(-1, pixel_feats.shape[1]),
            sp_of_point,
            batch.superpixel.flatten(),
            int(batch.superpixel.max()) + 1,
            self.temperature,
            self.objective,
        )
        return {"loss": loss, "superpixels": used.float()}

    @torch.no_grad()
    def embed(self, voxels: Voxels) -> Tensor:
        """The LiDAR BEV feature map (B, C, H, W) used downstream."""
        return self.encoder(voxels)
