"""Typed experiment configs: nested dataclasses loaded from YAML with dotted CLI overrides.

    cfg = load_config(GCoolExperiment, "configs/graph/gcool_cora.yaml", ["trainer.epochs=50"])
    save_config(cfg, "runs/cora/config.yaml")

Every key and value is checked against the dataclass field types; an unknown key is an error that
lists the valid keys (with the closest match), so a typo never silently falls back to a default.
Override values are parsed as YAML (``trainer.lr=1e-3``, ``model.dims=[64,32]``,
``eval.seeds=null``).

A free-form mapping field (``dict[str, Any]``, e.g. a domain's ``objective:`` section) is laid on
top of its default, then the file's section, then the overrides, key by key
(:func:`merge_section`): ``objective.temperature=0.2`` changes one key and keeps the name. A
layer that names a different ``name`` starts the section afresh from that layer's keys, so
``objective.name=dcl`` gives DCL with its own defaults rather than keys written for the previous
objective (a queue size means nothing to DCL, and a temperature tuned for another loss would
silently replace DCL's default); an empty mapping (``objective={}``) clears the section.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tempfile
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from shared.errors import InputError

T = TypeVar("T")


class ConfigError(InputError):
    """A config file or override does not match the config's schema, or is not readable YAML."""


def load_config(
    cls: type[T], path: str | os.PathLike | None = None, overrides: Sequence[str] = ()
) -> T:
    """Build ``cls`` from an optional YAML file, then dotted ``key=value`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        data = read_yaml_config(path)
    layer: dict[str, Any] = {}
    for override in overrides:
        _apply_override(layer, override)
    return from_dict(cls, _lay(cls, data, layer))


def merge_section(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    """``top`` laid over the free-form section ``base`` (module docstring): its keys replace
    those of ``base``; a different ``name`` in ``top``, or an empty ``top``, drops ``base``.

        >>> merge_section({"name": "mochi", "queue_size": 4096}, {"temperature": 0.1})
        {'name': 'mochi', 'queue_size': 4096, 'temperature': 0.1}
        >>> merge_section({"name": "mochi", "queue_size": 4096}, {"name": "dcl"})
        {'name': 'dcl'}
    """
    if not top or ("name" in top and top["name"] != base.get("name")):
        return dict(top)
    return {**base, **top}


def _lay(tp: Any, base: Any, top: Any) -> Any:
    """Raw config data ``top`` (the overrides) laid over ``base`` (the file) for type ``tp``:
    dataclass sections key by key, free-form mappings by :func:`merge_section`, anything else
    replaced. Keys the type does not know are kept for :func:`from_dict` to report."""
    if not (isinstance(base, Mapping) and isinstance(top, Mapping)):
        return top
    section = _section_type(tp)
    if section is None:
        return merge_section(base, top) if _is_mapping_type(tp) else top
    hints = typing.get_type_hints(section)
    merged = dict(base)
    for key, value in top.items():
        merged[key] = _lay(hints.get(key, Any), base[key], value) if key in base else value
    return merged


def _section_type(tp: Any) -> Any:
    """The dataclass ``tp`` is (or that an ``X | None`` wraps), else None."""
    if dataclasses.is_dataclass(tp):
        return tp
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        found = [a for a in typing.get_args(tp) if dataclasses.is_dataclass(a)]
        return found[0] if len(found) == 1 else None
    return None


def _is_mapping_type(tp: Any) -> bool:
    return typing.get_origin(tp) in (dict, Mapping) or tp is dict


def read_yaml_config(path: str | os.PathLike) -> dict[str, Any]:
    """The top-level mapping of a YAML config file, read with safe-load semantics.

    Every problem is a :class:`ConfigError` naming the file: missing, not UTF-8 text (a binary or
    Latin-1 file), malformed YAML (with line and column), a duplicate key (with its line), a tag
    that would build a Python object (``!!python/object/apply``), an empty file, or a top level
    that is not a mapping.

        >>> read_yaml_config("configs/graph/gcool_cora.yaml")["method"]
        'gcool'
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise ConfigError(f"{path}: a binary file, not YAML text; pass a .yaml config")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise ConfigError(
            f"{path} line {line}: not UTF-8 text (byte 0x{raw[err.start]:02x}); "
            "save the file as UTF-8"
        ) from None
    loaded = _parse_yaml(text, str(path))
    if loaded is None:
        raise ConfigError(
            f"{path} is empty (no settings); write at least one section such as 'trainer:', "
            "or leave out --config for the defaults"
        )
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(loaded).__name__}")
    return loaded


