"""Does the time-lag channel let the detector read velocity? mAVE / NDS with and without sweeps.

On the synthetic nuScenes-format set (``SyntheticConfig(samples_per_scene=4)``, two sweeps before
every key frame) a :class:`BEVPerceptionModel` (LiDAR only, base 8 / neck 32 channels, the
``configs/pointcloud/*_synthetic.yaml`` grid) is fine-tuned from random init for ``--steps``
Adam steps on the ``mini_train`` key frames, with CenterPoint velocity targets
(``pointcloud_cl.velocity.box_velocities``), and scored by the devkit on ``mini_val``:

* ``sweeps``: key frame + 2 sweeps stacked with the time lag (``load_multisweep(n_sweeps=3)``,
  5 voxel features);
* ``key frame``: the key frame alone (4 features), so motion is not observable;
* ``zero velocity``: the ``key frame`` model's boxes submitted at 0 m/s (what the project reported
  before velocity was predicted).

Prints a markdown table (mean +- std over ``--seeds``) and writes
``benchmarks/results/velocity.json``.

    OMP_NUM_THREADS=1 python benchmarks/bench_velocity.py --steps 150 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pointcloud_cl.evaluation import detection_scores, lidar_boxes_to_results  # noqa: E402
from pointcloud_cl.finetune import BEVPerceptionModel, LabelledBatch  # noqa: E402
from pointcloud_cl.heads import BEVLayout, detection_target, segmentation_target  # noqa: E402
from pointcloud_cl.lidar_backbone import LidarBEVEncoder  # noqa: E402
from pointcloud_cl.nuscenes_data import load_frame, open_nuscenes, split_sample_tokens  # noqa: E402
from pointcloud_cl.sweeps import load_multisweep  # noqa: E402
from pointcloud_cl.synthetic import SyntheticConfig, make_synthetic_nuscenes  # noqa: E402
from pointcloud_cl.velocity import box_velocities  # noqa: E402
from pointcloud_cl.voxelize import VoxelGrid, crop_to_range, voxelize_batch  # noqa: E402
from shared.evaluation import format_mean_std, mean_std  # noqa: E402

GRID = VoxelGrid((-25.6, -25.6, -3.2, 25.6, 25.6, 3.2), (0.2, 0.2, 0.2))


def _frames(nusc, split: str, n_sweeps: int) -> list[dict]:
    frames = []
    for token in split_sample_tokens(nusc, split):
        frame = load_frame(nusc, token, cameras=())
        points = crop_to_range(load_multisweep(nusc, token, n_sweeps), GRID)
        frames.append(
            {"token": token, "frame": frame, "points": points, "v": box_velocities(nusc, token)}
        )
    return frames


def _batch(frames: list[dict], layout: BEVLayout, n_features: int) -> LabelledBatch:
    return LabelledBatch(
        voxels=voxelize_batch([f["points"] for f in frames], GRID, n_features),
        cameras=None,
        segmentation=torch.from_numpy(
            np.stack(
                [segmentation_target(f["frame"].boxes, f["frame"].labels, layout) for f in frames]
            )
        ),
        detection=[
            detection_target(f["frame"].boxes, f["frame"].labels, layout, velocities=f["v"])
            for f in frames
        ],
    )


def _run(nusc, train, val, n_features: int, seed: int, steps: int, out: Path) -> dict:
    torch.manual_seed(seed)
    model = BEVPerceptionModel(LidarBEVEncoder(GRID, 8, 32, in_channels=n_features))
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        picked = [train[i] for i in rng.choice(len(train), 2, replace=False)]
        loss = model.training_step(_batch(picked, model.layout, n_features))["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    results, zero = {}, {}
    for f in val:
        _, ((boxes, scores, labels),) = model.predict(_batch([f], model.layout, n_features))
        results[f["token"]] = lidar_boxes_to_results(nusc, f["token"], boxes, scores, labels)
        zero[f["token"]] = lidar_boxes_to_results(nusc, f["token"], boxes[:, :7], scores, labels)
    scores = {"predicted": detection_scores(nusc, results, "mini_val", out / "pred")}
    scores["zero"] = detection_scores(nusc, zero, "mini_val", out / "zero")
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "velocity.json"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_velocity_"))
    cfg = SyntheticConfig(samples_per_scene=4, image_height=32, image_width=56)
    nusc = open_nuscenes(make_synthetic_nuscenes(work / "data", cfg))
    rows: dict[str, list[dict]] = {"sweeps": [], "key frame": [], "zero velocity": []}
    for name, n_sweeps, n_features in (("sweeps", 3, 5), ("key frame", 1, 4)):
        train = _frames(nusc, "mini_train", n_sweeps)
        val = _frames(nusc, "mini_val", n_sweeps)
        for seed in args.seeds:
            scores = _run(nusc, train, val, n_features, seed, args.steps, work / f"{name}{seed}")
            rows[name].append(scores["predicted"])
            if name == "key frame":
                rows["zero velocity"].append(scores["zero"])
    keys = ("mAVE", "NDS", "mAP")
    print("| input | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    summary = {}
    for name, runs in rows.items():
        stats = mean_std(runs)
        summary[name] = {k: stats[k] for k in keys}
        print(
            f"| {name} | " + " | ".join(format_mean_std(*stats[k], digits=3) for k in keys) + " |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "steps": args.steps,
                "seeds": args.seeds,
                "runs": rows,
                "summary": summary,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
