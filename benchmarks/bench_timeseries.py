"""COMET's pretraining step against the sample-level baseline's, alternated round-robin in one
process, and (optionally) COMET's four level losses against the official code's.

Step rows: UCI-EEG-shaped batches (64 windows, 61 channels) and the paper's encoder (64 hidden,
10 blocks, 320 output). A step is one ``training_step`` (every view's encoder pass, the losses),
backward, AdamW and the weight-average update. After one warm-up step each, the two methods
alternate for ``--rounds`` rounds, so both see the same machine load; each step's CPU time
(``time.process_time``) and wall-clock time are recorded. Reported per length T: the medians and
the COMET / baseline ratios of the medians, CPU and wall side by side. In the same round-robin,
each method's encoder passes alone (the batched ``encoder.views`` of its masks, forward +
backward of a trivial sum, no loss, no optimiser): their ratio is the floor a COMET step cannot
go below while it needs three representations to the baseline's two.

Official row (``--official PATH``, a checkout of DL4mHealth/COMET; skipped without it): the four
level losses on identical (64, T, 320) tensors, forward + backward, ours
(``levels.id_contrasts`` with the official pairing + ``levels.hierarchical_levels``) alternated
with the official ``patient_contrastive_loss`` + ``trial_contrastive_loss`` +
``contrastive_loss(..., hierarchical=True)`` of the sample and observation losses (all factors 1;
the official file is loaded from PATH, never copied here); the two totals are compared too.

The load average (``os.getloadavg``) is recorded before and after. Prints markdown tables and
writes ``benchmarks/results/timeseries.json``.

    OMP_NUM_THREADS=1 python benchmarks/bench_timeseries.py --official /tmp/COMET
    OMP_NUM_THREADS=1 python benchmarks/bench_timeseries.py --lengths 32 --rounds 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from types import ModuleType

import torch

from timeseries_cl import levels
from timeseries_cl.comet import COMET, AveragedEncoderMethod, SampleContrast

RESULTS = Path(__file__).resolve().parent / "results" / "timeseries.json"
CHANNELS = 61
OUTPUT_DIMS = 320
COMET_MASKS = ["all_true"] * 2 + ["continuous"] * 2  # COMET.objective's views, all levels on
SAMPLE_MASKS = ["continuous"] * 2  # SampleContrast.objective's views


def _timed(fn: Callable[[], None]) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - cpu, time.perf_counter() - wall


def _round_robin(
    cases: Mapping[str, Callable[[], None]], rounds: int
) -> dict[str, dict[str, float]]:
    """One warm-up call each, then ``rounds`` alternating calls; median CPU and wall seconds."""
    for fn in cases.values():
        fn()
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    wall: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            c, w = _timed(fn)
            cpu[name].append(c)
            wall[name].append(w)
    return {
        name: {"cpu_s": statistics.median(cpu[name]), "wall_s": statistics.median(wall[name])}
        for name in cases
    }


def _step(method: AveragedEncoderMethod, batch: dict[str, torch.Tensor]) -> Callable[[], None]:
    optimizer = torch.optim.AdamW(method.encoder.parameters(), lr=1e-3)

    def step() -> None:
        loss = method.training_step(batch)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        method.on_after_optimizer_step(0)

    return step


def _encoder_only(
    method: AveragedEncoderMethod, masks: list[str], x: torch.Tensor
) -> Callable[[], None]:
    def passes() -> None:
        method.encoder.zero_grad(set_to_none=True)
        torch.stack([view.sum() for view in method.encoder.views(x, masks)]).sum().backward()

    return passes


def _ids(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Patient and trial ids of a HierarchicalBatchSampler batch: chunks of 4 trials x 3 windows."""
    return torch.arange(batch) // 12, torch.arange(batch) // 3


def step_rows(batch: int, lengths: list[int], rounds: int) -> list[dict[str, float | int]]:
    rows = []
    for length in lengths:
        torch.manual_seed(0)
        patient, trial = _ids(batch)
        data = {"x": torch.randn(batch, length, CHANNELS), "patient": patient, "trial": trial}
        methods = {"comet": COMET(CHANNELS), "sample": SampleContrast(CHANNELS)}
        cases = {name: _step(method, data) for name, method in methods.items()}
        cases["comet_encoder"] = _encoder_only(methods["comet"], COMET_MASKS, data["x"])
        cases["sample_encoder"] = _encoder_only(methods["sample"], SAMPLE_MASKS, data["x"])
        t = _round_robin(cases, rounds)
        row = _row(length, batch, t, "comet", "sample")
        for name in ("comet_encoder", "sample_encoder"):
            row[f"{name}_cpu_s"], row[f"{name}_wall_s"] = t[name]["cpu_s"], t[name]["wall_s"]
        row["encoder_cpu_ratio"] = t["comet_encoder"]["cpu_s"] / t["sample_encoder"]["cpu_s"]
        row["encoder_wall_ratio"] = t["comet_encoder"]["wall_s"] / t["sample_encoder"]["wall_s"]
        rows.append(row)
        print(f"T = {length}: {rows[-1]}", flush=True)
    return rows


