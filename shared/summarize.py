"""``contrast <domain> summarize``: one table over several run folders.

Each run folder holds ``metrics.json`` (final numbers) and ``config.yaml`` (the resolved
experiment). Runs are grouped by a config key (``method`` by default, so several seeds of one
method form one row) and every numeric metric the group's runs share is shown as mean ± std
(sample standard deviation, ``ddof=1``).

    contrast graph summarize runs/graph/grace_s0 runs/graph/grace_s1 runs/graph/gcool_s0
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from shared.errors import InputError
from shared.evaluation.summary import format_mean_std, markdown_table, mean_std
from shared.run_report import flatten


def read_run(run_dir: Path) -> tuple[dict[str, Any], dict[str, float]]:
    """The resolved config and the numeric final metrics of one run folder."""
    metrics_path, config_path = run_dir / "metrics.json", run_dir / "config.yaml"
    if not metrics_path.is_file():
        raise InputError(f"{metrics_path} not found: is {run_dir} a finished run folder?")
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"{metrics_path} is not valid JSON ({err})") from err
    config: dict[str, Any] = {}
    if config_path.is_file():
        try:
            loaded = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise InputError(f"{config_path} is not a readable YAML config ({err})") from err
        config = loaded if isinstance(loaded, dict) else {}
    numbers = {
        k: float(v)
        for k, v in flatten(metrics).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    return config, numbers


def summarize_runs(
    run_dirs: Sequence[Path], *, metrics: Sequence[str] | None = None, by: str = "method"
) -> list[dict[str, Any]]:
    """Rows ``{by: group, "runs": n, metric: "mean ± std", ...}``, one per group."""
    groups: dict[str, list[dict[str, float]]] = {}
    for run_dir in run_dirs:
        config, numbers = read_run(run_dir)
        key = _lookup(config, by)
        groups.setdefault(str(key if key is not None else run_dir.name), []).append(numbers)
    rows = []
    for group, runs in groups.items():
        shared = set.intersection(*(set(r) for r in runs))
        names = [m for m in (metrics or sorted(shared)) if m in shared]
        stats = mean_std([{m: r[m] for m in names} for r in runs]) if names else {}
        row: dict[str, Any] = {by: group, "runs": len(runs)}
        for name, (mean, std) in stats.items():
            row[name] = format_mean_std(mean, std, digits=4) if math.isfinite(mean) else "nan"
        rows.append(row)
    return rows


def print_summary(
    run_dirs: Sequence[Path],
    *,
    metrics: Sequence[str] | None = None,
    by: str = "method",
    out: Path | None = None,
) -> int:
    """Print :func:`summarize_runs` as a markdown table (and write it as JSON to ``out``)."""
    rows = summarize_runs(run_dirs, metrics=metrics, by=by)
    columns = list(dict.fromkeys(k for row in rows for k in row))
    print(markdown_table(rows, columns))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(rows, indent=2))
    return 0


def _lookup(config: Mapping[str, Any], dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value
