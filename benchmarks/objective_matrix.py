"""The objective matrix: every objective that fits a domain's method, on one real benchmark per
domain, at a fixed small budget; mean ± std over training seeds and the time of each cell.

Columns (``--domains``, in this order):

- ``graph``: GRACE on Cora (``configs/graph/grace_cora.yaml``), ``--budget graph=E`` epochs,
  scored by GRACE's evaluation script as ``graph_cl.evaluation.probe_grace_protocol`` implements
  it (3 random 10% / 90% splits per training seed; accuracy in %).
- ``recsys``: CL4SRec on Amazon Beauty (``configs/recsys/cl4srec_beauty.yaml``), the first
  ``--budget recsys=B`` training batches of 256 (one pass, no early stopping), then validation
  and test HR@20 / NDCG@20 over all items (leave-one-out).
- ``timeseries``: the sample-level baseline on UCI EEG, patient-level cross-validation
  (``configs/timeseries/crossval_uci_eeg.yaml``, ``contrast timeseries crossval``) with
  ``--budget timeseries=E`` pretraining epochs per fold, scored by the linear probe at 100%
  labels on each fold's test patients (macro-F1 and AUROC in %, mean over the 5 folds).
- ``pointcloud``: PRC on the synthetic nuScenes set (``configs/pointcloud/prc_synthetic.yaml``),
  ``--budget pointcloud=E`` pretraining epochs, then ``finetune_synthetic.yaml`` fine-tuning at
  10% labels, scored by NDS on the synthetic mini_val.

Each column runs the method's published objective (``default``) and every registry objective
that :func:`shared.losses.registry.fitting_objectives` accepts for it, each with its own
defaults except the temperature, which is the domain's (``temperature``, or iSogCLR's
``tau_init``); ``MEMORY`` lists the few keys changed so a full-batch step fits in memory. An
objective whose loss is the published one at the domain's temperature (``SAME_AS_DEFAULT``) is
not run twice: the table shows the default's cell for it.

Results go to ``benchmarks/results/objective_matrix.json`` after every cell; a rerun skips the
cells already there (same domain, objective, budget and seed), so an interrupted run resumes.

    OMP_NUM_THREADS=1 python benchmarks/objective_matrix.py --domains graph recsys \\
        --seeds 0 1 2 --budget graph=15 recsys=50
    python benchmarks/objective_matrix.py --table   # print the markdown table of the JSON
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "objective_matrix.json"
DATA = Path(os.environ.get("CONTRAST_DATA", ROOT.parent / "shared" / "data"))
GRACE_SPLITS = 3  # splits of GRACE's script per training seed (its eval.py uses 20)


@dataclass(frozen=True)
class Column:
    """One domain's benchmark: its method, budget unit, temperature and scored metrics."""

    title: str
    provides: frozenset[str]
    temperature: float
    budget_unit: str
    default_budget: int
    metrics: tuple[str, ...]  # the scores shown in the table (higher is better)
    run: Callable[[dict[str, Any], int, int, Path], dict[str, float]]
    same_as_default: tuple[str, ...] = ()
    memory: dict[str, dict[str, Any]] = field(default_factory=dict)


def _graph(objective: dict[str, Any], seed: int, budget: int, out: Path) -> dict[str, float]:
    from graph_cl.config import GraphExperiment
    from graph_cl.evaluation import probe_grace_protocol
    from graph_cl.experiment import build, embed
    from shared.config import from_dict, read_yaml_config
    from shared.training import Trainer

    data = read_yaml_config(ROOT / "configs/graph/grace_cora.yaml")
    data["data"]["root"] = str(DATA / "graph")
    data["objective"] = objective
    data["trainer"].update(
        epochs=budget,
        seed=seed,
        out_dir=str(out),
        progress=False,
        tensorboard=False,
        checkpoint_every=0,
    )
    exp = from_dict(GraphExperiment, data)
    graph, method = build(exp)
    Trainer(exp.trainer, method).fit([graph])
    embeddings, _ = embed(method, graph)
    scores = probe_grace_protocol(embeddings.cpu(), graph.y.cpu(), GRACE_SPLITS, exp.eval.seed)
    return {"accuracy": 100 * scores["accuracy"][0]}


