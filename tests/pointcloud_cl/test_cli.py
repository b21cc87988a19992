"""The ``contrast pointcloud`` commands end to end on a tiny synthetic set."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pointcloud_cl.nuscenes_data import open_nuscenes
from shared.cli import main
from tests.run_folder import assert_run_folder

SMALL_MODEL = [
    "model.base_channels=4",
    "model.neck_channels=16",
    "model.image_width=8",
    "model.camera_bev_channels=16",
    "model.image_size=[64,112]",
    "data.voxel_size=[0.2,0.2,0.2]",
]


def _data(root: Path) -> list[str]:
    return [
        f"data.root={root}",
        "data.make_synthetic=false",
        "data.synthetic.image_height=64",
        "data.synthetic.image_width=112",
        *SMALL_MODEL,
    ]


def test_make_synthetic_command(tmp_path: Path) -> None:
    code = main(
        [
            "pointcloud",
            "make-synthetic",
            "--out",
            str(tmp_path / "set"),
            "--samples-per-scene",
            "1",
            "--image-height",
            "32",
            "--image-width",
            "56",
        ]
    )
    assert code == 0
    nusc = open_nuscenes(tmp_path / "set")
    assert len(nusc.sample) == 10 and len(nusc.sample_annotation) >= 120


def test_pretrain_then_finetune(synthetic_root: Path, tmp_path: Path) -> None:
    pre = [
        "method=prc",
        "trainer.epochs=1",
        f"trainer.out_dir={tmp_path / 'prc'}",
        "prc.region_points=128",
        "prc.background_points=128",
        "prc.scene_points=128",
    ]
    assert main(["pointcloud", "pretrain", *_data(synthetic_root), *pre]) == 0
    assert "final_loss" in assert_run_folder(tmp_path / "prc")
    weights = tmp_path / "prc" / "pretrained.pt"
    state = torch.load(weights, weights_only=True)
    assert state["method"] == "prc" and state["camera"] is None
    fine = [
        f"finetune.pretrained={weights}",
        "finetune.steps=2",
        "finetune.seeds=[0]",
        "finetune.label_fractions=[0.25]",
        "finetune.bev_frames=1",
        f"trainer.out_dir={tmp_path / 'ft'}",
    ]
    assert main(["pointcloud", "finetune", *_data(synthetic_root), *fine]) == 0
    report = assert_run_folder(tmp_path / "ft", checkpoint="labels0.25_seed0/last.pt")
    assert report["init"] == "prc" and "NDS@0.25" in report
    assert {"mIoU", "mAP", "NDS"} <= set(report["runs"]["0.25"][0])
    assert (tmp_path / "ft" / "plots" / "bev_val0.png").is_file()
    run = assert_run_folder(tmp_path / "ft" / "labels0.25_seed0")
    assert run["NDS"] == pytest.approx(report["runs"]["0.25"][0]["NDS"])
    checkpoint = tmp_path / "ft" / "labels0.25_seed0" / "last.pt"
    evaluated = [*_data(synthetic_root), "--checkpoint", str(checkpoint)]
    assert main(["pointcloud", "evaluate", *evaluated]) == 0
    # a LiDAR-only checkpoint cannot initialise the camera branch
    assert (
        main(["pointcloud", "finetune", *_data(synthetic_root), *fine, "finetune.use_camera=true"])
        == 2
    )


def test_calico_pretrain_and_fusion_finetune(synthetic_root: Path, tmp_path: Path) -> None:
    pre = [
        "method=calico",
        "trainer.epochs=1",
        "rad.trainer.epochs=1",
        f"trainer.out_dir={tmp_path / 'calico'}",
    ]
    assert main(["pointcloud", "pretrain", *_data(synthetic_root), *pre]) == 0
    weights = tmp_path / "calico" / "pretrained.pt"
    assert torch.load(weights, weights_only=True)["camera"] is not None
    assert_run_folder(tmp_path / "calico" / "rad")
    fine = [
        f"finetune.pretrained={weights}",
        "finetune.use_camera=true",
        "finetune.steps=2",
        "finetune.seeds=[0]",
        "finetune.label_fractions=[0.25]",
        "finetune.bev_frames=0",
        f"trainer.out_dir={tmp_path / 'ft'}",
    ]
    assert main(["pointcloud", "finetune", *_data(synthetic_root), *fine]) == 0


def test_bad_config_and_missing_data_are_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["pointcloud", "pretrain", "prc.alpah=0.3"]) == 2
    assert "alpah" in capsys.readouterr().err
    missing = [f"data.root={tmp_path / 'none'}", "data.make_synthetic=false"]
    assert main(["pointcloud", "pretrain", *missing]) == 2
    assert "no nuScenes tables" in capsys.readouterr().err
