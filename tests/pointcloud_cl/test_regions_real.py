"""CALICO's region partition on the real nuScenes demo scan equals the official one.

The official partition was computed once with github.com/jiachens/calico at commit
a2b3de690a5de897e75dbf6e38a6c043b9d2bfcd: ``get_ground_plane_grf``
(``mmdet3d/ops/ground_detection/grf.py``, its two open3d calls replaced by the same numpy mean,
covariance and SVD), ``lidar_segmentation_dbscan_sklearn`` and ``filter_segmentation``
(``mmdet3d/ops/semantic_pool/semantic_pool.py``) on
``nuscenes_samples/demo_scene/*LIDAR_TOP*.pcd.bin``: 179 DBSCAN clusters, 27 kept, of the sizes
below, covering 1486 points whose indices into the scan sum to 37,857,002. Our previous 1.5 m
square ego rule kept one more, the ego car's hood.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pointcloud_cl.io import load_info_frame
from pointcloud_cl.regions import RegionConfig, segment_regions

OFFICIAL_REGION_SIZES = [7, 7, 8, 8, 8, 9, 9, 10, 10, 12, 13, 18, 18, 20, 22, 22, 23, 24, 24,
                         32, 32, 39, 48, 66, 110, 308, 579]  # fmt: skip


@pytest.mark.realdata
def test_demo_scan_partition_matches_the_official_code(demo_info: Path) -> None:
    points = load_info_frame(demo_info).points
    region = segment_regions(points)
    assert sorted(np.bincount(region[region >= 0]).tolist()) == OFFICIAL_REGION_SIZES
    kept = np.flatnonzero(region >= 0)
    assert len(kept) == 1486 and kept.sum() == 37_857_002  # the same points as the official code
    near = np.hypot(points[:, 0], points[:, 1]) < 1.9
    assert (region[near] == -1).all()  # the hood cluster is gone


@pytest.mark.realdata
def test_the_old_square_rule_kept_the_hood(demo_info: Path) -> None:
    """The old rule (all points within +-1.5 m in x and y) keeps the hood as a 28th region."""
    points = load_info_frame(demo_info).points
    region = segment_regions(points, RegionConfig(ego_length=3.0, ego_width=3.0))
    assert region.max() + 1 == 28
    hood = region == region[np.hypot(points[:, 0], points[:, 1]) < 1.9].max()
    assert hood.sum() == 130
    assert points[hood, 1].min() > 1.3 and points[hood, 2].max() < -0.7
