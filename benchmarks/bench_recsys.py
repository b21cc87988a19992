"""Training cost per batch and epoch on Amazon Beauty: SASRec, CL4SRec, MCLRec (meta and joint),
and RecBole's SASRec, alternated in one process.

Every method of this library uses its config in ``configs/recsys`` (official hyper-parameters:
batch 256, hidden 64, 2 layers, max length 50, dropout 0.5). The same training batches (with
their two crop/mask/reorder views) are replayed for every method, round robin: batch i of every
method, then batch i + 1, so load drift on a shared machine hits every method alike. After
``--warmup`` rounds, ``--batches`` rounds are timed in wall-clock and CPU seconds
(``time.process_time``); the table gives the medians, their ratios to SASRec's in both clocks,
and the projected epoch (median CPU time per batch x batches per epoch: 131,413 training prefixes
/ 256 = 514). The load average before and after is recorded. Building a batch (histories + views)
and the trainer's validation pass (full ranking of 22,363 users over 12,101 items) are timed
separately.

``mclrec_three_pass`` is MCLRec's reference schedule (github.com/QinHsiu/MCLRec,
``recbole/trainer/trainer.py``): three encoder forward + backward passes per batch, the middle one
(augmenter step) also back-propagating into the encoder. ``mclrec`` is this library's schedule:
two passes, the second serving both the augmenter and the final encoder step (same updates with
dropout off; see ``recsys_cl.mclrec``).

``recbole_sasrec`` is RecBole 1.2.1's SASRec on the same file (converted to its atomic format in a
temporary folder) with the same hyper-parameters, when RecBole is installed (``make bench-env``
puts it in ``.venv-bench``); its own batches, same size.

    python benchmarks/bench_recsys.py --batches 10 --warmup 2
    python benchmarks/bench_recsys.py --out benchmarks/results/recsys.json  # update the record

The table is printed; ``--out`` writes the JSON (the committed results change only when named).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from recsys_cl.batches import SequenceBatches  # noqa: E402
from recsys_cl.config import RecsysExperiment, mclrec_config  # noqa: E402
from recsys_cl.data_io import load_txt  # noqa: E402
from recsys_cl.dataset import InteractionSequences  # noqa: E402
from recsys_cl.evaluation import evaluate_ranking  # noqa: E402
from recsys_cl.mclrec import MCLRec  # noqa: E402
from recsys_cl.splits import leave_one_out  # noqa: E402
from shared.config import load_config  # noqa: E402
from shared.evaluation import markdown_table  # noqa: E402

METHODS = {  # name -> config
    "sasrec": "sasrec_beauty.yaml",
    "cl4srec": "cl4srec_beauty.yaml",
    "mclrec_three_pass": "mclrec_beauty.yaml",
    "mclrec": "mclrec_beauty.yaml",
    "mclrec_j": "mclrec_j_beauty.yaml",
}
PASSES = {  # encoder forward + backward passes per batch
    "sasrec": 1,
    "cl4srec": 1,
    "mclrec_three_pass": 3,
    "mclrec": 2,
    "mclrec_j": 1,
    "recbole_sasrec": 1,
}


def default_data_dir() -> Path:
    """``$CONTRAST_DATA/recsys``, else ``../shared/data/recsys`` beside the repository."""
    root = os.environ.get("CONTRAST_DATA")
    return Path(root) / "recsys" if root else ROOT.parent / "shared" / "data" / "recsys"


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


Step = Callable[[int], None]


def ours(name: str, batches: list[dict], n_items: int) -> Step:
    """One training batch of this library's ``name`` (its config), on ``batches[i]``."""
    exp = load_config(RecsysExperiment, ROOT / "configs" / "recsys" / METHODS[name])
    torch.manual_seed(exp.trainer.seed)
    model = MCLRec(n_items, exp.model, mclrec_config(exp)).train()
    optimizers = model.configure_optimizers(exp.trainer)

    def optimize(loss: torch.Tensor, index: int = 0) -> None:
        optimizers[index].zero_grad(set_to_none=True)
        loss.backward()
        optimizers[index].step()

    def step(i: int) -> None:
        if name == "mclrec_three_pass":
            three_pass_step(model, batches[i], optimizers)
        else:
            model.training_step(batches[i], optimize)

    return step


