from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from shared.config import ConfigError, load_config, save_config, to_dict
from shared.training import TrainerConfig


@dataclass
class ModelCfg:
    hidden: int = 64
    dims: tuple[int, ...] = (32, 16)
    act: Literal["relu", "gelu"] = "relu"
    dropout: float | None = None


@dataclass
class Experiment:
    name: str = "demo"
    model: ModelCfg = field(default_factory=ModelCfg)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)


def test_defaults_without_file():
    cfg = load_config(Experiment)
    assert cfg == Experiment()


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(
        "name: cora\nmodel:\n  hidden: 128\n  act: gelu\ntrainer:\n  epochs: 5\n  lr: 1e-3\n"
    )
    cfg = load_config(
        Experiment, path, ["trainer.epochs=7", "model.dims=[8, 4, 2]", "model.dropout=0.5"]
    )
    assert cfg.name == "cora"
    assert cfg.model.hidden == 128 and cfg.model.act == "gelu"
    assert cfg.model.dims == (8, 4, 2) and cfg.model.dropout == 0.5
    assert cfg.trainer.epochs == 7 and cfg.trainer.lr == pytest.approx(1e-3)


def test_int_is_accepted_for_float_but_not_the_reverse():
    assert load_config(Experiment, None, ["trainer.lr=1"]).trainer.lr == 1.0
    with pytest.raises(ConfigError, match="trainer.epochs: expected an integer"):
        load_config(Experiment, None, ["trainer.epochs=2.5"])


def test_unknown_key_suggests_the_closest(tmp_path):
    with pytest.raises(
        ConfigError, match=r"unknown config key 'trainer.epoch'.*did you mean 'trainer.epochs'"
    ):
        load_config(Experiment, None, ["trainer.epoch=3"])


def test_literal_and_bool_are_checked():
    with pytest.raises(ConfigError, match="model.act: 'tanh' is not one of"):
        load_config(Experiment, None, ["model.act=tanh"])
    with pytest.raises(ConfigError, match="trainer.amp: expected true/false"):
        load_config(Experiment, None, ["trainer.amp=1"])


def test_bad_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="must look like key.subkey=value"):
        load_config(Experiment, None, ["trainer.epochs"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Experiment, tmp_path / "nope.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(Experiment, bad)


@dataclass
class DomainExperiment:
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(epochs=50, monitor="ndcg", patience=5)
    )
    model: ModelCfg = field(default_factory=lambda: ModelCfg(hidden=256))


def test_overriding_one_key_keeps_the_sections_own_defaults(tmp_path):
    cfg = load_config(DomainExperiment, None, ["trainer.epochs=3", "model.act=gelu"])
    assert cfg.trainer.epochs == 3
    assert cfg.trainer.monitor == "ndcg" and cfg.trainer.patience == 5
    assert cfg.model.hidden == 256 and cfg.model.act == "gelu"
    path = tmp_path / "partial.yaml"
    path.write_text("trainer:\n  lr: 0.5\n")
    from_file = load_config(DomainExperiment, path)
    assert from_file.trainer.lr == 0.5 and from_file.trainer.monitor == "ndcg"


def test_save_and_reload_round_trip(tmp_path):
    cfg = load_config(Experiment, None, ["model.dims=[3]", "trainer.monitor=acc"])
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert load_config(Experiment, path) == cfg
    assert to_dict(cfg)["model"]["dims"] == [3]


@dataclass
class DataCfg:
    name: str = "cora"
    root: str = "data"


@dataclass
class WithObjective:
    data: DataCfg = field(default_factory=DataCfg)
    objective: dict[str, Any] = field(
        default_factory=lambda: {"name": "info_nce", "temperature": 0.5}
    )


MOCHI_FILE = "objective:\n  name: mochi\n  temperature: 0.3\n  queue_size: 64\n"


def test_a_section_key_override_keeps_the_default_sections_name():
    cfg = load_config(WithObjective, None, ["objective.temperature=0.2"])
    assert cfg.objective == {"name": "info_nce", "temperature": 0.2}


def test_a_file_section_merges_into_the_default_one(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("objective:\n  temperature: 0.3\n")
    assert load_config(WithObjective, path).objective == {"name": "info_nce", "temperature": 0.3}


def test_overrides_merge_into_the_files_section(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(MOCHI_FILE)
    cfg = load_config(WithObjective, path, ["objective.temperature=0.2"])
    assert cfg.objective == {"name": "mochi", "temperature": 0.2, "queue_size": 64}
    same = load_config(WithObjective, path, ["objective.name=mochi"])
    assert same.objective == {"name": "mochi", "temperature": 0.3, "queue_size": 64}


def test_a_new_name_starts_the_section_from_its_own_keys(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(MOCHI_FILE)
    assert load_config(WithObjective, path, ["objective.name=dcl"]).objective == {"name": "dcl"}
    both = load_config(WithObjective, path, ["objective.name=dcl", "objective.temperature=0.1"])
    assert both.objective == {"name": "dcl", "temperature": 0.1}
    assert load_config(WithObjective, None, ["objective.name=dcl"]).objective == {"name": "dcl"}


def test_an_empty_mapping_clears_the_section(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(MOCHI_FILE)
    assert load_config(WithObjective, path, ["objective={}"]).objective == {}


def test_a_dataclass_sections_name_override_keeps_its_other_keys(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("data:\n  name: citeseer\n  root: /x\n")
    cfg = load_config(WithObjective, path, ["data.name=pubmed"])
    assert cfg.data == DataCfg(name="pubmed", root="/x")
