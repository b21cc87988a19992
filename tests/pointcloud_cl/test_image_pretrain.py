"""``pretrain-image``: SimCLR on the camera images, saved and loaded as SLidR's frozen teacher."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from pointcloud_cl.camera_backbone import ImageEncoder, normalize_images
from pointcloud_cl.config import PointcloudExperiment
from pointcloud_cl.experiment import _slidr, load_frames, load_image_teacher, open_data
from pointcloud_cl.image_pretrain import (
    IMAGE_ENCODER_FILE,
    ImageAugmentation,
    camera_images,
    make_image_views,
    pretrain_image,
)
from shared.config import load_config
from shared.errors import CheckpointError, InputError


def _experiment(root: Path, out_dir: Path, *extra: str) -> PointcloudExperiment:
    return load_config(
        PointcloudExperiment,
        None,
        [
            f"data.root={root}",
            "data.voxel_size=[0.2,0.2,0.2]",
            "model.image_width=8",
            "model.image_size=[64,112]",
            "model.base_channels=4",
            "model.neck_channels=16",
            "image.batch_size=16",
            "trainer.epochs=3",
            "trainer.lr=0.003",
            f"trainer.out_dir={out_dir}",
            *extra,
        ],
    )


def test_augmentation_keeps_the_size_is_seeded_and_gives_two_different_views() -> None:
    image = np.random.default_rng(0).integers(0, 256, (64, 112, 3), dtype=np.uint8)
    aug = ImageAugmentation()
    one = aug(image, np.random.default_rng(3))
    assert one.shape == image.shape and one.dtype == np.uint8
    np.testing.assert_array_equal(one, aug(image, np.random.default_rng(3)))
    views = make_image_views([image, image], aug, np.random.default_rng(1)).views
    assert views.shape == (2, 2, 3, 64, 112)
    assert not torch.equal(views[0, 0], views[1, 0])


def test_stage_writes_a_teacher_that_slidr_loads_frozen_and_that_learned(
    synthetic_root: Path, tmp_path: Path
) -> None:
    exp = _experiment(synthetic_root, tmp_path / "image")
    path = pretrain_image(exp)
    assert path == tmp_path / "image" / IMAGE_ENCODER_FILE
    assert (tmp_path / "image" / "metrics.json").is_file()

    rows = list(csv.DictReader((tmp_path / "image" / "metrics.csv").open()))
    losses = [float(r["value"]) for r in rows if r["split"] == "epoch" and r["name"] == "loss"]
    assert len(losses) == 3 and losses[-1] < losses[0] - 0.5

    trained = ImageEncoder(8)
    load_image_teacher(trained, path)
    train = load_frames(open_data(exp), exp, exp.data.train_split, exp.data.cameras)
    images = camera_images(train.frames, (64, 112))
    assert len(images) == 6 * len(train)

    slidr_exp = _experiment(synthetic_root, tmp_path / "slidr", f"slidr.image_teacher={path}")
    method, _ = _slidr(slidr_exp, train)
    for key, value in trained.state_dict().items():
        torch.testing.assert_close(method.image_teacher.state_dict()[key], value)
    assert not any(p.requires_grad for p in method.image_teacher.parameters())
    images_t = normalize_images(torch.from_numpy(np.stack(images[:2])))
    method.train()
    assert not method.image_teacher.training
    with torch.no_grad():
        torch.testing.assert_close(method.image_teacher(images_t), trained.eval()(images_t))


def test_teacher_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="missing.pt not found"):
        load_image_teacher(ImageEncoder(8), tmp_path / "missing.pt")
    wide = tmp_path / "wide.pt"
    torch.save(ImageEncoder(16).state_dict(), wide)
    with pytest.raises(CheckpointError, match="wide.pt is not an image encoder of width 8"):
        load_image_teacher(ImageEncoder(8), wide)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_image_teacher(ImageEncoder(8), junk)


def test_a_batch_size_leaving_one_image_alone_is_refused(
    synthetic_root: Path, tmp_path: Path
) -> None:
    exp = _experiment(synthetic_root, tmp_path / "image", "image.batch_size=47")
    with pytest.raises(InputError, match="image.batch_size=47 leaves one image of 48"):
        pretrain_image(exp)
