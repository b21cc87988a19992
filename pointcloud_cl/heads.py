"""Downstream BEV heads: object-class BEV segmentation and a CenterPoint-style detection head.

* :class:`BEVSegmentationHead`: per-cell logits over background + the 10 detection classes; the
  target marks every BEV cell whose centre lies in a box footprint (or that holds the box centre).
* :class:`CenterHead` (CenterPoint, Yin, Zhou & Krähenbühl, CVPR 2021): a class heatmap trained with
  CenterNet's penalty-reduced focal loss (Zhou et al. 2019) against Gaussian peaks at box centres,
  and at each centre cell an L1 regression of (dx, dy) sub-cell offset, z, log(l, w, h),
  (sin yaw, cos yaw) and, from its own head as CenterPoint's ``vel`` branch, the BEV velocity
  (vx, vy) in m/s (LiDAR frame). The L1 terms are weighted as CenterPoint's nuScenes
  ``code_weights`` (1 for the box, 0.2 for velocity); unknown velocities (NaN targets, as the
  devkit's ``box_velocity`` gives for single-annotation instances) are left out. Decoding keeps
  3x3 local maxima of the heatmap (max-pool "NMS") above a score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pointcloud_cl.classes import DETECTION_CLASSES
from pointcloud_cl.lidar_backbone import BEV_STRIDE
from pointcloud_cl.voxelize import VoxelGrid

N_CLASSES = len(DETECTION_CLASSES)
BOX_CHANNELS = 8  # dx, dy, z, log l, log w, log h, sin yaw, cos yaw
REGRESSION_CHANNELS = BOX_CHANNELS + 2  # ... and vx, vy (m/s)
CODE_WEIGHTS = (1.0,) * BOX_CHANNELS + (0.2, 0.2)  # CenterPoint nuScenes


def _head(
    in_channels: int, out_channels: int, hidden: int = 64, bias_init: float = 0.0
) -> nn.Sequential:
    last = nn.Conv2d(hidden, out_channels, 1)
    assert last.bias is not None  # Conv2d has a bias by default
    nn.init.constant_(last.bias, bias_init)
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden, 3, padding=1, bias=False),
        nn.BatchNorm2d(hidden),
        nn.ReLU(),
        last,
    )


@dataclass(frozen=True)
class BEVLayout:
    """Metric layout of a BEV map: origin (x0, y0), cell size and (rows, cols)."""

    x0: float
    y0: float
    cell: float
    rows: int
    cols: int

    @classmethod
    def of(cls, grid: VoxelGrid, stride: int = BEV_STRIDE) -> BEVLayout:
        if abs(grid.voxel_size[0] - grid.voxel_size[1]) > 1e-9:
            raise ValueError("BEV heads need square voxels in x and y")
        nx, ny, _ = grid.shape_xyz
        return cls(
            grid.point_range[0],
            grid.point_range[1],
            grid.voxel_size[0] * stride,
            ny // stride,
            nx // stride,
        )

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        cols = self.x0 + (np.arange(self.cols) + 0.5) * self.cell
        rows = self.y0 + (np.arange(self.rows) + 0.5) * self.cell
        x, y = np.meshgrid(cols, rows)  # x, y of shape (rows, cols)
        return x, y


def segmentation_target(boxes: np.ndarray, labels: np.ndarray, layout: BEVLayout) -> np.ndarray:
    """(rows, cols) int64 map: 0 background, 1 + class for cells covered by a box footprint."""
    target = np.zeros((layout.rows, layout.cols), np.int64)
    cx, cy = layout.cell_centres()
    for box, label in zip(boxes, labels, strict=True):
        x, y, _, length, width, _, yaw = box
        c, s = np.cos(yaw), np.sin(yaw)
        dx, dy = cx - x, cy - y
        inside = (np.abs(c * dx + s * dy) <= length / 2) & (np.abs(-s * dx + c * dy) <= width / 2)
        col, row = int((x - layout.x0) // layout.cell), int((y - layout.y0) // layout.cell)
        if 0 <= row < layout.rows and 0 <= col < layout.cols:
            inside[row, col] = True
        target[inside] = label + 1
    return target


def gaussian_radius(length_cells: float, width_cells: float, min_overlap: float = 0.1) -> float:
    """CenterNet's radius: the largest centre shift keeping IoU >= ``min_overlap`` (three cases)."""
    h, w = length_cells, width_cells
    b1 = h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2**2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


@dataclass
class DetectionTarget:
    heatmap: Tensor  # (K, rows, cols)
    index: Tensor  # (M,) flat cell index of each box centre
    label: Tensor  # (M,)
    regression: Tensor  # (M, 10); velocity NaN where unknown


