"""Voxelisation of LiDAR points into the sparse tensor layout spconv expects.

Each point is assigned to the voxel floor((p - range_min) / voxel_size); a voxel's feature is the
mean of its points' first ``n_features`` columns (the "MeanVFE" of SECOND / OpenPCDet): 4 for
(x, y, z, intensity), 5 for multi-sweep input with the time lag (:mod:`pointcloud_cl.sweeps`).
Coordinates are returned in spconv order (batch, z, y, x).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pointcloud_cl._device import batch_to

NUSCENES_RANGE = (-51.2, -51.2, -5.0, 51.2, 51.2, 3.0)
NUSCENES_VOXEL = (0.1, 0.1, 0.2)


@dataclass(frozen=True)
class VoxelGrid:
    """The box ``point_range`` = (x0, y0, z0, x1, y1, z1) cut into ``voxel_size`` cells."""

    point_range: tuple[float, float, float, float, float, float] = NUSCENES_RANGE
    voxel_size: tuple[float, float, float] = NUSCENES_VOXEL
    point_features: int = 4  # x, y, z, intensity; 5 adds the time lag of multi-sweep input

    def __post_init__(self) -> None:
        if self.point_features not in (4, 5):
            raise ValueError(
                f"point_features must be 4 (x, y, z, intensity) or 5 (+ time lag), got "
                f"{self.point_features}"
            )
        if len(self.point_range) != 6 or len(self.voxel_size) != 3:
            raise ValueError("point_range needs 6 values (x0, y0, z0, x1, y1, z1), voxel_size 3")
        if any(v <= 0 for v in self.voxel_size):
            raise ValueError(f"voxel_size must be positive, got {self.voxel_size}")
        lo, hi = self.point_range[:3], self.point_range[3:]
        if any(h <= low for low, h in zip(lo, hi, strict=True)):
            raise ValueError(
                f"point_range must have max > min on every axis, got {self.point_range}"
            )
        for extent, size in zip(np.subtract(hi, lo), self.voxel_size, strict=True):
            if abs(extent / size - round(extent / size)) > 1e-4:
                raise ValueError(
                    f"point_range extent {extent:g} is not a multiple of voxel size {size:g}"
                )

    @property
    def shape_xyz(self) -> tuple[int, int, int]:
        lo, hi = np.array(self.point_range[:3]), np.array(self.point_range[3:])
        nx, ny, nz = np.round((hi - lo) / np.array(self.voxel_size)).astype(int)
        return int(nx), int(ny), int(nz)

    @property
    def spatial_shape_zyx(self) -> list[int]:
        nx, ny, nz = self.shape_xyz
        return [nz, ny, nx]

    def inside(self, xyz: np.ndarray) -> np.ndarray:
        lo, hi = np.array(self.point_range[:3]), np.array(self.point_range[3:])
        return np.all((xyz >= lo) & (xyz < hi), axis=1)


def crop_to_range(points: np.ndarray, grid: VoxelGrid) -> np.ndarray:
    """Keep the points inside ``grid.point_range`` (the usual first step on a raw scan)."""
    return points[grid.inside(points[:, :3])]


@dataclass
class Voxels:
    """Voxelised batch: mean features (V, C), coords (V, 4) as (batch, z, y, x), point -> voxel."""

    features: Tensor
    coords: Tensor  # int32
    point_to_voxel: Tensor  # (sum N_b,) long index into features
    batch_size: int

    def to(self, device: torch.device | str, non_blocking: bool = False) -> Voxels:
        return batch_to(self, device, non_blocking)


def voxelize(
    points: np.ndarray | Tensor,
    grid: VoxelGrid,
    batch_index: int = 0,
    n_features: int | None = None,
) -> Voxels:
    """Mean-voxelise one scan. ``points`` is (N, >= ``n_features``): x, y, z, intensity (and the
    time lag with ``n_features=5``); further columns are ignored.

    Raises ValueError when a point lies outside the grid (crop with :func:`crop_to_range` first)
    or when there are no points at all (an empty voxel grid cannot feed a sparse backbone).
    """
    pts = torch.as_tensor(points, dtype=torch.float32)
    n_features = grid.point_features if n_features is None else n_features
    if n_features not in (4, 5):
        raise ValueError(
            f"n_features must be 4 (x, y, z, intensity) or 5 (+ time lag), got {n_features}"
        )
    if pts.ndim != 2 or pts.shape[1] < n_features:
        raise ValueError(
            f"points must have shape (N, >={n_features}) (x, y, z, intensity"
            f"{', time lag' if n_features == 5 else ''}), got {tuple(pts.shape)}"
        )
    if pts.shape[0] == 0:
        raise ValueError("empty voxel grid: the scan has no points inside the range")
    outside = ~torch.from_numpy(grid.inside(pts[:, :3].numpy()))
    if outside.any():
        raise ValueError(
            f"{int(outside.sum())} of {pts.shape[0]} points lie outside point_range "
            f"{grid.point_range}; call crop_to_range(points, grid) first"
        )
    lo = torch.tensor(grid.point_range[:3])
    size = torch.tensor(grid.voxel_size)
    ijk = ((pts[:, :3] - lo) / size).floor().long()
    nx, ny, nz = grid.shape_xyz
    ijk = torch.minimum(ijk, torch.tensor([nx - 1, ny - 1, nz - 1]))  # guard float round-off at max
    flat = (ijk[:, 2] * ny + ijk[:, 1]) * nx + ijk[:, 0]
    unique, inverse = torch.unique(flat, return_inverse=True)
    counts = torch.zeros(len(unique)).index_add_(0, inverse, torch.ones(len(flat)))
    feats = torch.zeros(len(unique), n_features).index_add_(0, inverse, pts[:, :n_features])
    feats = feats / counts[:, None]
    z = unique // (nx * ny)
    y = (unique // nx) % ny
    x = unique % nx
    coords = torch.stack([torch.full_like(z, batch_index), z, y, x], dim=1).int()
    return Voxels(feats, coords, inverse, batch_size=1)


def voxelize_batch(
    scans: Sequence[np.ndarray | Tensor], grid: VoxelGrid, n_features: int | None = None
) -> Voxels:
    """Voxelise several scans into one batch; ``point_to_voxel`` indexes their concatenation."""
    if len(scans) == 0:
        raise ValueError("voxelize_batch needs at least one scan")
    parts = [voxelize(scan, grid, b, n_features) for b, scan in enumerate(scans)]
    offsets = np.cumsum([0] + [len(p.features) for p in parts[:-1]])
    return Voxels(
        features=torch.cat([p.features for p in parts]),
        coords=torch.cat([p.coords for p in parts]),
        point_to_voxel=torch.cat(
            [p.point_to_voxel + int(o) for p, o in zip(parts, offsets, strict=True)]
        ),
        batch_size=len(parts),
    )
