"""A bird's-eye-view picture of one frame: LiDAR points, predicted BEV segmentation, ground-truth
and predicted boxes, in metres of the LiDAR frame.

    >>> render_bev(frame, segmentation, (boxes, scores, labels), layout, "plots/bev_0.png")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pointcloud_cl.classes import DETECTION_CLASSES
from pointcloud_cl.heads import BEVLayout
from pointcloud_cl.io import LidarFrame

_CLASS_COLOURS = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
)  # fmt: skip


def box_corners(boxes: np.ndarray) -> np.ndarray:
    """(K, 5, 2) closed BEV outlines of (x, y, z, length, width, height, yaw) boxes."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, boxes.shape[-1] if boxes.size else 7)
    half = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1], [1, 1]], dtype=np.float64) / 2
    local = half[None] * boxes[:, None, 3:5]  # (K, 5, 2) in box axes
    cos, sin = np.cos(boxes[:, 6]), np.sin(boxes[:, 6])
    rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)  # (K, 2, 2)
    return np.einsum("kij,kpj->kpi", rot, local) + boxes[:, None, :2]


def render_bev(
    frame: LidarFrame,
    segmentation: np.ndarray,
    detections: tuple[np.ndarray, np.ndarray, np.ndarray],
    layout: BEVLayout,
    out_png: str | Path,
    *,
    score_threshold: float = 0.3,
    max_points: int = 40_000,
) -> Path:
    """Draw ``frame`` with the model's ``segmentation`` (rows, cols; 0 = background, c + 1 =
    class c) and ``detections`` (boxes, scores, labels); predicted boxes below
    ``score_threshold`` are left out."""
    extent = (
        layout.x0,
        layout.x0 + layout.cols * layout.cell,
        layout.y0,
        layout.y0 + layout.rows * layout.cell,
    )
    fig = Figure(figsize=(7.5, 7))
    ax = fig.add_subplot()
    seg = np.ma.masked_equal(np.asarray(segmentation), 0)
    cmap = ListedColormap(_CLASS_COLOURS)
    ax.imshow(
        seg - 1, origin="lower", extent=extent, cmap=cmap, vmin=0, vmax=9, alpha=0.45,
        interpolation="nearest",
    )  # fmt: skip
    points = frame.points
    inside = (
        (points[:, 0] >= extent[0])
        & (points[:, 0] < extent[1])
        & (points[:, 1] >= extent[2])
        & (points[:, 1] < extent[3])
    )
    points = points[inside]
    if len(points) > max_points:
        points = points[np.random.default_rng(0).choice(len(points), max_points, replace=False)]
    ax.scatter(points[:, 0], points[:, 1], s=0.4, c="0.25", linewidths=0)
    for outline in box_corners(frame.boxes):
        ax.plot(outline[:, 0], outline[:, 1], color="limegreen", linewidth=1.4)
    boxes, scores, _ = detections
    keep = np.asarray(scores) >= score_threshold
    for outline in box_corners(np.asarray(boxes)[keep][:, :7]) if keep.any() else []:
        ax.plot(outline[:, 0], outline[:, 1], color="red", linewidth=1.0, linestyle="--")
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    ax.set_aspect("equal")
    ax.set_xlabel("x (m, LiDAR frame)")
    ax.set_ylabel("y (m)")
    ax.set_title(f"frame {frame.token[:12]}: {len(frame.boxes)} objects, {int(keep.sum())} found")
    present = sorted(set(np.unique(segmentation).tolist()) - {0})
    handles: list[Artist] = [
        Line2D([], [], color="limegreen", label="ground truth"),
        Line2D([], [], color="red", linestyle="--", label=f"predicted (>= {score_threshold})"),
    ]
    handles += [
        Patch(color=_CLASS_COLOURS[c - 1], alpha=0.45, label=f"seg: {DETECTION_CLASSES[c - 1]}")
        for c in present
    ]
    ax.legend(handles=handles, loc="upper right", fontsize="x-small", framealpha=0.85)
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.tight_layout()
    fig.savefig(out, format="png", dpi=110)
    return out