def _row(
    length: int, batch: int, t: dict[str, dict[str, float]], ours: str, other: str
) -> dict[str, float | int]:
    return {
        "length": length,
        "batch": batch,
        f"{ours}_cpu_s": t[ours]["cpu_s"],
        f"{ours}_wall_s": t[ours]["wall_s"],
        f"{other}_cpu_s": t[other]["cpu_s"],
        f"{other}_wall_s": t[other]["wall_s"],
        "cpu_ratio": t[ours]["cpu_s"] / t[other]["cpu_s"],
        "wall_ratio": t[ours]["wall_s"] / t[other]["wall_s"],
    }


def _official_losses(checkout: Path) -> ModuleType:
    path = checkout / "models" / "losses.py"
    if not path.is_file():
        raise SystemExit(
            f"--official {checkout}: no models/losses.py (a DL4mHealth/COMET checkout)"
        )
    spec = importlib.util.spec_from_file_location("official_comet_losses", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def official_rows(
    checkout: Path, batch: int, lengths: list[int], rounds: int
) -> list[dict[str, float | int]]:
    official = _official_losses(checkout)
    patient, trial = _ids(batch)
    rows = []
    for length in lengths:
        torch.manual_seed(1)
        z = [torch.randn(batch, length, OUTPUT_DIMS, requires_grad=True) for _ in range(4)]
        ours = partial(_ours_total, z, patient, trial)
        reference = partial(_official_total, official, z, patient, trial)
        cases = {"ours": partial(_backward, z, ours), "official": partial(_backward, z, reference)}
        row = _row(length, batch, _round_robin(cases, rounds), "ours", "official")
        with torch.no_grad():
            row["abs_difference"] = abs(float(ours() - reference()))
        rows.append(row)
        print(f"official, T = {length}: {row}", flush=True)
    return rows


def _ours_total(z: list[torch.Tensor], patient: torch.Tensor, trial: torch.Tensor) -> torch.Tensor:
    p, t = levels.id_contrasts(z[0], z[1], [patient, trial], 0.1, "official")
    s, o = levels.hierarchical_levels(z[2], z[3])
    return p + t + s + o


def _official_total(
    official: ModuleType, z: list[torch.Tensor], patient: torch.Tensor, trial: torch.Tensor
) -> torch.Tensor:
    loss = official.patient_contrastive_loss(z[0], z[1], patient)
    loss = loss + official.trial_contrastive_loss(z[0], z[1], trial)
    for level in (official.sample_contrastive_loss, official.observation_contrastive_loss):
        loss = loss + official.contrastive_loss(z[2], z[3], level, hierarchical=True)
    return loss


def _backward(z: list[torch.Tensor], total: Callable[[], torch.Tensor]) -> None:
    for v in z:
        v.grad = None
    total().backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lengths", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--official", type=Path, help="a DL4mHealth/COMET checkout (optional)")
    args = parser.parse_args()

    load_before = os.getloadavg()
    steps = step_rows(args.batch, args.lengths, args.rounds)
    losses = (
        official_rows(args.official, args.batch, args.lengths, args.rounds) if args.official else []
    )
    load_after = os.getloadavg()
    report = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), torch "
        f"{torch.__version__}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
        "load_average_before": load_before,
        "load_average_after": load_after,
        "rounds": args.rounds,
        "steps": steps,
        "official_level_losses": losses,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(
        "\n| T | COMET step CPU / wall (s) | sample step CPU / wall (s) | ratio CPU | ratio wall "
        "| encoder passes only: COMET / sample CPU (s) | floor ratio CPU | floor ratio wall |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in steps:
        print(
            f"| {r['length']} | {r['comet_cpu_s']:.3f} / {r['comet_wall_s']:.3f} | "
            f"{r['sample_cpu_s']:.3f} / {r['sample_wall_s']:.3f} | {r['cpu_ratio']:.2f} | "
            f"{r['wall_ratio']:.2f} | {r['comet_encoder_cpu_s']:.3f} / "
            f"{r['sample_encoder_cpu_s']:.3f} | {r['encoder_cpu_ratio']:.2f} | "
            f"{r['encoder_wall_ratio']:.2f} |"
        )
    if losses:
        print(
            "\n| T | ours CPU / wall (s) | official CPU / wall (s) | ratio CPU | ratio wall |",
            end="",
        )
        print(" abs. difference |")
        print("|---|---|---|---|---|---|")
        for r in losses:
            print(
                f"| {r['length']} | {r['ours_cpu_s']:.3f} / {r['ours_wall_s']:.3f} | "
                f"{r['official_cpu_s']:.3f} / {r['official_wall_s']:.3f} | {r['cpu_ratio']:.2f} | "
                f"{r['wall_ratio']:.2f} | {r['abs_difference']:.1e} |"
            )
    print(f"\nload average (1, 5, 15 min): before {load_before}, after {load_after}")


if __name__ == "__main__":
    main()
