"""A run SIGKILLed at any moment resumes exactly and loses no history.

A child process trains a small contrastive MLP (dropout, so the RNG state matters) with a cosine
schedule for 5 epochs of 6 steps; it is killed with SIGKILL mid-epoch, in the middle of writing a
checkpoint, and right after a resume, and restarted with ``trainer.resume`` each time. The
metrics.csv rows (epoch, step, split, name, value: losses and learning rates) and the final
weights must equal those of an uninterrupted run exactly.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    sys.path.insert(0, {root!r})
    from shared.training import Trainer, TrainerConfig, seed_everything
    from shared.training import checkpoint as ckpt
    from tests.shared.test_training import TinyContrast, make_loader

    out_dir, kill_step, kill_in_save = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
    resume = (os.path.exists(os.path.join(out_dir, "last.pt")))

    class Killable(TinyContrast):
        steps = 0

        def training_step(self, batch):
            Killable.steps += 1
            if Killable.steps == kill_step:
                os.kill(os.getpid(), signal.SIGKILL)
            return super().training_step(batch)

    if kill_in_save:
        real_save = torch.save

        def half_save(state, fh, *args, **kwargs):
            real_save(state, fh, *args, **kwargs)
            fh.truncate(fh.tell() // 2)  # a torn write into the temp file
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        ckpt.torch.save = half_save

    torch.set_num_threads(1)
    seed_everything(0)
    cfg = TrainerConfig(epochs=5, lr=1e-2, scheduler="cosine", warmup_epochs=1, out_dir=out_dir,
                        progress=False, tensorboard=False, log_every=1, resume=resume)
    Trainer(cfg, Killable()).fit(make_loader())
    """
).format(root=str(ROOT))


def run_child(script: Path, out_dir: Path, kill_step: int = 0, kill_in_save: bool = False) -> int:
    proc = subprocess.run(
        [sys.executable, str(script), str(out_dir), str(kill_step), "1" if kill_in_save else "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    if proc.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(proc.stderr)
    return proc.returncode


def rows(out_dir: Path) -> list[dict[str, str]]:
    with (out_dir / "metrics.csv").open(newline="") as fh:
        return [
            r
            for r in csv.DictReader(fh)
            if r["name"] != "epoch_time_s" and "per_s" not in r["name"]
        ]


def test_sigkill_mid_epoch_mid_checkpoint_and_after_resume_loses_nothing(tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    full = tmp_path / "full"
    assert run_child(script, full) == 0

    run = tmp_path / "killed"
    assert run_child(script, run, kill_step=9) == -signal.SIGKILL  # mid-epoch 2
    assert [r["epoch"] for r in rows(run) if r["split"] == "epoch"][-1] == "1"
    assert run_child(script, run, kill_in_save=True) == -signal.SIGKILL  # torn write of epoch 2
    assert list(run.glob(".last.pt-*.tmp"))  # the orphan the kill left
    assert run_child(script, run, kill_step=1) == -signal.SIGKILL  # right after the resume
    assert (run / "metrics.csv").stat().st_size > 0
    assert run_child(script, run) == 0

    assert rows(run) == rows(full)
    final, reference = (torch.load(d / "last.pt", weights_only=True)["model"] for d in (run, full))
    for name, value in reference.items():
        assert torch.equal(final[name], value), name
    assert not list(run.glob(".*.tmp"))
