"""Downstream metrics: BEV segmentation IoU and the nuScenes detection benchmark (devkit).

``detection_scores`` writes predictions in the nuScenes results format (boxes moved from the LiDAR
frame to the global frame with the devkit's calibration records) and runs the devkit's own
``DetectionEval`` with the ``detection_cvpr_2019`` configuration: mAP over centre-distance
thresholds {0.5, 1, 2, 4} m and the nuScenes Detection Score
NDS = (5 mAP + sum_{TP metrics} (1 - min(1, err))) / 10, the TP metrics being mATE, mASE, mAOE,
mAVE (velocity error, m/s) and mAAE. Boxes carry their predicted BEV velocity into the results
(``velocity``, global frame), so mAVE, and with it NDS, measures what published NDS measures.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from nuscenes.eval.common.config import config_factory
from nuscenes.eval.detection.evaluate import DetectionEval
from nuscenes.nuscenes import NuScenes
from nuscenes.utils.data_classes import Box
from pyquaternion import Quaternion

from pointcloud_cl.classes import DETECTION_CLASSES

TP_ERROR_NAMES = {
    "trans_err": "mATE",
    "scale_err": "mASE",
    "orient_err": "mAOE",
    "vel_err": "mAVE",
    "attr_err": "mAAE",
}
DEFAULT_ATTRIBUTE = {
    "car": "vehicle.parked",
    "truck": "vehicle.parked",
    "trailer": "vehicle.parked",
    "bus": "vehicle.moving",
    "construction_vehicle": "vehicle.parked",
    "bicycle": "cycle.without_rider",
    "motorcycle": "cycle.without_rider",
    "pedestrian": "pedestrian.standing",
    "traffic_cone": "",
    "barrier": "",
}


def bev_iou(
    predictions: Sequence[np.ndarray], targets: Sequence[np.ndarray], n_classes: int
) -> dict[str, float]:
    """IoU per class over all cells of all frames; ``mIoU`` averages the object classes (1..K-1)
    that occur in the targets or predictions. Class 0 is background."""
    conf = np.zeros((n_classes, n_classes), np.int64)
    for pred, true in zip(predictions, targets, strict=True):
        if pred.shape != true.shape:
            raise ValueError(f"prediction {pred.shape} and target {true.shape} differ in shape")
        conf += np.bincount(
            true.ravel() * n_classes + pred.ravel(), minlength=n_classes**2
        ).reshape(n_classes, n_classes)
    tp = np.diag(conf).astype(float)
    union = conf.sum(0) + conf.sum(1) - tp
    scores = {}
    ious = []
    for k in range(1, n_classes):
        if union[k] == 0:
            continue
        iou = tp[k] / union[k]
        scores[f"IoU_{DETECTION_CLASSES[k - 1]}"] = float(iou)
        ious.append(iou)
    scores["mIoU"] = float(np.mean(ious)) if ious else 0.0
    return scores


def lidar_boxes_to_results(
    nusc: NuScenes, sample_token: str, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray
) -> list[dict]:
    """nuScenes result records of LiDAR-frame boxes of one sample.

    ``boxes`` rows are (x, y, z, l, w, h, yaw) or, with velocity, (x, y, z, l, w, h, yaw, vx, vy)
    (m/s, LiDAR frame; rotated into the global frame like the box). Without velocity columns the
    records say 0 m/s.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] not in (7, 9):
        raise ValueError(f"boxes must be (M, 7) or (M, 9) with velocity, got {boxes.shape}")
    sample = nusc.get("sample", sample_token)
    sd = nusc.get("sample_data", sample["data"]["LIDAR_TOP"])
    cs = nusc.get("calibrated_sensor", sd["calibrated_sensor_token"])
    pose = nusc.get("ego_pose", sd["ego_pose_token"])
    records = []
    for row, score, label in zip(boxes, scores, labels, strict=True):
        x, y, z, length, width, height, yaw = row[:7]
        velocity = (*row[7:9], 0.0) if len(row) == 9 else (0.0, 0.0, 0.0)
        box = Box(
            [x, y, z],
            [width, length, height],
            Quaternion(axis=(0, 0, 1), angle=float(yaw)),
            velocity=velocity,
        )
        box.rotate(Quaternion(cs["rotation"]))
        box.translate(np.asarray(cs["translation"]))
        box.rotate(Quaternion(pose["rotation"]))
        box.translate(np.asarray(pose["translation"]))
        name = DETECTION_CLASSES[int(label)]
        records.append(
            {
                "sample_token": sample_token,
                "translation": [float(v) for v in box.center],
                "size": [float(v) for v in box.wlh],
                "rotation": [float(v) for v in box.orientation.elements],
                "velocity": [float(v) for v in box.velocity[:2]],
                "detection_name": name,
                "detection_score": float(score),
                "attribute_name": DEFAULT_ATTRIBUTE[name],
            }
        )
    return records


def detection_scores(
    nusc: NuScenes, results: dict[str, list[dict]], eval_set: str, out_dir: str | Path
) -> dict[str, float]:
    """Run the devkit's ``DetectionEval``; returns mAP, NDS and the five TP errors (mATE, mASE,
    mAOE, mAVE, mAAE)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results_nusc.json"
    meta = {
        "use_camera": False,
        "use_lidar": True,
        "use_radar": False,
        "use_map": False,
        "use_external": False,
    }
    path.write_text(json.dumps({"meta": meta, "results": results}))
    evaluator = DetectionEval(
        nusc,
        config=config_factory("detection_cvpr_2019"),
        result_path=str(path),
        eval_set=eval_set,
        output_dir=str(out_dir),
        verbose=False,
    )
    metrics, _ = evaluator.evaluate()
    summary = metrics.serialize()
    scores = {"mAP": float(summary["mean_ap"]), "NDS": float(summary["nd_score"])}
    scores.update({TP_ERROR_NAMES[k]: float(v) for k, v in summary["tp_errors"].items()})
    return scores