class _FirstBatches:
    """The first ``count`` batches of ``batches`` (one pass), keeping its ``generator``."""

    def __init__(self, batches: Any, count: int) -> None:
        self.batches, self.count = batches, count
        self.generator = getattr(batches, "generator", None)

    def __iter__(self) -> Iterator[Any]:
        return itertools.islice(iter(self.batches), self.count)

    def __len__(self) -> int:
        return self.count


def _recsys(objective: dict[str, Any], seed: int, budget: int, out: Path) -> dict[str, float]:
    from recsys_cl.config import RecsysExperiment
    from recsys_cl.experiment import build
    from shared.config import from_dict, read_yaml_config
    from shared.training import Trainer

    data = read_yaml_config(ROOT / "configs/recsys/cl4srec_beauty.yaml")
    data["data"]["root"] = str(DATA / "recsys")
    data["objective"] = objective
    data["trainer"].update(
        epochs=1,
        seed=seed,
        out_dir=str(out),
        progress=False,
        tensorboard=False,
        checkpoint_every=0,
        monitor="",
        patience=0,
    )
    exp = from_dict(RecsysExperiment, data)
    built = build(exp)
    Trainer(exp.trainer, built.model).fit(_FirstBatches(built.batches, budget))
    built.model.eval()
    scores: dict[str, float] = {}
    for split in ("valid", "test"):
        ranked = built.evaluate(split, False)
        scores.update({f"{split}_{k}": ranked[k] for k in ("HR@20", "NDCG@20")})
    return scores


def _timeseries(objective: dict[str, Any], seed: int, budget: int, out: Path) -> dict[str, float]:
    """The sample baseline of ``contrast timeseries crossval`` alone: per patient-level fold,
    pretrain on the training patients, then the linear probe at 100% labels on the test
    patients; the mean over the folds."""
    import dataclasses

    import numpy as np

    from shared.config import from_dict, read_yaml_config
    from shared.evaluation import linear_probe
    from shared.training import Trainer, seed_everything
    from timeseries_cl.config import TimeseriesExperiment
    from timeseries_cl.data_io import load_source
    from timeseries_cl.evaluation import encode
    from timeseries_cl.experiment import build_method, hierarchical_batches
    from timeseries_cl.splits import patient_folds

    data = read_yaml_config(ROOT / "configs/timeseries/crossval_uci_eeg.yaml")
    data["data"]["root"] = str(DATA / "timeseries" / "uci_eeg")
    data["method"] = "sample"
    data["objective"] = objective
    data["trainer"].update(epochs=budget, seed=seed, progress=False)
    exp = from_dict(TimeseriesExperiment, data)
    source = load_source(exp.data)
    folds = patient_folds(source, exp.crossval.folds, exp.data.split_seed, "UCI EEG")
    scores: list[dict[str, float]] = []
    for fold, (train, val, test) in enumerate(folds):
        seed_everything(seed)
        method = build_method(exp, train.n_channels, num_samples=len(train))
        trainer = dataclasses.replace(exp.trainer, out_dir=str(out / f"fold{fold}"))
        batches = hierarchical_batches(train, exp.batch_size, exp.trials_per_patient)
        Trainer(trainer, method).fit(batches)
        z = [encode(method, part.x) for part in (train, val, test)]
        probe = linear_probe(
            z[0], train.label, z[2], test.label, val_x=z[1], val_y=val.label, seed=seed
        )
        scores.append({k: 100 * float(probe[k]) for k in ("macro_f1", "auroc")})
    return {k: float(np.mean([s[k] for s in scores])) for k in ("macro_f1", "auroc")}


def _pointcloud(objective: dict[str, Any], seed: int, budget: int, out: Path) -> dict[str, float]:
    """PRC pretraining (``budget`` epochs), then fine-tuning at 10% labels; NDS on mini_val."""
    from pointcloud_cl.config import PointcloudExperiment
    from pointcloud_cl.experiment import finetune, run
    from shared.config import from_dict, read_yaml_config

    pre = read_yaml_config(ROOT / "configs/pointcloud/prc_synthetic.yaml")
    pre["objective"] = objective
    pre["trainer"].update(
        epochs=budget, seed=seed, out_dir=str(out / "prc"), progress=False, tensorboard=False
    )
    weights = run(from_dict(PointcloudExperiment, pre))
    tune = read_yaml_config(ROOT / "configs/pointcloud/finetune_synthetic.yaml")
    tune["finetune"].update(pretrained=str(weights), label_fractions=[0.1], seeds=[seed])
    tune["trainer"].update(out_dir=str(out / "finetune"), progress=False, tensorboard=False)
    summary = finetune(from_dict(PointcloudExperiment, tune))
    return {"NDS": 100 * summary["0.1"]["NDS"][0]}


