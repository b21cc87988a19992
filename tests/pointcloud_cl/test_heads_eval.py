"""BEV heads (targets, focal loss, decoding), BEV IoU and the devkit detection evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pointcloud_cl.evaluation import bev_iou, detection_scores, lidar_boxes_to_results
from pointcloud_cl.heads import (
    N_CLASSES,
    BEVLayout,
    CenterHead,
    centernet_focal_loss,
    detection_target,
    segmentation_target,
)
from pointcloud_cl.nuscenes_data import load_frame, open_nuscenes, split_sample_tokens
from pointcloud_cl.voxelize import VoxelGrid

LAYOUT = BEVLayout.of(
    VoxelGrid((-25.6, -25.6, -3.2, 25.6, 25.6, 3.2), (0.2, 0.2, 0.2))
)  # 32 x 32, 1.6 m


def test_segmentation_target_covers_the_footprint() -> None:
    box = np.array([[0.8, 0.8, 0.0, 4.8, 1.6, 1.5, 0.0]], np.float32)  # 3 cells long in x, 1 wide
    target = segmentation_target(box, np.array([2]), LAYOUT)
    rows, cols = np.nonzero(target)
    assert set(target[rows, cols]) == {3}
    assert sorted(set(rows)) == [16] and sorted(set(cols)) == [15, 16, 17]
    tiny = np.array([[5.0, 5.0, 0.0, 0.3, 0.3, 1.0, 0.0]], np.float32)  # smaller than a cell
    assert (segmentation_target(tiny, np.array([8]), LAYOUT) == 9).sum() == 1


def test_detection_targets_decode_back_to_the_boxes() -> None:
    boxes = np.array(
        [[3.3, -7.1, -0.9, 4.6, 1.9, 1.7, 0.4], [-12.0, 9.5, -1.0, 0.7, 0.7, 1.75, -2.0]],
        np.float32,
    )
    labels = np.array([0, 7])
    velocities = np.array([[2.5, -0.5], [0.0, 1.2]])
    target = detection_target(boxes, labels, LAYOUT, velocities=velocities)
    assert target.heatmap.max() == 1 and (target.heatmap == 1).sum() == 2
    heat_logits = torch.where(target.heatmap[None] == 1, 10.0, -10.0)
    regression = torch.zeros(1, 10, LAYOUT.rows, LAYOUT.cols)
    regression.view(1, 10, -1)[0, :, target.index] = target.regression.T
    head = CenterHead(8)
    ((decoded, scores, classes),) = head.decode(heat_logits, regression, LAYOUT)
    order = np.argsort(classes)
    np.testing.assert_allclose(decoded[order], np.column_stack([boxes, velocities]), atol=1e-4)
    assert classes[order].tolist() == [0, 7] and (scores > 0.99).all()


def test_regression_loss_weights_velocity_and_skips_unknown() -> None:
    """L1 with CenterPoint's code weights (0.2 on vx, vy); NaN velocity targets are left out."""
    boxes = np.array([[3.3, -7.1, -0.9, 4.6, 1.9, 1.7, 0.4]], np.float32)
    head = CenterHead(4)
    heat = torch.zeros(1, N_CLASSES, LAYOUT.rows, LAYOUT.cols)
    known = detection_target(boxes, np.array([0]), LAYOUT, velocities=np.array([[1.0, -2.0]]))
    unknown = detection_target(boxes, np.array([0]), LAYOUT)
    assert unknown.regression[0, 8:].isnan().all()
    regression = torch.zeros(1, 10, LAYOUT.rows, LAYOUT.cols)
    regression.view(1, 10, -1)[0, :, known.index] = known.regression.T
    focal = centernet_focal_loss(heat, known.heatmap[None])
    perfect = head.loss(heat, regression, [known])
    torch.testing.assert_close(perfect, focal)
    regression.view(1, 10, -1)[0, 8, known.index] += 1.0  # vx off by 1 m/s
    torch.testing.assert_close(head.loss(heat, regression, [known]), focal + 2.0 * 0.2 / 10)
    torch.testing.assert_close(head.loss(heat, regression, [unknown]), focal)  # vx unsupervised
    with pytest.raises(ValueError, match="2 velocities for 1 boxes"):
        detection_target(boxes, np.array([0]), LAYOUT, velocities=np.zeros((2, 2)))


def test_focal_loss_prefers_the_right_heatmap() -> None:
    target = detection_target(
        np.array([[0.0, 0.0, 0.0, 4.0, 2.0, 1.5, 0.0]], np.float32), np.array([0]), LAYOUT
    )
    gt = target.heatmap[None]
    good = torch.logit(gt.clamp(1e-4, 1 - 1e-4))
    bad = torch.zeros_like(gt)
    assert centernet_focal_loss(good, gt) < 0.2 * centernet_focal_loss(bad, gt)


def test_bev_iou_counts_cells() -> None:
    true = np.array([[0, 1, 1], [0, 2, 0]])
    pred = np.array([[0, 1, 0], [2, 2, 0]])
    scores = bev_iou([pred], [true], N_CLASSES + 1)
    assert scores["IoU_car"] == pytest.approx(0.5) and scores["IoU_truck"] == pytest.approx(0.5)
    assert scores["mIoU"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="differ in shape"):
        bev_iou([pred[:1]], [true], N_CLASSES + 1)


def test_devkit_detection_eval_on_the_synthetic_set(synthetic_root: Path, tmp_path: Path) -> None:
    """Ground truth submitted as predictions scores near-perfect mAP; boxes moved 5 m score zero."""
    nusc = open_nuscenes(synthetic_root)
    perfect, shifted = {}, {}
    for token in split_sample_tokens(nusc, "mini_val"):
        frame = load_frame(nusc, token, cameras=())
        keep = np.array([(b[:2] ** 2).sum() > 0 for b in frame.boxes])
        scores = np.ones(int(keep.sum()))
        perfect[token] = lidar_boxes_to_results(
            nusc, token, frame.boxes[keep], scores, frame.labels[keep]
        )
        moved = frame.boxes[keep].copy()
        moved[:, 0] += 5.0
        shifted[token] = lidar_boxes_to_results(nusc, token, moved, scores, frame.labels[keep])
    good = detection_scores(nusc, perfect, "mini_val", tmp_path / "good")
    bad = detection_scores(nusc, shifted, "mini_val", tmp_path / "bad")
    assert good["mAP"] > 0.85 and good["mATE"] < 1e-3 and good["mASE"] < 1e-3
    assert bad["mAP"] == 0.0 and good["NDS"] > bad["NDS"] + 0.5
