"""COMET pretraining throughput (samples/s) and peak memory on this CPU, next to the sample-level
baseline, on UCI-EEG-shaped batches (61 channels) with the paper's encoder (64 hidden, 10 blocks,
320 output). Each case runs in its own process, so its peak resident memory (``ru_maxrss``) is its
own; the peak covers the model, the batch, activations and the optimiser state.

A step is one ``training_step`` through the trainer's manual-optimisation path: forward of every
view, the loss, backward, AdamW step and the weight-average update. Reported: the median time of
``--steps`` steps after one warm-up step, samples/s = batch / median step time, and a split of
a COMET step into its four encoder passes vs its four level losses (median over ``--steps``
repetitions of the forward + backward of each part, without the optimiser step).
Prints a markdown table and writes ``benchmarks/results/timeseries.json``.

    OMP_NUM_THREADS=1 python benchmarks/bench_timeseries.py
    OMP_NUM_THREADS=1 python benchmarks/bench_timeseries.py --lengths 32 --steps 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import resource
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "timeseries.json"
CHANNELS = 61


def _run_case(method_name: str, batch: int, length: int, steps: int, queue: mp.Queue) -> None:
    import torch

    from timeseries_cl import levels
    from timeseries_cl.comet import COMET, SampleContrast

    torch.manual_seed(0)
    cls = COMET if method_name == "comet" else SampleContrast
    method = cls(CHANNELS)
    optimizer = torch.optim.AdamW(method.encoder.parameters(), lr=1e-3)

    def step(data: dict[str, torch.Tensor]) -> None:
        loss = method.training_step(data)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        method.on_after_optimizer_step(0)

    data = {
        "x": torch.randn(batch, length, CHANNELS),
        "patient": torch.arange(batch) // 12,  # 4 trials x 3 windows per patient chunk
        "trial": torch.arange(batch) // 3,
    }
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        step(data)
        times.append(time.perf_counter() - start)
    median = statistics.median(times[1:])
    result = {
        "method": method_name, "batch": batch, "length": length, "channels": CHANNELS,
        "step_s": median, "samples_per_s": batch / median,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if method_name == "comet":
        encoder_times, loss_times = [], []
        for _ in range(steps):
            start = time.perf_counter()
            views = [method.encoder(data["x"], m) for m in ("all_true",) * 2 + ("continuous",) * 2]
            sum(v.sum() for v in views).backward()
            encoder_times.append(time.perf_counter() - start)
            z = [v.detach().requires_grad_(True) for v in views]
            start = time.perf_counter()
            loss = (
                levels.id_contrast(z[0], z[1], data["patient"])
                + levels.id_contrast(z[0], z[1], data["trial"])
                + levels.hierarchical(levels.sample_contrast, z[2], z[3])
                + levels.hierarchical(levels.observation_contrast, z[2], z[3])
            )
            loss.backward()
            loss_times.append(time.perf_counter() - start)
        result.update(
            encoder_passes_s=statistics.median(encoder_times),
            level_losses_s=statistics.median(loss_times),
        )
    queue.put(result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lengths", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()

    ctx = mp.get_context("spawn")
    rows = []
    for length in args.lengths:
        for method_name in ("comet", "sample"):
            queue = ctx.Queue()
            proc = ctx.Process(
                target=_run_case, args=(method_name, args.batch, length, args.steps, queue)
            )
            proc.start()
            rows.append(queue.get())
            proc.join()
    report = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared), "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}",
        "load_average_1min": os.getloadavg()[0],
        "rows": rows,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print("| method | batch | T | step (s) | samples/s | peak RSS (MB) | encoder / losses (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        split = (
            f"{r['encoder_passes_s']:.2f} / {r['level_losses_s']:.2f}" if "encoder_passes_s" in r
            else "-"
        )
        print(
            f"| {r['method']} | {r['batch']} | {r['length']} | {r['step_s']:.2f} | "
            f"{r['samples_per_s']:.1f} | {r['peak_rss_mb']:.0f} | {split} |"
        )
    print(f"\nload average (1 min) at the end: {report['load_average_1min']:.1f}")


if __name__ == "__main__":
    main()
