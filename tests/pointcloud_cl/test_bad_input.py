"""Bad pointcloud files a careless user or a broken copy gives: each is one clear error naming the
file and the problem, never a traceback or a silent run.

The devkit tables, scans, camera images and checkpoints go through ``contrast pointcloud
pretrain`` / ``finetune`` in-process (SLidR, so the cameras are read too): exit code 2 and one
``contrast: error: <file>: <problem>`` line. The mmdetection3d info files (``*.info.json``) are read
by :func:`pointcloud_cl.io.load_info_frame` only (no command reads them), so those cases check its
:class:`shared.errors.InputError`, the type the CLI prints as that one line.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pointcloud_cl.io import load_info_frame
from shared.cli import main
from shared.errors import InputError

# Key-frame files of scene-0061, which is in the train split.
SCAN = "samples/LIDAR_TOP/scene-0061__LIDAR_TOP__1600000000000000.pcd.bin"
IMAGE = "samples/CAM_FRONT/scene-0061__CAM_FRONT__1600000000000000.jpg"
SMALL = ["model.base_channels=4", "model.neck_channels=16", "data.make_synthetic=false"]


def _table(root: Path, name: str) -> Path:
    return root / "v1.0-mini" / f"{name}.json"


def _edit(root: Path, name: str, change: Callable[[list[dict]], object]) -> None:
    path = _table(root, name)
    records = json.loads(path.read_text())
    change(records)
    path.write_text(json.dumps(records))


def _key_frames(root: Path, channel: str) -> list[dict]:
    records = json.loads(_table(root, "sample_data").read_text())
    return [r for r in records if r["is_key_frame"] and f"/{channel}/" in r["filename"]]


def _cut(path: Path, size: int | None = None) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2 if size is None else size])


def _set_all(root: Path, table: str, key: str, value: object, cameras_only: bool = False) -> None:
    def change(records: list[dict]) -> None:
        for record in records:
            if not cameras_only or record.get("camera_intrinsic"):
                record[key] = value

    _edit(root, table, change)


def _drop_filename(root: Path) -> None:
    _edit(root, "sample_data", lambda rs: [r.pop("filename") for r in rs if r["filename"] == SCAN])


def _dangling_token(root: Path) -> None:
    _edit(root, "sample_data", lambda rs: rs[5].__setitem__("calibrated_sensor_token", "deadbeef"))


def _far_scans(root: Path) -> None:
    for record in _key_frames(root, "LIDAR_TOP"):
        np.full((20, 5), 1000.0, np.float32).tofile(root / record["filename"])


# (case, corruption, the file the message names (relative to the data root), the problem)
TABLE_AND_FILE_CASES: list[tuple[str, Callable[[Path], object], str, str]] = [
    (
        "truncated table",
        lambda r: _cut(_table(r, "sample")),
        "v1.0-mini/sample.json",
        "not valid JSON",
    ),
    (
        "Latin-1 table",
        lambda r: _table(r, "scene").write_bytes(
            _table(r, "scene").read_bytes().replace(b"scene-0061", b"sc\xe9ne-0061")
        ),
        "v1.0-mini/scene.json",
        "not UTF-8 text",
    ),
    (
        "binary table",
        lambda r: _table(r, "log").write_bytes(b"\x00\x01\xff"),
        "v1.0-mini/log.json",
        "not UTF-8 text",
    ),
    (
        "empty table",
        lambda r: _table(r, "log").write_bytes(b""),
        "v1.0-mini/log.json",
        "not valid JSON",
    ),
    (
        "missing table",
        lambda r: _table(r, "ego_pose").unlink(),
        "v1.0-mini/ego_pose.json",
        "nuScenes table missing",
    ),
    (
        "table not a list",
        lambda r: _table(r, "sample").write_text('{"token": 1}'),
        "v1.0-mini/sample.json",
        "expected a JSON list of records",
    ),
    ("record without a field", _drop_filename, "v1.0-mini/sample_data.json", "has no 'filename'"),
    ("dangling token", _dangling_token, "v1.0-mini/sample_data.json", "refers to token 'deadbeef'"),
    (
        "3-number rotation",
        lambda r: _set_all(r, "calibrated_sensor", "rotation", [1, 0, 0]),
        "v1.0-mini/calibrated_sensor.json",
        "'rotation' must be 4 finite numbers",
    ),
    (
        "zero quaternion",
        lambda r: _set_all(r, "ego_pose", "rotation", [0, 0, 0, 0]),
        "v1.0-mini/ego_pose.json",
        "'rotation' is the zero quaternion",
    ),
    (
        "text translation",
        lambda r: _set_all(r, "ego_pose", "translation", "abc"),
        "v1.0-mini/ego_pose.json",
        "'translation' must be 3 finite numbers, got 'abc'",
    ),
    (
        "2x2 intrinsic",
        lambda r: _set_all(r, "calibrated_sensor", "camera_intrinsic", [[1, 0], [0, 1]], True),
        "v1.0-mini/calibrated_sensor.json",
        "'camera_intrinsic' must be a 3x3 matrix",
    ),
    (
        "2-number box size",
        lambda r: _set_all(r, "sample_annotation", "size", [1, 2]),
        "v1.0-mini/sample_annotation.json",
        "'size' must be 3 finite numbers",
    ),
    (
        "NaN box centre",
        lambda r: _set_all(r, "sample_annotation", "translation", [0, float("nan"), 1]),
        "v1.0-mini/sample_annotation.json",
        "'translation' must be 3 finite numbers",
    ),
    (
        "truncated scan",
        lambda r: _cut(r / SCAN, 1001),
        SCAN,
        "truncated .pcd.bin: 1001 bytes",
    ),
    ("empty scan", lambda r: _cut(r / SCAN, 0), SCAN, "empty .pcd.bin"),
    (
        "missing scan",
        lambda r: (r / SCAN).unlink(),
        SCAN,
        "LiDAR scan not found",
    ),
    (
        "NaN points",
        lambda r: np.full((9, 5), np.nan, np.float32).tofile(r / SCAN),
        SCAN,
        "non-finite point coordinates",
    ),
    ("scans outside the grid", _far_scans, SCAN, "no point inside the voxel grid's range"),
    ("truncated JPEG", lambda r: _cut(r / IMAGE), IMAGE, "truncated JPEG"),
    (
        "missing JPEG",
        lambda r: (r / IMAGE).unlink(),
        IMAGE,
        "camera image not found",
    ),
    (
        "text as JPEG",
        lambda r: (r / IMAGE).write_text("hello"),
        IMAGE,
        "not a readable image",
    ),
]


def _error_line(capsys: pytest.CaptureFixture[str]) -> str:
    """The command's one error line (stderr holds nothing else but log lines, no traceback)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("contrast: error: ")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def data_copy(synthetic_root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(synthetic_root, tmp_path / "data"))