class _DuplicateKeyError(yaml.MarkedYAMLError):
    """A mapping that names the same key twice."""


class _UniqueKeySafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that rejects a key given twice in one mapping (PyYAML keeps the last).

    Merge keys (``<<: *base``) may still be overridden: only keys written in the mapping count.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: the base class reports it
                break
            if duplicate:
                raise _DuplicateKeyError(
                    problem=f"duplicate key '{key}' (each key may appear once per section)",
                    problem_mark=key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, where: str) -> Any:
    """``yaml.safe_load(text)`` rejecting duplicate keys; errors name ``where``, line, column."""
    loader = _UniqueKeySafeLoader(text)
    try:
        return loader.get_single_data()
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        place = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        if isinstance(err, yaml.constructor.ConstructorError) and "python/" in str(problem):
            problem = f"{problem} (Python object tags are not allowed in a config)"
        raise ConfigError(f"{where}{place}: not valid YAML: {problem}") from None
    finally:
        loader.dispose()


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "", base: Any = None) -> T:
    """Strictly convert a (nested) mapping into the dataclass ``cls``.

    Keys missing from ``data`` keep their value in ``base`` (an instance of ``cls``), or else the
    field's default; a nested section starts from its parent's default for it, so overriding
    ``trainer.epochs`` keeps a domain's own ``trainer`` defaults (its monitor, patience, ...).
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(str(key), list(fields), n=1)
        hint = f" (did you mean '{_join(where, close[0])}'?)" if close else ""
        raise ConfigError(
            f"unknown config key '{_join(where, str(key))}'{hint}; valid keys: {', '.join(fields)}"
        )
    defaults = base if base is not None else _default_instance(cls)
    kwargs = {
        name: _convert(hints[name], data[name], _join(where, name), getattr(defaults, name, None))
        for name in fields
        if name in data
    }
    return dataclasses.replace(defaults, **kwargs) if defaults is not None else cls(**kwargs)


def _default_instance(cls: type[T]) -> T | None:
    """``cls()`` when every field has a default (the usual config), else None."""
    try:
        return cls()
    except TypeError:
        return None


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain YAML-safe dict of a config dataclass (tuples become lists)."""
    return _plain(dataclasses.asdict(cfg))


def save_config(cfg: Any, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(to_dict(cfg), sort_keys=False)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".yaml")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _apply_override(data: dict[str, Any], override: str) -> None:
    key, sep, raw = override.partition("=")
    if not sep or not key:
        raise ConfigError(f"override '{override}' must look like key.subkey=value")
    value = _parse_yaml(raw, f"override '{override}'") if raw.strip() else ""
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override '{override}': '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def _convert(tp: Any, value: Any, where: str, base: Any = None) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _convert(arg, value, where, base)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(
            errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {tp}"
        )
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        section_base = base if isinstance(base, tp) else None
        return from_dict(tp, value if value is not None else {}, where, section_base)
    if origin in (list, tuple, Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(
                _convert(a, v, f"{where}[{i}]")
                for i, (a, v) in enumerate(zip(args, value, strict=True))
            )
        item = args[0] if args else Any
        items = [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin in (dict, Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        if isinstance(base, Mapping):
            value = merge_section(base, value)
        val_tp = args[1] if args else Any
        return {str(k): _convert(val_tp, v, f"{where}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"{where}: cannot read {value!r} as {tp}")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