def write_atomic_inter(data: InteractionSequences, folder: Path) -> None:
    """``Beauty.txt`` as RecBole's atomic ``.inter`` file (the position in a history as time)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{folder.name}.inter").open("w") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for user, items in enumerate(data.sequences):
            f.writelines(f"{user}\t{item}\t{t}\n" for t, item in enumerate(items))


def recbole_sasrec(data: InteractionSequences, workdir: Path, n_batches: int) -> tuple[Step, dict]:
    """RecBole 1.2.1's SASRec with the same hyper-parameters as ``sasrec_beauty.yaml`` (CE loss
    over all items, leave-one-out, every training prefix a sample, batches of 256, Adam 1e-3),
    one training batch per call, timed like RecBole's ``Trainer._train_epoch`` minus logging.
    Its ``quick_start`` imports ray, so the run is built from its parts."""
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import get_model, init_seed

    write_atomic_inter(data, workdir / "Beauty")
    warnings.filterwarnings("ignore", category=FutureWarning, module="recbole")
    argv, sys.argv = sys.argv, sys.argv[:1]  # RecBole's Config also reads --key=value from argv
    config = Config(
        model="SASRec",
        dataset="Beauty",
        config_dict={
            "data_path": str(workdir),
            "checkpoint_dir": str(workdir / "saved"),
            "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
            "MAX_ITEM_LIST_LENGTH": 50,
            "train_batch_size": 256,
            "eval_args": {"split": {"LS": "valid_and_test"}, "order": "TO", "mode": "full"},
            "train_neg_sample_args": None,
            "loss_type": "CE",
            "hidden_size": 64,
            "inner_size": 256,
            "n_layers": 2,
            "n_heads": 2,
            "hidden_dropout_prob": 0.5,
            "attn_dropout_prob": 0.5,
            "learning_rate": 0.001,
            "seed": 2020,
            "use_gpu": False,
            "device": "cpu",
            "show_progress": False,
        },
    )
    sys.argv = argv
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    model = get_model(config["model"])(config, train_data.dataset).train()
    opt = torch.optim.Adam(model.parameters(), lr=config["learning_rate"])
    iterator = iter(train_data)
    start = time.perf_counter()
    batches = [next(iterator) for _ in range(n_batches)]
    info = {
        "training_samples": len(train_data.dataset),
        "batches_per_epoch": len(train_data),
        "batch_building_seconds": (time.perf_counter() - start) / n_batches,
    }

    def step(i: int) -> None:
        opt.zero_grad()
        model.calculate_loss(batches[i]).backward()
        opt.step()

    return step, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=default_data_dir())
    parser.add_argument("--batches", type=int, default=10, help="timed batches per method")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--no-recbole", action="store_true", help="skip RecBole's SASRec")
    parser.add_argument("--skip-eval", action="store_true", help="do not time the validation pass")
    parser.add_argument("--out", type=Path, help="write the JSON here (default: print only)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    data = load_txt(args.data_dir / "Beauty.txt")
    split = leave_one_out(data, 50)
    exp = load_config(RecsysExperiment, ROOT / "configs" / "recsys" / "mclrec_beauty.yaml")
    loader = SequenceBatches(split.train, exp.batch_size, augmenter=exp.augment, seed=0)
    n_batches = len(loader)
    n_steps = args.warmup + args.batches
    iterator = iter(loader)
    start = time.perf_counter()
    batches = [next(iterator) for _ in range(n_steps)]
    data_s = (time.perf_counter() - start) / len(batches)

    steps: dict[str, Step] = {name: ours(name, batches, split.n_items) for name in args.methods}
    epoch_batches = dict.fromkeys(args.methods, n_batches)
    recbole_info = None
    if args.no_recbole:
        print("skip recbole_sasrec: --no-recbole")
    elif importlib.util.find_spec("recbole") is None:
        print("skip recbole_sasrec: RecBole is not installed here (make bench-env)")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            steps["recbole_sasrec"], recbole_info = recbole_sasrec(data, Path(tmp), n_steps)
        epoch_batches["recbole_sasrec"] = recbole_info["batches_per_epoch"]
        torch.set_num_threads(args.threads)

    load_before = os.getloadavg()
    wall: dict[str, list[float]] = {name: [] for name in steps}
    cpu: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(n_steps):  # round robin: batch i of every method, then batch i + 1
        for name, step in steps.items():
            w, c = time.perf_counter(), time.process_time()
            step(i)
            if i >= args.warmup:
                wall[name].append(time.perf_counter() - w)
                cpu[name].append(time.process_time() - c)
    load_after = os.getloadavg()

    reference = "sasrec" if "sasrec" in steps else next(iter(steps))
    ref_wall, ref_cpu = statistics.median(wall[reference]), statistics.median(cpu[reference])
    results, rows = {}, []
    for name in steps:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        results[name] = {
            "encoder_passes_per_batch": PASSES[name],
            "wall_seconds_per_batch_median": w,
            "cpu_seconds_per_batch_median": c,
            "wall_seconds_per_batch_all": wall[name],
            "cpu_seconds_per_batch_all": cpu[name],
            "batches_per_epoch": epoch_batches[name],
            "projected_epoch_cpu_seconds": c * epoch_batches[name],
            "wall_vs_reference": w / ref_wall,
            "cpu_vs_reference": c / ref_cpu,
        }
        rows.append(
            {
                "method": name,
                "passes": PASSES[name],
                "s/batch wall": f"{w:.3f}",
                "s/batch CPU": f"{c:.3f}",
                f"wall / {reference}": f"{w / ref_wall:.2f}",
                f"CPU / {reference}": f"{c / ref_cpu:.2f}",
                "epoch CPU (min)": f"{c * epoch_batches[name] / 60:.1f}",
            }
        )

    validation_s = None
    if not args.skip_eval:
        torch.manual_seed(0)
        model = MCLRec(split.n_items, exp.model, mclrec_config(exp))
        start = time.perf_counter()
        evaluate_ranking(model, split.valid, batch_size=exp.eval.batch_size)
        validation_s = time.perf_counter() - start

    print(f"\nload average before {load_before}, after {load_after}; {args.threads} thread(s)")
    print(markdown_table(rows, list(rows[0])))
    print(
        f"\nbatch building {data_s:.4f} s/batch; validation ranking "
        f"{validation_s if validation_s is None else round(validation_s, 1)} s"
    )
    if args.out:
        report = {
            "benchmark": "recsys training batch cost, Amazon Beauty, methods alternated",
            "date": dt.date.today().isoformat(),
            "machine": "2-core CPU, shared",
            "platform": platform.platform(),
            "torch": torch.__version__,
            "threads": args.threads,
            "batch_size": exp.batch_size,
            "timed_batches": args.batches,
            "warmup_batches": args.warmup,
            "load_before": load_before,
            "load_after": load_after,
            "reference": reference,
            "batch_building_seconds": data_s,
            "validation_ranking_seconds": validation_s,
            "recbole": recbole_info,
            "methods": results,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
