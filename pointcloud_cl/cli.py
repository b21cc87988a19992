"""``contrast pointcloud``: make-synthetic, pretrain (PRC / SLidR / CALICO), pretrain-image
(SLidR's image teacher), finetune, evaluate, summarize, demo.

    contrast pointcloud make-synthetic --out runs/pointcloud/synthetic_nuscenes
    contrast pointcloud pretrain-image --config configs/pointcloud/image_synthetic.yaml
    contrast pointcloud pretrain --config configs/pointcloud/calico_synthetic.yaml
    contrast pointcloud finetune --config configs/pointcloud/finetune_synthetic.yaml \\
        finetune.pretrained=runs/pointcloud/calico/pretrained.pt finetune.use_camera=true \\
        trainer.out_dir=runs/pointcloud/ft_calico
    contrast pointcloud evaluate --config configs/pointcloud/finetune_synthetic.yaml \\
        --checkpoint runs/pointcloud/ft_calico/labels0.1_seed0/last.pt finetune.use_camera=true
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from shared.domain import (
    DemoRow,
    Domain,
    add_config_command,
    add_evaluate_command,
    add_summarize_command,
    default_checkpoint,
    load_experiment,
)


def _make_synthetic(args: argparse.Namespace) -> int:
    from pointcloud_cl.synthetic import SyntheticConfig, make_synthetic_nuscenes

    cfg = SyntheticConfig(
        samples_per_scene=args.samples_per_scene,
        image_height=args.image_height,
        image_width=args.image_width,
        seed=args.seed,
    )
    root = make_synthetic_nuscenes(args.out, cfg)
    print(
        f"wrote a synthetic nuScenes v1.0-mini set (10 scenes x {cfg.samples_per_scene} samples) "
        f"to {root}"
    )
    return 0


def _pretrain(args: argparse.Namespace) -> int:
    from pointcloud_cl.config import PointcloudExperiment
    from pointcloud_cl.experiment import run

    run(load_experiment(PointcloudExperiment, args))
    return 0


def _pretrain_image(args: argparse.Namespace) -> int:
    from pointcloud_cl.config import PointcloudExperiment
    from pointcloud_cl.image_pretrain import pretrain_image

    pretrain_image(load_experiment(PointcloudExperiment, args))
    return 0


def _finetune(args: argparse.Namespace) -> int:
    from pointcloud_cl.config import PointcloudExperiment
    from pointcloud_cl.experiment import finetune

    summary = finetune(load_experiment(PointcloudExperiment, args))
    for fraction, metrics in summary.items():
        shown = "  ".join(
            f"{k} {m:.4f}±{s:.4f}" for k, (m, s) in metrics.items() if k in ("mIoU", "mAP", "NDS")
        )
        print(f"labels {fraction}: {shown}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from pointcloud_cl.config import PointcloudExperiment
    from pointcloud_cl.experiment import evaluate_checkpoint
    from shared.run_report import format_final_table

    exp = load_experiment(PointcloudExperiment, args)
    checkpoint = args.checkpoint or default_checkpoint(exp.trainer.out_dir)
    metrics = evaluate_checkpoint(exp, checkpoint)
    print(format_final_table(f"fine-tuned {checkpoint}", metrics, checkpoint.parent))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    make = sub.add_parser("make-synthetic", help="write the synthetic nuScenes-format data set")
    make.add_argument(
        "--out", type=Path, required=True, help="dataroot to create (tables in OUT/v1.0-mini)"
    )
    make.add_argument("--samples-per-scene", type=int, default=13)
    make.add_argument("--image-height", type=int, default=128)
    make.add_argument("--image-width", type=int, default=224)
    make.add_argument("--seed", type=int, default=0)
    make.set_defaults(func=_make_synthetic)

    add_config_command(
        sub, "pretrain", "self-supervised pretraining: method=prc | slidr | calico", _pretrain
    )
    add_config_command(
        sub,
        "pretrain-image",
        "SimCLR on the camera images: SLidR's image teacher (slidr.image_teacher=...)",
        _pretrain_image,
    )
    add_config_command(
        sub, "finetune", "BEV segmentation + detection fine-tuning at label fractions", _finetune
    )
    add_evaluate_command(
        sub, "BEV mIoU and devkit NDS / mAP of a fine-tuned checkpoint on the val split", _evaluate
    )
    add_summarize_command(sub)


def demo(out_dir: Path) -> list[DemoRow]:
    """PRC pretraining, then 50%-label fine-tuning vs random init (the reference a pretrained
    init must beat), on a tiny synthetic set."""
    from pointcloud_cl.config import PointcloudExperiment
    from pointcloud_cl.experiment import finetune, run
    from shared.config import load_config

    overrides = [
        f"data.root={out_dir / 'synthetic_nuscenes'}",
        "data.synthetic.samples_per_scene=2",
        "data.synthetic.image_height=64",
        "data.synthetic.image_width=112",
        "model.base_channels=8",
        "model.neck_channels=32",
        "method=prc",
        "trainer.epochs=2",
        f"trainer.out_dir={out_dir / 'prc'}",
        "finetune.label_fractions=[0.5]",
        "finetune.seeds=[0]",
        "finetune.steps=30",
    ]
    exp = load_config(PointcloudExperiment, None, overrides)
    weights = run(exp)
    rows: list[DemoRow] = []
    random_init: dict[str, float] = {}
    for init, pretrained in (("random init", ""), ("PRC", str(weights))):
        stage = replace(
            exp,
            finetune=replace(exp.finetune, pretrained=pretrained),
            trainer=replace(
                exp.trainer, out_dir=str(out_dir / f"finetune_{init.split()[0].lower()}")
            ),
        )
        metrics = finetune(stage)["0.5"]
        for key, label in (("mIoU", "BEV seg mIoU"), ("NDS", "detection NDS")):
            value = metrics[key][0]
            if pretrained:
                reference = f"> random init {random_init[key]:.3f}"
            else:
                random_init[key] = value
                reference = "the reference to beat"
            rows.append(DemoRow("pointcloud", init, f"{label} (50% labels)", value, reference))
    return rows


def domain() -> Domain:
    return Domain(
        name="pointcloud",
        help="LiDAR + camera BEV pretraining (CALICO: PRC + RAD; SLidR) on nuScenes-format data",
        add_commands=add_commands,
        demo=demo,
    )
