"""Training cost per epoch on Amazon Beauty: SASRec, CL4SRec, MCLRec (meta and joint).

Every method uses its config in ``configs/recsys`` (official hyper-parameters: batch 256, hidden 64,
2 layers, max length 50, dropout 0.5). The same ``--batches`` training batches (with their two
crop/mask/reorder views) are replayed for every method after ``--warmup`` batches; the time per
batch (median over the timed batches) times the number of batches in an epoch (131,413 training
prefixes / 256 = 514) is the projected epoch time. Building a batch (histories + views) is timed
separately; the trainer's validation pass (full ranking of 22,363 users over 12,101 items) too.

``mclrec_three_pass`` is MCLRec's reference schedule (github.com/QinHsiu/MCLRec,
``recbole/trainer/trainer.py``): three encoder forward + backward passes per batch, the middle one
(augmenter step) also back-propagating into the encoder. ``mclrec`` is this library's schedule:
two passes, the second serving both the augmenter and the final encoder step (same updates with
dropout off; see ``recsys_cl.mclrec``).

    python benchmarks/bench_recsys.py --data-dir ../shared/data/recsys --batches 20 --threads 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recsys_cl.batches import SequenceBatches  # noqa: E402
from recsys_cl.config import RecsysExperiment, mclrec_config  # noqa: E402
from recsys_cl.data_io import load_txt  # noqa: E402
from recsys_cl.evaluation import evaluate_ranking  # noqa: E402
from recsys_cl.mclrec import MCLRec  # noqa: E402
from recsys_cl.splits import leave_one_out  # noqa: E402
from shared.config import load_config  # noqa: E402
from shared.evaluation import markdown_table  # noqa: E402

METHODS = {  # name -> (config, encoder passes per batch)
    "sasrec": ("sasrec_beauty.yaml", 1),
    "cl4srec": ("cl4srec_beauty.yaml", 1),
    "mclrec_three_pass": ("mclrec_beauty.yaml", 3),
    "mclrec": ("mclrec_beauty.yaml", 2),
    "mclrec_j": ("mclrec_j_beauty.yaml", 1),
}


def three_pass_step(model: MCLRec, batch: dict, optimizers: list[torch.optim.Optimizer]) -> None:
    """The reference schedule: encoder step, augmenter step, encoder step, each from scratch."""
    for index in (0, 1, 0):
        for p in model.augmenters.parameters():
            p.requires_grad_(index == 1)
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        if index == 0:
            loss = model.total_loss(model.losses(batch))
        else:
            _, h1, h2 = model.encode(batch)
            loss = model.augmenter_objective(h1, h2)
        loss.backward()
        optimizers[index].step()
    for p in model.augmenters.parameters():
        p.requires_grad_(True)


def time_method(name: str, batches: list[dict], n_items: int, warmup: int) -> list[float]:
    config, _ = METHODS[name]
    exp = load_config(RecsysExperiment, ROOT / "configs" / "recsys" / config)
    torch.manual_seed(exp.trainer.seed)
    model = MCLRec(n_items, exp.model, mclrec_config(exp)).train()
    optimizers = model.configure_optimizers(exp.trainer)

    def optimize(loss: torch.Tensor, index: int = 0) -> None:
        optimizers[index].zero_grad(set_to_none=True)
        loss.backward()
        optimizers[index].step()

    times = []
    for i, batch in enumerate(batches):
        start = time.perf_counter()
        if name == "mclrec_three_pass":
            three_pass_step(model, batch, optimizers)
        else:
            model.training_step(batch, optimize)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data" / "recsys")
    parser.add_argument("--batches", type=int, default=20, help="timed batches per method")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--skip-eval", action="store_true", help="do not time the validation pass")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "recsys.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_txt(args.data_dir / "Beauty.txt")
    split = leave_one_out(data, 50)
    exp = load_config(RecsysExperiment, ROOT / "configs" / "recsys" / "mclrec_beauty.yaml")
    loader = SequenceBatches(split.train, exp.batch_size, augmenter=exp.augment, seed=0)
    n_batches = len(loader)
    iterator = iter(loader)
    start = time.perf_counter()
    batches = [next(iterator) for _ in range(args.warmup + args.batches)]
    data_s = (time.perf_counter() - start) / len(batches)

    rows, results = [], {}
    for name in args.methods:
        times = time_method(name, batches, split.n_items, args.warmup)
        per_batch = statistics.median(times)
        results[name] = {
            "encoder_passes_per_batch": METHODS[name][1],
            "seconds_per_batch_median": per_batch,
            "seconds_per_batch_all": times,
            "projected_epoch_seconds": per_batch * n_batches,
        }
        rows.append(
            {
                "method": name,
                "passes": METHODS[name][1],
                "s/batch": f"{per_batch:.3f}",
                "epoch (min)": f"{per_batch * n_batches / 60:.1f}",
            }
        )
        print(f"{name}: {per_batch:.3f} s/batch", flush=True)
    if "mclrec" in results and "mclrec_three_pass" in results:
        ratio = (
            results["mclrec"]["seconds_per_batch_median"]
            / results["mclrec_three_pass"]["seconds_per_batch_median"]
        )
        results["mclrec_vs_three_pass"] = ratio

    validation_s = None
    if not args.skip_eval:
        torch.manual_seed(0)
        model = MCLRec(split.n_items, exp.model, mclrec_config(exp))
        start = time.perf_counter()
        evaluate_ranking(model, split.valid, batch_size=exp.eval.batch_size)
        validation_s = time.perf_counter() - start

    report = {
        "benchmark": "recsys epoch cost, Amazon Beauty",
        "date": dt.date.today().isoformat(),
        "machine": "2-core CPU",
        "platform": platform.platform(),
        "torch": torch.__version__,
        "threads": args.threads,
        "batch_size": exp.batch_size,
        "batches_per_epoch": n_batches,
        "timed_batches": args.batches,
        "batch_building_seconds": data_s,
        "validation_ranking_seconds": validation_s,
        "methods": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(markdown_table(rows, ["method", "passes", "s/batch", "epoch (min)"]))
    print(
        f"\nbatch building {data_s:.3f} s/batch; validation ranking "
        f"{validation_s if validation_s is None else round(validation_s, 1)} s; wrote {args.out}"
    )


if __name__ == "__main__":
    main()