COLUMNS: dict[str, Column] = {
    "graph": Column(
        "GRACE on Cora (GRACE's evaluation script, accuracy %)",
        frozenset({"two_views", "index"}),
        temperature=0.4,
        budget_unit="epochs",
        default_budget=15,
        metrics=("accuracy",),
        run=_graph,
        # GRACE's node contrast is symmetric InfoNCE with intra-view negatives on cosine
        # similarity: the registry's info_nce / tiled_info_nce defaults at tau 0.4
        same_as_default=("info_nce", "tiled_info_nce"),
        # a full-graph step mixes for all 2,708 nodes at once: MoCHi's ImageNet counts
        # (1,024 + 256 synthetic negatives per query) would take ~5 GB
        memory={"mochi": {"num_mix": 128, "num_query_mix": 32}},
    ),
    "recsys": Column(
        "CL4SRec on Beauty (HR@20 / NDCG@20)",
        frozenset({"two_views"}),
        temperature=1.0,
        budget_unit="batches",
        default_budget=50,
        metrics=("valid_HR@20", "valid_NDCG@20", "test_HR@20", "test_NDCG@20"),
        run=_recsys,
    ),
    "timeseries": Column(
        "sample baseline on UCI EEG (patient-level 5-fold, probe at 100% labels, %)",
        frozenset({"two_views", "index"}),
        temperature=0.1,
        budget_unit="epochs",
        default_budget=2,
        metrics=("macro_f1", "auroc"),
        run=_timeseries,
    ),
    "pointcloud": Column(
        "PRC on synthetic nuScenes (NDS % at 10% labels)",
        frozenset({"two_views"}),
        temperature=0.07,
        budget_unit="epochs",
        default_budget=1,
        metrics=("NDS",),
        run=_pointcloud,
    ),
}


def cell_objectives(column: Column) -> list[str]:
    """``default`` and every fitting registry objective that is not the default's loss."""
    from shared.losses.registry import fitting_objectives

    fits = fitting_objectives(column.provides)
    return ["default", *(name for name in fits if name not in column.same_as_default)]


def objective_section(column: Column, name: str) -> dict[str, Any]:
    """The ``objective:`` section of a cell: empty for ``default``, else the objective at the
    domain's temperature plus the column's memory settings."""
    from shared.losses.registry import describe_objectives

    if name == "default":
        return {}
    params = next(d for d in describe_objectives() if d["name"] == name)["hyperparameters"]
    section: dict[str, Any] = {"name": name, **column.memory.get(name, {})}
    if "temperature" in params:
        section["temperature"] = column.temperature
    elif "tau_init" in params:
        low, high = params["tau_min"], params["tau_max"]
        section["tau_init"] = min(max(column.temperature, low), high)
    return section


def cell_key(domain: str, name: str, budget: int, seed: int) -> str:
    return f"{domain}|{name}|budget={budget}|seed={seed}"


def load_results(path: Path) -> dict[str, Any]:
    if path.is_file():
        return json.loads(path.read_text())
    return {"cells": {}}


def save_results(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".objective_matrix-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(results, fh, indent=1, sort_keys=True)
    os.replace(tmp, path)


def run_matrix(
    domains: Iterable[str], seeds: list[int], budgets: dict[str, int], out: Path, runs_dir: Path
) -> None:
    """Run every missing cell, saving the JSON after each one."""
    results = load_results(out)
    for domain in domains:
        column = COLUMNS[domain]
        budget = budgets.get(domain, column.default_budget)
        for name in cell_objectives(column):
            section = objective_section(column, name)
            for seed in seeds:
                key = cell_key(domain, name, budget, seed)
                if key in results["cells"]:
                    continue
                print(f"[objective matrix] {key} objective={section}", flush=True)
                wall, cpu = time.perf_counter(), time.process_time()
                scores = column.run(section, seed, budget, runs_dir / key.replace("|", "_"))
                results["cells"][key] = {
                    "domain": domain,
                    "objective": name,
                    "section": section,
                    "budget": budget,
                    "budget_unit": column.budget_unit,
                    "seed": seed,
                    "scores": scores,
                    "wall_s": time.perf_counter() - wall,
                    "cpu_s": time.process_time() - cpu,
                    "load_avg": os.getloadavg()[0],
                    "finished_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
                        timespec="seconds"
                    ),
                }
                save_results(out, results)
                print(f"[objective matrix] {key} -> {scores}", flush=True)