def detection_target(
    boxes: np.ndarray,
    labels: np.ndarray,
    layout: BEVLayout,
    min_radius: int = 2,
    velocities: np.ndarray | None = None,
) -> DetectionTarget:
    """CenterPoint targets for one frame (boxes outside the map are skipped).

    ``velocities`` (M, 2): each box's (vx, vy) in m/s in the LiDAR frame (NaN: unknown); without
    them no velocity is supervised.
    """
    if velocities is None:
        velocities = np.full((len(boxes), 2), np.nan)
    if len(velocities) != len(boxes):
        raise ValueError(f"{len(velocities)} velocities for {len(boxes)} boxes")
    heat = np.zeros((N_CLASSES, layout.rows, layout.cols), np.float32)
    rows_idx, cols_idx = np.mgrid[0 : layout.rows, 0 : layout.cols]
    index, label, regression = [], [], []
    for box, cls, velocity in zip(boxes, labels, velocities, strict=True):
        x, y, z, length, width, height, yaw = box[:7]
        fx, fy = (x - layout.x0) / layout.cell, (y - layout.y0) / layout.cell
        col, row = int(fx), int(fy)
        if not (0 <= row < layout.rows and 0 <= col < layout.cols):
            continue
        radius = max(min_radius, int(gaussian_radius(length / layout.cell, width / layout.cell)))
        sigma = (2 * radius + 1) / 6
        peak = np.exp(-((cols_idx - col) ** 2 + (rows_idx - row) ** 2) / (2 * sigma**2))
        peak[np.maximum(np.abs(cols_idx - col), np.abs(rows_idx - row)) > radius] = 0
        heat[cls] = np.maximum(heat[cls], peak)
        index.append(row * layout.cols + col)
        label.append(cls)
        regression.append(
            [
                fx - col,
                fy - row,
                z,
                np.log(length),
                np.log(width),
                np.log(height),
                np.sin(yaw),
                np.cos(yaw),
                *velocity,
            ]
        )
    return DetectionTarget(
        heatmap=torch.from_numpy(heat),
        index=torch.tensor(index, dtype=torch.long),
        label=torch.tensor(label, dtype=torch.long),
        regression=torch.tensor(
            np.asarray(regression, np.float32).reshape(-1, REGRESSION_CHANNELS)
        ),
    )


def centernet_focal_loss(
    logits: Tensor, target: Tensor, alpha: float = 2.0, beta: float = 4.0
) -> Tensor:
    """Penalty-reduced pixel-wise focal loss of CenterNet, normalised by the number of peaks:

    L = -1/N sum { (1-p)^a log p            if y = 1
                 { (1-y)^b p^a log(1-p)     otherwise
    """
    log_p = F.logsigmoid(logits)
    log_not_p = F.logsigmoid(-logits)
    p = log_p.exp()
    pos = target.eq(1).float()
    pos_loss = ((1 - p) ** alpha * log_p * pos).sum()
    neg_loss = ((1 - target) ** beta * p**alpha * log_not_p * (1 - pos)).sum()
    return -(pos_loss + neg_loss) / pos.sum().clamp_min(1.0)


class BEVSegmentationHead(nn.Module):
    """Per-cell logits over background + the detection classes."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.net = _head(in_channels, N_CLASSES + 1)

    def forward(self, bev: Tensor) -> Tensor:
        return self.net(bev)


class CenterHead(nn.Module):
    """CenterPoint heatmap + box and velocity regression on a BEV map (module docstring).

    ``forward`` returns (heatmap (B, K, H, W), regression (B, 10, H, W)): the box head's 8
    channels followed by the velocity head's 2.
    """

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.heatmap = _head(in_channels, N_CLASSES, bias_init=-2.19)  # prior p = 0.1
        self.regression = _head(in_channels, BOX_CHANNELS)
        self.velocity = _head(in_channels, 2)

    def forward(self, bev: Tensor) -> tuple[Tensor, Tensor]:
        return self.heatmap(bev), torch.cat([self.regression(bev), self.velocity(bev)], dim=1)

    def loss(
        self, heatmap: Tensor, regression: Tensor, targets: Sequence[DetectionTarget]
    ) -> Tensor:
        """Focal heatmap loss + 2 x the code-weighted L1 over the known regression targets."""
        gt = torch.stack([t.heatmap for t in targets]).to(heatmap.device)
        heat_loss = centernet_focal_loss(heatmap, gt)
        reg = regression.flatten(2)  # (B, 10, rows * cols)
        pred = torch.cat([reg[b, :, t.index.to(reg.device)].T for b, t in enumerate(targets)])
        true = torch.cat([t.regression for t in targets]).to(reg.device)
        known = ~true.isnan()
        weight = reg.new_tensor(CODE_WEIGHTS).expand_as(true)[known]
        error = (pred[known] - true[known]).abs() * weight
        reg_loss = error.sum() / known.sum() if known.any() else reg.sum() * 0.0
        return heat_loss + 2.0 * reg_loss

    @torch.no_grad()
    def decode(
        self,
        heatmap: Tensor,
        regression: Tensor,
        layout: BEVLayout,
        max_boxes: int = 100,
        min_score: float = 0.05,
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per frame (boxes (M, 9) in the LiDAR frame: x, y, z, l, w, h, yaw, vx, vy; scores (M,);
        labels (M,))."""
        scores = heatmap.sigmoid()
        peaks = scores * (F.max_pool2d(scores, 3, stride=1, padding=1) == scores)
        out = []
        for b in range(scores.shape[0]):
            flat = peaks[b].flatten()
            top = torch.topk(flat, min(max_boxes, flat.numel()))
            keep = top.values >= min_score
            idx = top.indices[keep]
            cls = idx // (layout.rows * layout.cols)
            cell = idx % (layout.rows * layout.cols)
            row, col = cell // layout.cols, cell % layout.cols
            r = regression[b, :, row, col].T.cpu().numpy()
            x = layout.x0 + (col.cpu().numpy() + r[:, 0]) * layout.cell
            y = layout.y0 + (row.cpu().numpy() + r[:, 1]) * layout.cell
            size = np.exp(np.clip(r[:, 3:6], -5, 5))
            yaw = np.arctan2(r[:, 6], r[:, 7])
            boxes = np.column_stack([x, y, r[:, 2], size, yaw, r[:, 8:10]]).astype(np.float32)
            out.append((boxes, top.values[keep].cpu().numpy(), cls.cpu().numpy()))
        return out
