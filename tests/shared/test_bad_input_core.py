"""Bad input to the core (YAML configs, overrides, ranking cut-offs): every case is one clear
error naming the file and the problem, and the CLI turns it into ``contrast: error: ...``, exit 2.
Valid edge cases (a UTF-8 byte-order mark, merge keys, comments) keep working."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from shared.cli import main
from shared.config import ConfigError, load_config
from shared.errors import InputError
from shared.evaluation import rank_full


@dataclasses.dataclass
class _Section:
    epochs: int = 3
    lr: float = 0.1


@dataclasses.dataclass
class _Experiment:
    name: str = "demo"
    trainer: _Section = dataclasses.field(default_factory=_Section)


def _write(tmp_path: Path, text: str | bytes, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


BAD_CONFIGS = [
    ("scanner error", 'name: "unclosed\n', r"exp\.yaml line 2, column 1: not valid YAML"),
    ("parser error", "trainer: [1,\n", r"exp\.yaml line 2, column 1: not valid YAML: expected"),
    ("tab indentation", "trainer:\n\tepochs: 2\n", r"exp\.yaml line 2, column 1: not valid YAML"),
    ("bad nesting", "trainer:\n  epochs: 2\n lr: 1\n", r"exp\.yaml line 3, column 2"),
    ("empty file", "", r"exp\.yaml is empty \(no settings\)"),
    ("comments only", "# nothing yet\n\n", r"exp\.yaml is empty"),
    ("duplicate key", "name: a\nname: b\n", r"exp\.yaml line 2, column 1: .*duplicate key 'name'"),
    (
        "nested duplicate",
        "trainer:\n  epochs: 1\n  lr: 0.1\n  epochs: 2\n",
        r"exp\.yaml line 4, column 3: .*duplicate key 'epochs'",
    ),
    ("Latin-1 text", "name: caf\xe9\n".encode("latin-1"), r"exp\.yaml line 1: not UTF-8 text"),
    ("binary file", b"\x89PNG\r\n\x1a\n\x00\x00", r"exp\.yaml: a binary file, not YAML text"),
    ("top-level list", "- 1\n- 2\n", r"exp\.yaml: the top level must be a mapping, got list"),
    ("top-level scalar", "hello\n", r"exp\.yaml: the top level must be a mapping, got str"),
    ("unknown key", "trainer:\n  epoch: 2\n", r"unknown config key 'trainer\.epoch'.*did you mean"),
    ("wrong type", "trainer:\n  epochs: many\n", r"trainer\.epochs: expected an integer"),
    ("python tag", "name: !!python/name:os.system\n", r"exp\.yaml line 1, column 7: .*python"),
]


@pytest.mark.parametrize(("case", "text", "message"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_bad_config_files_are_one_clear_error(tmp_path, case, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=message):
        load_config(_Experiment, path)


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.yaml"):
        load_config(_Experiment, tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.epochs=[1,", r"override 'trainer\.epochs=\[1,' line 1, column 4: not valid YAML"),
        ("trainer.epochs={a: 1, a: 2}", r"override .*duplicate key 'a'"),
        ("trainer.epochs", r"must look like key\.subkey=value"),
        ("name.x=1", r"name: expected a string, got \{'x': 1\}"),
    ],
)
def test_bad_overrides_are_one_clear_error(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_Experiment, None, [override])


def test_valid_edge_cases_still_load(tmp_path):
    bom = _write(tmp_path, "\ufeffname: caf\xe9\n", "bom.yaml")
    assert load_config(_Experiment, bom).name == "caf\xe9"
    merged = _write(
        tmp_path,
        "defaults: &base {epochs: 5, lr: 0.5}\n",
        "anchors.yaml",
    )
    with pytest.raises(ConfigError, match="unknown config key 'defaults'"):
        load_config(_Experiment, merged)  # anchors parse; the unknown key is still caught
    override = _write(tmp_path, "trainer:\n  <<: {epochs: 5, lr: 0.5}\n  epochs: 7\n", "merge.yaml")
    cfg = load_config(_Experiment, override)
    assert (cfg.trainer.epochs, cfg.trainer.lr) == (7, 0.5)  # a merge key may be overridden
    commented = _write(tmp_path, "# a run\ntrainer:\n  epochs: 2  # short\n", "c.yaml")
    assert load_config(_Experiment, commented).trainer.epochs == 2


def test_config_and_input_errors_are_value_errors():
    assert issubclass(ConfigError, InputError) and issubclass(InputError, ValueError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('trainer: {epochs: "1\n', "line 2, column 1: not valid YAML"),
        ("trainer:\n  epochs: 1\n  epochs: 2\n", "line 3, column 3: not valid YAML: duplicate key"),
        ("", "is empty (no settings)"),
        ("method: caf\xe9\n".encode("latin-1"), "line 1: not UTF-8 text"),
    ],
)
def test_cli_prints_one_error_line_naming_the_file(tmp_path, capsys, text, message):
    path = _write(tmp_path, text)
    assert main(["recsys", "pretrain", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"contrast: error: {path}") and message in err[0]


def test_cli_names_a_missing_config(tmp_path, capsys):
    assert main(["recsys", "pretrain", "--config", str(tmp_path / "gone.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("contrast: error: config file not found") and "gone.yaml" in err


def _flat_scores(n_items: int):
    scores = -torch.arange(n_items, dtype=torch.float32)[None]
    return lambda q: scores.expand(len(q), -1)


def test_ranking_cut_off_at_or_above_the_item_count_is_an_error():
    targets = torch.tensor([3])
    # 10 score columns, padding item 0: 9 rankable items, so k=9 would make HR@9 = 1 always
    with pytest.raises(ValueError, match=r"k=9 is not below the 9 rankable items"):
        rank_full(_flat_scores(10), torch.zeros(1), targets, ks=(5, 9))
    with pytest.raises(ValueError, match=r"k=20 is not below the 10 rankable items"):
        rank_full(_flat_scores(10), torch.zeros(1), targets, ks=(20,), padding_item=None)
    # k one below the item count is a real measurement: target rank 2 (0-based) of 9 candidates
    out = rank_full(_flat_scores(10), torch.zeros(1), targets, ks=(2, 8))
    assert out["HR@2"] == 0.0 and out["HR@8"] == 1.0
