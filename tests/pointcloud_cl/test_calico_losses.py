"""CALICO's losses and semantic pooling against naive references of the written formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pointcloud_cl.prc import plrc_loss, rapc_loss
from pointcloud_cl.rad import rad_loss
from pointcloud_cl.regions import RegionConfig, fit_ground_plane, keep_cluster, segment_regions

TAU = 0.07


def _log_softmax_at(z: torch.Tensor, candidates: torch.Tensor, i: int, j: int) -> float:
    """log( exp(s_ij) / sum_k exp(s_ik) ), s = <z_i, c_k> / tau, one scalar at a time."""
    logits = [float(z[i] @ candidates[k]) / TAU for k in range(len(candidates))]
    top = max(logits)
    return logits[j] - (top + math.log(sum(math.exp(v - top) for v in logits)))


def _views(n: int, d: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    z0 = torch.randn(n, d, generator=g, dtype=torch.float64)
    z1 = z0 + 0.5 * torch.randn(n, d, generator=g, dtype=torch.float64)
    return z0, z1


def test_plrc_equals_the_loop_over_anchors_and_same_region_positives() -> None:
    region = torch.tensor([0, 0, 0, 1, 1, 2, -1, -1, -1, -1])  # N = 6 region points, M = 4 outside
    z0, z1 = _views(len(region))
    a0, a1 = F.normalize(z0, dim=1), F.normalize(z1, dim=1)
    directions = []
    for anchor_view, candidate_view in ((a0, a1), (a1, a0)):
        per_anchor = []
        for i in range(len(region)):
            if region[i] < 0:
                continue  # semantic-less points are candidates (negatives) only
            positives = [j for j in range(len(region)) if region[j] == region[i]]
            per_anchor.append(
                -sum(_log_softmax_at(anchor_view, candidate_view, i, j) for j in positives)
                / len(positives)
            )
        directions.append(sum(per_anchor) / len(per_anchor))
    expected = sum(directions) / 2
    assert plrc_loss(z0, z1, region, TAU).item() == pytest.approx(expected, rel=1e-9)


def test_plrc_needs_region_points() -> None:
    z0, z1 = _views(4)
    with pytest.raises(ValueError, match="inside regions"):
        plrc_loss(z0, z1, torch.full((4,), -1), TAU)


def test_rapc_equals_point_info_nce_loop() -> None:
    z0, z1 = _views(7, seed=1)
    a0, a1 = F.normalize(z0, dim=1), F.normalize(z1, dim=1)
    expected = 0.0
    for anchor_view, candidate_view in ((a0, a1), (a1, a0)):
        expected += -sum(_log_softmax_at(anchor_view, candidate_view, i, i) for i in range(7)) / 14
    assert rapc_loss(z0, z1, TAU).item() == pytest.approx(expected, rel=1e-9)


def test_rad_weighs_every_region_equally() -> None:
    region = torch.tensor([5, 5, 5, 5, 5, 9, 2, 2])  # region sizes 5, 1, 2
    student, teacher = _views(len(region), seed=2)
    u, t = F.normalize(student, dim=1), F.normalize(teacher, dim=1)
    per_region = []
    for r in (2, 5, 9):
        cells = [c for c in range(len(region)) if region[c] == r]
        per_region.append(-sum(_log_softmax_at(u, t, c, c) for c in cells) / len(cells))
    expected = sum(per_region) / 3
    assert rad_loss(student, teacher, region, TAU).item() == pytest.approx(expected, rel=1e-9)
    cell_mean = -sum(_log_softmax_at(u, t, c, c) for c in range(len(region))) / len(region)
    assert abs(expected - cell_mean) > 1e-3  # the weighting differs from a plain cell average


def _box(centre: tuple[float, float], size: tuple[float, float], z: tuple[float, float], step=0.1):
    xs = np.arange(-size[0] / 2, size[0] / 2 + 1e-9, step) + centre[0]
    ys = np.arange(-size[1] / 2, size[1] / 2 + 1e-9, step) + centre[1]
    zs = np.arange(z[0], z[1] + 1e-9, 0.2)
    return np.stack(np.meshgrid(xs, ys, zs, indexing="ij"), -1).reshape(-1, 3)


def _ground(extent: float = 30.0, tilt: float = 0.01, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-extent, extent, (20000, 2))
    z = -1.84 + tilt * xy[:, 0] + rng.normal(0, 0.03, len(xy))
    return np.column_stack([xy, z])


def test_ground_plane_fit_separates_tilted_ground_from_objects() -> None:
    ground = _ground()
    car = _box((10.0, 3.0), (4.0, 1.8), (-1.7 + 0.1, 0.0))
    wall = _box((-12.0, 15.0), (0.4, 8.0), (-1.9, 2.0))
    xyz = np.concatenate([ground, car, wall])
    mask = fit_ground_plane(xyz, RegionConfig())
    assert mask[: len(ground)].mean() > 0.99
    car_mask = mask[len(ground) : len(ground) + len(car)]
    assert car_mask.mean() < 0.15  # only the bottom rows, within 0.2 m of the plane
    wall_z = wall[:, 2] - (-1.84 - 0.12)  # the tilt at x = -12
    wall_mask = mask[len(ground) + len(car) :]
    assert wall_mask[wall_z > 0.3].sum() == 0


@pytest.mark.parametrize(
    ("name", "points", "kept"),
    [
        ("car ahead on the x axis", _box((10.0, 0.0), (4.0, 1.8), (-1.6, -0.2)), True),
        ("ego vehicle's hood", _box((0.0, 1.55), (1.2, 0.5), (-0.92, -0.78)), False),
        ("ego vehicle's roof", _box((0.0, -0.5), (1.6, 2.0), (-0.3, -0.1)), False),
        ("object 1 m beside the sensor", _box((1.2, 0.0), (0.5, 0.8), (-1.6, -0.6)), True),
        ("ground residue", _box((8.0, 8.0), (2.0, 2.0), (-1.84, -1.7)), False),
        ("too high", _box((8.0, 8.0), (2.0, 2.0), (-1.6, 3.2)), False),
        ("too thin", _box((8.0, 8.0), (6.0, 0.2), (-1.6, 0.0)), False),
        ("too small", _box((8.0, 8.0), (0.3, 0.3), (-1.6, -0.6)), False),
        ("too large", _box((8.0, 8.0), (6.0, 4.0), (-1.6, 0.0)), False),
    ],
)
def test_cluster_heuristics(name: str, points: np.ndarray, kept: bool) -> None:
    assert keep_cluster(points, RegionConfig()) is kept, name


def test_dbscan_splits_at_eps() -> None:
    ground = _ground(tilt=0.0)
    left = _box((10.0, 0.0), (4.0, 1.8), (-1.5, 0.0))
    apart = _box((10.0, 2.9), (4.0, 1.8), (-1.5, 0.0))  # 1.0 m gap > eps 0.75
    near = _box((10.0, -2.4), (4.0, 1.8), (-1.5, 0.0))  # 0.5 m gap < eps
    labels = segment_regions(np.concatenate([ground, left, apart, near]))
    n = len(ground)
    first, second, third = (
        labels[n : n + len(left)],
        labels[n + len(left) : n + 2 * len(left)],
        labels[n + 2 * len(left) :],
    )
    assert (first >= 0).all() and len(np.unique(first)) == 1
    assert len(np.unique(second)) == 1 and second[0] not in (-1, first[0])
    assert (third == first[0]).all()
    assert (labels[:n] == -1).mean() > 0.99
