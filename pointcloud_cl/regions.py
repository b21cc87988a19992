"""Unsupervised "semantic-less" regions of a LiDAR scan (CALICO's semantic pooling).

CALICO (Sun et al., ICLR 2024, arXiv 2306.00349), Sec. 3.2 "semantic pooling": remove the ground,
cluster the remaining points with DBSCAN (eps 0.75 m, min 5 points) and drop clusters that cannot
be objects with simple heuristics ("too large or high"). The paper names neither the ground
removal algorithm nor the heuristic thresholds; both are taken from the authors' repository
github.com/jiachens/calico (``mmdet3d/ops/ground_detection/grf.py`` and
``mmdet3d/ops/semantic_pool/semantic_pool.py``, functions ``get_ground_plane_grf``,
``lidar_segmentation_dbscan_sklearn`` and ``filter_segmentation``):

1. Ground removal, ground plane fitting (GPF, Zermas et al., ICRA 2017): the scan is cut into
   ``segment_width`` slabs along x within +-``max_range``. In each slab with at least
   ``lpr_points`` points, the seeds are the points lower than (mean z of the ``lpr_points`` lowest
   points) + ``seed_threshold``; points more than 0.5 m below the nominal ground
   (z < -``sensor_height`` - 0.5) cannot be seeds. A plane n.p + d = 0 (n: least-variance
   direction of the seeds, pointing up) is refit ``iterations`` times from the seeds with
   n.p + d < ``ground_threshold``; the slab's points with n.p + d < ``ground_threshold`` are ground.
2. DBSCAN (eps ``eps``, min ``min_points``) on the (x, y) coordinates of the non-ground points.
3. A cluster is dropped when it is the ego vehicle (all its (x, y) points inside the ego car's
   footprint, ``ego_width`` across x and ``ego_length`` along y, centred on the scan's origin), its
   top is below -``sensor_height`` + ``min_top`` (ground residue) or above ``max_top``
   (sensor frame; buildings, trees), its minimum-area bounding rectangle in (x, y) has side ratio
   below ``min_aspect`` (walls, kerbs), or its (x, y) convex-hull area is outside
   [``min_area``, ``max_area``] m^2.

Deviations from the official code: the plane normal is oriented upwards (the official SVD leaves
the sign to chance, which would flip "below the plane"); the official ego test is
``max|y| < 1.5 or max|x| < 1.5``, which also drops every object straddling the x or y axis (e.g.
a car straight ahead). We drop a cluster only when it lies inside the real ego car: nuScenes
drives a Renault Zoe, 4.084 m long and 1.730 m wide (manufacturer's figures; mirrors folded), and
its LIDAR_TOP frame has x to the right and y forward (``lidar2ego`` maps the sensor's y to the ego
x axis), so the footprint is |x| < 0.865, |y| < 2.042 around the sensor. On the real nuScenes demo
scan this drops the hood (130 points 1.3-1.8 m ahead of the sensor, 0.9-1.1 m above the ground)
and gives the official partition's 27 regions (``tests/pointcloud_cl/test_regions_real.py``).

Returns one region id per point, -1 for ground / unclustered / dropped points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError
from sklearn.cluster import DBSCAN


@dataclass(frozen=True)
class RegionConfig:
    """Semantic pooling parameters; defaults are the official CALICO code's (nuScenes), except
    the ego footprint (``ego_width`` across the sensor's x, ``ego_length`` along its y, metres),
    which is nuScenes' Renault Zoe."""

    sensor_height: float = 1.84
    max_range: float = 54.0
    segment_width: float = 10.0
    iterations: int = 5
    lpr_points: int = 50
    seed_threshold: float = 0.5
    ground_threshold: float = 0.2
    eps: float = 0.75
    min_points: int = 5
    ego_length: float = 4.084
    ego_width: float = 1.73
    min_top: float = 0.25
    max_top: float = 3.0
    min_aspect: float = 0.1
    min_area: float = 0.25
    max_area: float = 20.0


def _plane(seeds: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares plane (upward unit normal n, offset d) through ``seeds``."""
    centre = seeds.mean(axis=0)
    normal = np.linalg.svd(np.cov((seeds - centre).T))[0][:, 2]
    if normal[2] < 0:
        normal = -normal
    return normal, -float(normal @ centre)


def fit_ground_plane(xyz: np.ndarray, cfg: RegionConfig) -> np.ndarray:
    """Boolean mask of ground points (per-slab ground plane fitting, module docstring step 1)."""
    ground = np.zeros(len(xyz), dtype=bool)
    edges = np.arange(-cfg.max_range, cfg.max_range, cfg.segment_width)
    for start in edges:
        index = np.flatnonzero((xyz[:, 0] >= start) & (xyz[:, 0] < start + cfg.segment_width))
        if len(index) < cfg.lpr_points:
            continue
        slab = xyz[index]
        candidates = slab[slab[:, 2] >= -cfg.sensor_height - 0.5]
        if len(candidates) < 3:
            continue
        lowest = np.sort(candidates[:, 2])[: cfg.lpr_points].mean()
        seeds = candidates[candidates[:, 2] < lowest + cfg.seed_threshold]
        if len(seeds) < 3:
            continue
        normal, offset = _plane(seeds)
        for _ in range(cfg.iterations - 1):
            kept = seeds[seeds @ normal + offset < cfg.ground_threshold]
            if len(kept) < 3:
                break
            seeds = kept
            normal, offset = _plane(seeds)
        ground[index] = slab @ normal + offset < cfg.ground_threshold
    return ground


def _footprint(xy: np.ndarray) -> tuple[float, float]:
    """(convex-hull area, short/long side ratio of the minimum-area rectangle) of 2-D points."""
    try:
        convex = ConvexHull(xy)
    except (QhullError, ValueError):  # collinear or too few points: a zero-area footprint
        return 0.0, 0.0
    hull = xy[convex.vertices]
    edges = np.roll(hull, -1, axis=0) - hull
    best, ratio = np.inf, 0.0
    for dx, dy in edges / np.linalg.norm(edges, axis=1, keepdims=True):
        u = hull @ np.array([dx, dy])
        v = hull @ np.array([-dy, dx])
        sides = np.array([np.ptp(u), np.ptp(v)])
        if sides.prod() < best:
            best, ratio = sides.prod(), sides.min() / sides.max()
    return float(convex.volume), float(ratio)  # a 2-D hull's volume is its area


def keep_cluster(xyz: np.ndarray, cfg: RegionConfig) -> bool:
    """Whether a DBSCAN cluster can be an object (module docstring step 3)."""
    inside_x = np.abs(xyz[:, 0]) < cfg.ego_width / 2
    inside_y = np.abs(xyz[:, 1]) < cfg.ego_length / 2
    if (inside_x & inside_y).all():
        return False
    top = xyz[:, 2].max()
    if top < -cfg.sensor_height + cfg.min_top or top > cfg.max_top:
        return False
    area, aspect = _footprint(xyz[:, :2])
    return bool(aspect >= cfg.min_aspect and cfg.min_area <= area <= cfg.max_area)


def segment_regions(points: np.ndarray, cfg: RegionConfig | None = None) -> np.ndarray:
    """Region id (int64, -1 = none) for each point of an (N, >=3) scan in the sensor frame."""
    cfg = cfg or RegionConfig()
    xyz = np.asarray(points[:, :3], dtype=np.float64)
    labels = np.full(len(xyz), -1, dtype=np.int64)
    index = np.flatnonzero(~fit_ground_plane(xyz, cfg))
    if len(index) < cfg.min_points:
        return labels
    clusters = DBSCAN(eps=cfg.eps, min_samples=cfg.min_points).fit_predict(xyz[index, :2])
    next_id = 0
    for cluster in np.unique(clusters[clusters >= 0]):
        members = index[clusters == cluster]
        if keep_cluster(xyz[members], cfg):
            labels[members] = next_id
            next_id += 1
    return labels
