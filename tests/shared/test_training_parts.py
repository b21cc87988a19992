"""The trainer's parts: the learning-rate schedule against its closed form, the after-step hook,
history kept through kills and resumes, the kept previous checkpoint, progress lines."""

import csv
import logging
import math
import warnings

import pytest
import torch

from shared.training import (
    Trainer,
    TrainerConfig,
    load_checkpoint,
    lr_factor,
    make_scheduler,
    seed_everything,
)
from shared.training.checkpoint import previous_path
from shared.training.progress import EpochProgress, format_duration
from tests.shared.test_training import TinyContrast, config, epoch_losses, make_loader


@pytest.mark.parametrize(("warmup", "total"), [(0, 10), (3, 10), (2, 3), (5, 5)])
def test_lr_factor_is_linear_warmup_then_half_cosine(warmup, total):
    for epoch in range(total + 2):
        if epoch < warmup:
            expected = (epoch + 1) / (warmup + 1)
        else:
            t = min(1.0, (epoch - warmup) / max(1, total - warmup))
            expected = 0.5 * (1 + math.cos(math.pi * t))
        assert lr_factor(epoch, warmup=warmup, total=total) == pytest.approx(expected, abs=1e-15)
    assert lr_factor(warmup, warmup=warmup, total=total) == 1.0  # the peak is the base lr
    if warmup < total:  # decays to 0 at the last epoch
        assert lr_factor(total, warmup=warmup, total=total) == pytest.approx(0.0, abs=1e-15)


def test_trainer_applies_the_schedule_per_epoch(tmp_path):
    result = Trainer(
        config(tmp_path, epochs=6, lr=0.5, scheduler="cosine", warmup_epochs=2), TinyContrast()
    ).fit(make_loader())
    lrs = [row["lr"] for row in result.history]
    assert lrs == pytest.approx([0.5 * lr_factor(e, warmup=2, total=6) for e in range(6)])
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    assert make_scheduler(TrainerConfig(scheduler="none"), opt) is None


def test_after_step_hook_runs_once_per_optimiser_step_without_grad_warnings(tmp_path):
    class Counting(TinyContrast):
        def __init__(self):
            super().__init__()
            self.steps: list[int] = []

        def on_after_optimizer_step(self, index: int) -> None:
            self.steps.append(index)

    method = Counting()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. float() of a tensor that requires grad
        Trainer(config(tmp_path, epochs=2), method).fit(make_loader())
    assert method.steps == [0] * 12


class Killed(Exception):
    pass


def test_a_kill_right_after_resume_keeps_the_history(tmp_path):
    Trainer(config(tmp_path, epochs=3), TinyContrast()).fit(make_loader())
    before = (tmp_path / "metrics.csv").read_text()

    class DiesAtOnce(TinyContrast):
        def training_step(self, batch):
            raise Killed

    with pytest.raises(Killed):
        Trainer(config(tmp_path, epochs=5, resume=True), DiesAtOnce()).fit(make_loader())
    assert (tmp_path / "metrics.csv").read_text() == before
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert {r["epoch"] for r in rows} == {"1", "2", "3"}


def test_a_corrupt_last_checkpoint_falls_back_to_the_previous_one(tmp_path, caplog):
    seed_everything(0)
    full = Trainer(config(tmp_path / "full", epochs=5), TinyContrast()).fit(make_loader())
    run = tmp_path / "run"
    seed_everything(0)
    Trainer(config(run, epochs=3), TinyContrast()).fit(make_loader())
    last = run / "last.pt"
    assert load_checkpoint(previous_path(last))["epoch"] == 2
    last.write_bytes(last.read_bytes()[:100])
    (run / ".last.pt-orphan.tmp").write_bytes(b"half a checkpoint")
    with caplog.at_level(logging.WARNING, logger="contrast"):
        resumed = Trainer(config(run, epochs=5, resume=True), TinyContrast()).fit(make_loader())
    assert "resuming from the previous checkpoint" in caplog.text
    assert epoch_losses(resumed) == epoch_losses(full)  # epoch 3 re-run from epoch 2's state
    assert not (run / ".last.pt-orphan.tmp").exists()


def test_progress_logs_a_line_with_eta_when_not_a_terminal(caplog):
    bar = EpochProgress(range(4), desc="epoch 1/2", enabled=True, terminal=False, log_every_s=0.0)
    with caplog.at_level(logging.INFO, logger="contrast"):
        for _ in bar:
            bar.set_values(loss=1.25)
    assert "epoch 1/2  batch 2/4 (50%)" in caplog.text and "ETA" in caplog.text
    assert "loss 1.25" in caplog.text
    assert format_duration(3725) == "1:02:05" and format_duration(65) == "01:05"
    silent = EpochProgress(range(3), desc="x", enabled=False)
    assert list(silent) == [0, 1, 2]