@pytest.mark.parametrize(
    ("case", "corrupt", "names", "problem"),
    TABLE_AND_FILE_CASES,
    ids=[c[0] for c in TABLE_AND_FILE_CASES],
)
def test_broken_data_set_is_one_error_line(
    data_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    corrupt: Callable[[Path], object],
    names: str,
    problem: str,
) -> None:
    corrupt(data_copy)
    argv = ["pointcloud", "pretrain", f"data.root={data_copy}", "method=slidr", *SMALL]
    assert main([*argv, f"trainer.out_dir={tmp_path / 'run'}"]) == 2
    line = _error_line(capsys)
    assert f"{data_copy}/{names}" in line and problem in line, line
    assert not (tmp_path / "run" / "pretrained.pt").exists()


def test_truncated_sweep_is_named(
    data_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sweep = sorted((data_copy / "sweeps" / "LIDAR_TOP").glob("*.pcd.bin"))[0]
    _cut(sweep, 999)
    argv = ["pointcloud", "pretrain", f"data.root={data_copy}", "method=prc", "data.sweeps=3"]
    assert main([*argv, *SMALL, f"trainer.out_dir={tmp_path / 'run'}"]) == 2
    line = _error_line(capsys)
    assert str(sweep) in line and "truncated .pcd.bin: 999 bytes" in line, line


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.version=v1.0-trainval", "no nuScenes tables at"),
        ("data.train_split=mini_everything", "unknown split 'mini_everything'"),
    ],
)
def test_wrong_data_settings_are_one_error_line(
    synthetic_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    override: str,
    message: str,
) -> None:
    argv = ["pointcloud", "pretrain", f"data.root={synthetic_root}", override, *SMALL]
    assert main([*argv, f"trainer.out_dir={tmp_path / 'run'}"]) == 2
    assert message in _error_line(capsys)


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"PK\x03\x04 cut", "cannot be read as a pretrained.pt"), (None, "not found")],
    ids=["truncated", "missing"],
)
def test_bad_pretrained_weights_are_one_error_line(
    synthetic_root: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    message: str,
) -> None:
    weights = tmp_path / "pretrained.pt"
    if content is not None:
        weights.write_bytes(content)
    argv = ["pointcloud", "finetune", f"data.root={synthetic_root}", *SMALL]
    argv += [f"finetune.pretrained={weights}", "finetune.steps=1", "finetune.seeds=[0]"]
    assert main([*argv, f"trainer.out_dir={tmp_path / 'ft'}"]) == 2
    line = _error_line(capsys)
    assert str(weights) in line and message in line, line


