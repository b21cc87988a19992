"""A synthetic set records which generator and settings wrote it (``contrast_synthetic.json``):
reusing one from another generator version fails with one line; other settings are reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pointcloud_cl.synthetic import (
    GENERATOR_VERSION,
    STAMP,
    SyntheticConfig,
    check_reusable,
)
from shared.cli import main
from shared.errors import InputError

# the settings of the session fixture ``synthetic_root`` (tests/pointcloud_cl/conftest.py)
FIXTURE = SyntheticConfig(samples_per_scene=1, image_height=64, image_width=112, extra_objects=2)


@pytest.fixture
def data_copy(synthetic_root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(synthetic_root, tmp_path / "data"))


def test_the_set_it_wrote_is_reusable_as_is(synthetic_root: Path) -> None:
    stamp = json.loads((synthetic_root / STAMP).read_text())
    assert stamp["generator"] == GENERATOR_VERSION
    assert stamp["config"]["samples_per_scene"] == 1
    assert check_reusable(synthetic_root, FIXTURE) == []


def test_other_settings_are_listed(synthetic_root: Path) -> None:
    differs = check_reusable(synthetic_root, SyntheticConfig(samples_per_scene=13))
    assert "samples_per_scene=1 (config: 13)" in differs
    assert "image_height=64 (config: 128)" in differs


@pytest.mark.parametrize(
    ("stamp", "problem"),
    [(None, "a generator from before stamps"), ({"generator": 1}, "generator version 1")],
    ids=["no-stamp", "older-generator"],
)
def test_a_set_from_another_generator_is_refused(
    data_copy: Path, stamp: dict | None, problem: str
) -> None:
    if stamp is None:
        (data_copy / STAMP).unlink()
    else:
        (data_copy / STAMP).write_text(json.dumps(stamp))
    with pytest.raises(InputError, match=problem) as err:
        check_reusable(data_copy, FIXTURE)
    assert str(data_copy) in str(err.value) and "delete" in str(err.value)


def test_a_real_nuscenes_root_is_not_checked(data_copy: Path) -> None:
    log = data_copy / "v1.0-mini" / "log.json"
    rows = json.loads(log.read_text())
    log.write_text(
        json.dumps([{**row, "logfile": "n015-2018-07-24-11-22-45+0800"} for row in rows])
    )
    (data_copy / STAMP).unlink()
    assert check_reusable(data_copy, SyntheticConfig()) == []


def test_the_cli_refuses_a_stale_set_with_one_line(
    data_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (data_copy / STAMP).unlink()
    argv = ["pointcloud", "pretrain", f"data.root={data_copy}", "method=prc"]
    assert main([*argv, f"trainer.out_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(data_copy) in err[0] and "before stamps" in err[0], err