def markdown_table(results: dict[str, Any], domain: str, budget: int) -> str:
    """One markdown table for ``domain`` at ``budget``: mean ± std over seeds per metric, the
    paired difference to the default in the first metric (per seed, then mean ± std over the
    seeds both ran), wall and CPU seconds per run; ``*`` marks a mean that differs from the
    default's by more than the larger of the two seed standard deviations (both sides at least
    two seeds)."""
    column = COLUMNS[domain]
    cells = [c for c in results["cells"].values() if c["domain"] == domain]
    cells = [c for c in cells if c["budget"] == budget]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for cell in cells:
        by_name.setdefault(cell["objective"], []).append(cell)
    paired = f"Δ {column.metrics[0]} vs default, paired"
    header = ["objective", "seeds", *column.metrics, paired, "wall s / run", "CPU s / run"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    default = by_name.get("default", [])
    for name in cell_objectives(column):
        runs = by_name.get(name, [])
        label = name if name != "default" else "default (published)"
        if not runs:
            lines.append("| " + " | ".join([label, "not run", *[""] * (len(header) - 2)]) + " |")
            continue
        row = [label, ",".join(str(c["seed"]) for c in sorted(runs, key=lambda c: c["seed"]))]
        for metric in column.metrics:
            mean, std = _mean_std([c["scores"][metric] for c in runs])
            base = [c["scores"][metric] for c in default]
            mark = ""
            if name != "default" and len(runs) > 1 and len(base) > 1:
                base_mean, base_std = _mean_std(base)
                mark = " *" if abs(mean - base_mean) > max(std, base_std) else ""
            row.append(f"{mean:.4g} ± {std:.2g}{mark}")
        row.append(_paired(runs, default, column.metrics[0]) if name != "default" else "")
        row.append(f"{statistics.mean(c['wall_s'] for c in runs):.0f}")
        row.append(f"{statistics.mean(c['cpu_s'] for c in runs):.0f}")
        lines.append("| " + " | ".join(row) + " |")
    if column.same_as_default:
        lines.append(
            f"\n{', '.join(column.same_as_default)}: the published loss at the domain's "
            "temperature, so the default row is theirs."
        )
    return "\n".join(lines)


def _paired(runs: list[dict[str, Any]], default: list[dict[str, Any]], metric: str) -> str:
    base = {c["seed"]: c["scores"][metric] for c in default}
    diffs = [c["scores"][metric] - base[c["seed"]] for c in runs if c["seed"] in base]
    if not diffs:
        return ""
    mean, std = _mean_std(diffs)
    return f"{mean:+.3g} ± {std:.2g}"


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def _budgets(pairs: list[str]) -> dict[str, int]:
    budgets = {}
    for pair in pairs:
        domain, sep, value = pair.partition("=")
        if not sep or domain not in COLUMNS or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"--budget {pair!r}: expected DOMAIN=N with DOMAIN in {list(COLUMNS)}")
        budgets[domain] = int(value)
    return budgets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", nargs="+", choices=list(COLUMNS), default=list(COLUMNS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument(
        "--budget",
        nargs="*",
        default=[],
        metavar="DOMAIN=N",
        help="per-domain budget (graph: epochs, recsys: batches, timeseries / pointcloud: "
        f"pretraining epochs); defaults { ({k: c.default_budget for k, c in COLUMNS.items()}) }",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--runs-dir", type=Path, default=Path("runs/objective_matrix"))
    parser.add_argument("--table", action="store_true", help="print the tables and exit")
    args = parser.parse_args()
    budgets = _budgets(args.budget)
    if args.table:
        results = load_results(args.out)
        for domain in args.domains:
            budget = budgets.get(domain, COLUMNS[domain].default_budget)
            print(f"\n{COLUMNS[domain].title}, {budget} {COLUMNS[domain].budget_unit}\n")
            print(markdown_table(results, domain, budget))
        return
    run_matrix(args.domains, args.seeds, budgets, args.out, args.runs_dir)


if __name__ == "__main__":
    main()