# Info files (mmdetection3d v1.1 layout) -----------------------------------------------------


def _info_set(folder: Path) -> dict:
    """A valid one-frame info file with one camera, its scan and image beside it (the info dict)."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    np.zeros((4, 5), np.float32).tofile(folder / "scan.pcd.bin")
    cv2.imwrite(str(folder / "front.jpg"), np.zeros((8, 16, 3), np.uint8))
    camera = {
        "img_path": "front.jpg",
        "cam2img": np.eye(3).tolist(),
        "lidar2cam": np.eye(4).tolist(),
    }
    box = {"bbox_3d": [1, 2, 0, 4, 2, 1.5, 0.1], "bbox_label_3d": 0}
    frame = {
        "token": "t0",
        "lidar_points": {"lidar_path": "samples/LIDAR_TOP/scan.pcd.bin", "num_pts_feats": 5},
        "images": {"CAM_FRONT": camera},
        "instances": [box, {"bbox_3d": [0, 0, 0, 1, 1, 1, 0], "bbox_label_3d": -1}],
    }
    return {"data_list": [frame]}


def _frame(info: dict) -> dict:
    return info["data_list"][0]


def _camera(info: dict) -> dict:
    return _frame(info)["images"]["CAM_FRONT"]


INFO_CASES: list[tuple[str, Callable[[dict], object], str]] = [
    (
        "no lidar_path",
        lambda i: _frame(i)["lidar_points"].pop("lidar_path"),
        "no 'lidar_points.lidar_path'",
    ),
    ("no lidar_points", lambda i: _frame(i).pop("lidar_points"), "no 'lidar_points.lidar_path'"),
    (
        "numeric lidar_path",
        lambda i: _frame(i)["lidar_points"].update(lidar_path=3),
        "must be a file name",
    ),
    (
        "no img_path",
        lambda i: _camera(i).pop("img_path"),
        "CAM_FRONT has no calibration key 'img_path'",
    ),
    (
        "no cam2img",
        lambda i: _camera(i).pop("cam2img"),
        "CAM_FRONT has no calibration key 'cam2img'",
    ),
    (
        "no lidar2cam",
        lambda i: _camera(i).pop("lidar2cam"),
        "CAM_FRONT has no calibration key 'lidar2cam'",
    ),
    (
        "2x2 cam2img",
        lambda i: _camera(i).update(cam2img=[[1, 0], [0, 1]]),
        "'cam2img' must be a 3x3",
    ),
    (
        "3x4 lidar2cam",
        lambda i: _camera(i).update(lidar2cam=np.eye(3, 4).tolist()),
        "got shape (3, 4)",
    ),
    (
        "ragged lidar2cam",
        lambda i: _camera(i).update(lidar2cam=[[1, 0], [0]]),
        "'lidar2cam' must be a 4x4",
    ),
    (
        "text cam2img",
        lambda i: _camera(i).update(cam2img="eye(3)"),
        "matrix of numbers, got 'eye(3)'",
    ),
    (
        "images a list",
        lambda i: _frame(i).update(images=["CAM_FRONT"]),
        "'images' must map camera names",
    ),
    (
        "camera a string",
        lambda i: _frame(i)["images"].update(CAM_FRONT="front.jpg"),
        "must be a record",
    ),
    ("no data_list", lambda i: i.pop("data_list"), "no 'data_list' entries"),
    (
        "6-number box",
        lambda i: _frame(i)["instances"][0].update(bbox_3d=[1, 2, 3, 4, 5, 6]),
        "7 numbers",
    ),
    (
        "NaN box",
        lambda i: _frame(i)["instances"][1]["bbox_3d"].__setitem__(0, float("nan")),
        "instance 1",
    ),
    (
        "no box label",
        lambda i: _frame(i)["instances"][0].pop("bbox_label_3d"),
        "no key 'bbox_label_3d'",
    ),
    (
        "text label",
        lambda i: _frame(i)["instances"][0].update(bbox_label_3d="car"),
        "is 'car'; expected",
    ),
    ("label 10", lambda i: _frame(i)["instances"][0].update(bbox_label_3d=10), "is 10; expected"),
    (
        "instances a dict",
        lambda i: _frame(i).update(instances={"a": 1}),
        "'instances' must be a list",
    ),
]


@pytest.mark.parametrize(("case", "corrupt", "problem"), INFO_CASES, ids=[c[0] for c in INFO_CASES])
def test_bad_info_file_is_named(
    tmp_path: Path, case: str, corrupt: Callable[[dict], object], problem: str
) -> None:
    info = _info_set(tmp_path)
    corrupt(info)
    path = tmp_path / "frame.info.json"
    path.write_text(json.dumps(info))
    with pytest.raises(InputError) as err:
        load_info_frame(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message


BAD_INFO_BYTES = [
    ("truncated JSON", lambda raw: raw[: len(raw) // 2], "not valid JSON at line 1"),
    ("empty file", lambda raw: b"", "not valid JSON at line 1, column 1"),
    ("Latin-1 text", lambda raw: raw.replace(b'"t0"', b'"t\xe9"'), "not UTF-8 text"),
    ("binary file", lambda raw: b"\x89PNG\r\n\x1a\n\x00", "not UTF-8 text"),
]


@pytest.mark.parametrize(
    ("case", "damage", "problem"), BAD_INFO_BYTES, ids=[c[0] for c in BAD_INFO_BYTES]
)
def test_unreadable_info_file_is_named(
    tmp_path: Path, case: str, damage: Callable[[bytes], bytes], problem: str
) -> None:
    path = tmp_path / "frame.info.json"
    path.write_bytes(damage(json.dumps(_info_set(tmp_path)).encode()))
    with pytest.raises(InputError, match="^" + str(path).replace(".", r"\.") + ": ") as err:
        load_info_frame(path)
    assert problem in str(err.value)


@pytest.mark.parametrize(
    ("case", "damage", "file", "problem"),
    [
        ("truncated JPEG", lambda p: _cut(p / "front.jpg"), "front.jpg", "truncated JPEG"),
        (
            "truncated scan",
            lambda p: _cut(p / "scan.pcd.bin", 30),
            "scan.pcd.bin",
            "truncated .pcd.bin",
        ),
        ("missing scan", lambda p: (p / "scan.pcd.bin").unlink(), "scan.pcd.bin", "not found"),
    ],
    ids=["truncated JPEG", "truncated scan", "missing scan"],
)
def test_broken_files_named_by_an_info_file(
    tmp_path: Path, case: str, damage: Callable[[Path], object], file: str, problem: str
) -> None:
    path = tmp_path / "frame.info.json"
    path.write_text(json.dumps(_info_set(tmp_path)))
    damage(tmp_path)
    with pytest.raises((InputError, FileNotFoundError)) as err:
        load_info_frame(path)
    assert str(tmp_path / file) in str(err.value) and problem in str(err.value)


def test_valid_info_file_loads(tmp_path: Path) -> None:
    """The reference the cases above break: the valid file loads, label -1 (an object outside the
    ten classes, as in real mmdetection3d infos) included."""
    path = tmp_path / "frame.info.json"
    path.write_text(json.dumps(_info_set(tmp_path)))
    frame = load_info_frame(path)
    assert frame.points.shape == (4, 5) and frame.labels.tolist() == [0, -1]
    assert frame.cameras[0].image.shape == (8, 16, 3) and frame.boxes.shape == (2, 7)
