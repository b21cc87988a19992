import csv

import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from shared.losses import info_nce
from shared.training import (
    Trainer,
    TrainerConfig,
    batch_size_of,
    load_checkpoint,
    move_to_device,
    save_checkpoint_atomic,
    seed_everything,
)


class TinyContrast(nn.Module):
    """A small method with dropout (uses the RNG) so exact resume is a real check."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 8))

    def training_step(self, batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        x = batch[0]
        z1 = self.net(x + 0.1 * torch.randn_like(x))
        z2 = self.net(x + 0.1 * torch.randn_like(x))
        loss = info_nce(z1, z2, 0.5)
        return {"loss": loss, "norm": z1.norm(dim=1).mean()}

    def embed(self, x: Tensor) -> Tensor:
        return self.net(x)


def make_loader(seed: int = 0) -> DataLoader:
    x = torch.randn(96, 6, generator=torch.Generator().manual_seed(seed))
    return DataLoader(TensorDataset(x), batch_size=16, shuffle=True)


def config(tmp_path, **kw) -> TrainerConfig:
    base = dict(
        epochs=4, lr=1e-2, out_dir=str(tmp_path), progress=False, tensorboard=False, log_every=1
    )
    base.update(kw)
    return TrainerConfig(**base)


def epoch_losses(result) -> list[float]:
    return [row["loss"] for row in result.history]


def test_same_seed_gives_bit_identical_runs(tmp_path):
    seed_everything(0)
    r1 = Trainer(config(tmp_path / "a"), TinyContrast()).fit(make_loader())
    seed_everything(0)
    r2 = Trainer(config(tmp_path / "b"), TinyContrast()).fit(make_loader())
    assert epoch_losses(r1) == epoch_losses(r2)
    assert epoch_losses(r1)[-1] < epoch_losses(r1)[0]


class Killed(Exception):
    pass


def test_resume_continues_the_identical_loss_curve(tmp_path):
    def cfg(out, **kw):
        return config(out, epochs=6, scheduler="cosine", warmup_epochs=1, **kw)

    seed_everything(0)
    full = Trainer(cfg(tmp_path / "full"), TinyContrast()).fit(make_loader())

    class DiesInEpoch4(TinyContrast):
        def on_epoch_end(self, epoch):
            if epoch == 4:  # after training epoch 4, before its checkpoint: last.pt holds epoch 3
                raise Killed

    seed_everything(0)
    part_dir = tmp_path / "part"
    with pytest.raises(Killed):
        Trainer(cfg(part_dir), DiesInEpoch4()).fit(make_loader())
    assert load_checkpoint(part_dir / "last.pt")["epoch"] == 3
    seed_everything(123)  # the new process's RNG state must not matter
    resumed = Trainer(cfg(part_dir, resume=True), TinyContrast()).fit(make_loader())
    assert epoch_losses(resumed) == epoch_losses(full)
    with (part_dir / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows if r["split"] == "epoch" and r["name"] == "loss"] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]
    steps = [int(r["step"]) for r in rows if r["split"] == "train_step" and r["name"] == "loss"]
    assert steps == list(range(1, 37))  # the killed epoch's step rows were dropped, none repeated


def test_early_stopping_and_best_checkpoint(tmp_path):
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.4, 0.9])
    method = TinyContrast()
    result = Trainer(config(tmp_path, epochs=6, monitor="acc", patience=2), method).fit(
        make_loader(), validate=lambda: {"acc": next(scores)}
    )
    assert result.stopped_early and result.epochs_run == 4
    assert result.best_epoch == 2 and result.best_metric == pytest.approx(0.7)
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == 2
    for name, tensor in method.state_dict().items():  # restore_best put the best weights back
        assert torch.equal(tensor, best["model"][name])


def test_monitor_must_be_a_validation_metric(tmp_path):
    with pytest.raises(KeyError, match="trainer.monitor='auc' is not among the validation metrics"):
        Trainer(config(tmp_path, monitor="auc"), TinyContrast()).fit(
            make_loader(), validate=lambda: {"acc": 1.0}
        )


def test_grad_clip_bounds_the_update(tmp_path):
    class Big(TinyContrast):
        def training_step(self, batch):
            return {"loss": 1e6 * self.net(batch[0]).pow(2).mean()}

    method = Big()
    before = [p.detach().clone() for p in method.parameters()]
    Trainer(
        config(tmp_path, epochs=1, optimizer="sgd", lr=0.1, momentum=0.0, grad_clip=1.0), method
    ).fit([(torch.randn(8, 6),)])
    step = torch.cat(
        [(p.detach() - b).flatten() for p, b in zip(method.parameters(), before, strict=True)]
    )
    assert step.norm() <= 0.1 * 1.0 + 1e-6


def test_manual_optimization_gets_an_optimize_callback(tmp_path):
    class TwoOptimizers(TinyContrast):
        manual_optimization = True

        def __init__(self):
            super().__init__()
            self.aux = nn.Linear(8, 8)
            self.calls = []

        def configure_optimizers(self, cfg):
            return [
                torch.optim.SGD(self.net.parameters(), lr=cfg.lr),
                torch.optim.SGD(self.aux.parameters(), lr=cfg.lr),
            ]

        def training_step(self, batch, optimize):
            loss = super().training_step(batch)["loss"]
            optimize(loss, 0)
            aux_loss = self.aux(self.net(batch[0]).detach()).pow(2).mean()
            optimize(aux_loss, 1)
            self.calls.append(2)
            return {"loss": loss.detach(), "aux": aux_loss.detach()}

    method = TwoOptimizers()
    aux_before = method.aux.weight.detach().clone()
    result = Trainer(config(tmp_path, epochs=1), method).fit(make_loader())
    assert len(method.calls) == 6 and "aux" in result.history[0]
    assert not torch.equal(aux_before, method.aux.weight)


def test_nan_loss_is_reported_with_advice(tmp_path):
    class Nan(TinyContrast):
        def training_step(self, batch):
            return {"loss": self.net(batch[0]).sum() * float("nan")}

    with pytest.raises(FloatingPointError, match="loss became nan at epoch 1, step 1;"):
        Trainer(config(tmp_path), Nan()).fit(make_loader())


def test_deferred_loss_reads_still_stop_a_nan_run_and_keep_the_checkpoint(tmp_path):
    """The accelerator path (losses read from the device only now and then), run on the CPU."""

    class NanInEpoch2(TinyContrast):
        def training_step(self, batch):
            loss = super().training_step(batch)["loss"]
            nan = torch.tensor(float("nan") if self.training_epoch == 2 else 0.0)
            return {"loss": loss + nan}  # a NaN loss value (its gradient stays finite)

    method = NanInEpoch2()
    method.training_epoch = 1
    trainer = Trainer(config(tmp_path, epochs=3, log_every=0), method)
    trainer.host_read_every_s = float("inf")  # read only at the end of each epoch
    method.on_epoch_end = lambda epoch: setattr(method, "training_epoch", epoch + 1)
    with pytest.raises(FloatingPointError, match=r"between 7 and 12 \(epoch 2\)"):
        trainer.fit(make_loader())
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["epoch"] == 1  # epoch 1's checkpoint, untouched by the failed epoch
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [r["epoch"] for r in rows if r["name"] == "loss" and r["split"] == "epoch"] == ["1"]


def test_bad_method_and_empty_data(tmp_path):
    with pytest.raises(TypeError, match="has no training_step"):
        Trainer(config(tmp_path), nn.Linear(2, 2))
    with pytest.raises(ValueError, match="training set is empty"):
        Trainer(config(tmp_path), TinyContrast()).fit([])
    with pytest.raises(ValueError, match="trainer.patience needs trainer.monitor"):
        Trainer(config(tmp_path, patience=3), TinyContrast())


def test_checkpoint_is_atomic_and_corruption_is_named(tmp_path):
    path = tmp_path / "last.pt"
    Trainer(config(tmp_path, epochs=1), TinyContrast()).fit(make_loader())
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(RuntimeError, match="corrupt or truncated"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    save_checkpoint_atomic({"format": "other"}, path)
    with pytest.raises(RuntimeError, match="is not a contrastive-suite checkpoint"):
        load_checkpoint(path)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_resume_with_an_incompatible_model_fails_clearly(tmp_path):
    Trainer(config(tmp_path, epochs=1), TinyContrast()).fit(make_loader())

    class Wider(TinyContrast):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 8))

    with pytest.raises(RuntimeError, match="does not fit this model"):
        Trainer(config(tmp_path, epochs=2, resume=True), Wider()).fit(make_loader())


def test_logs_csv_and_tensorboard(tmp_path):
    Trainer(config(tmp_path, epochs=2, tensorboard=True), TinyContrast()).fit(make_loader())
    with (tmp_path / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    names = {(r["split"], r["name"]) for r in rows}
    assert {("train_step", "loss"), ("epoch", "loss"), ("epoch", "samples_per_s")} <= names
    assert any((tmp_path / "tensorboard").iterdir())


def test_move_to_device_recurses():
    batch = {"x": torch.ones(2), "pair": (torch.zeros(1), [torch.ones(1)]), "name": "a"}
    moved = move_to_device(batch, torch.device("cpu"))
    assert moved["name"] == "a" and torch.equal(moved["pair"][1][0], torch.ones(1))


def test_amp_on_cpu_runs_in_bfloat16(tmp_path):
    seen = []

    class Probe(TinyContrast):
        def training_step(self, batch):
            out = self.net(batch[0])
            seen.append(out.dtype)
            return {"loss": out.float().pow(2).mean()}

    Trainer(config(tmp_path, epochs=1, amp=True), Probe()).fit(make_loader())
    assert seen[0] == torch.bfloat16


def test_batch_size_of_reads_tensors_mappings_dataclasses_and_batch_size() -> None:
    from dataclasses import dataclass

    @dataclass
    class Scans:
        batch_size: int
        points: Tensor

    @dataclass
    class Views:
        scans: tuple[Scans, Scans]
        xyz: Tensor

    assert batch_size_of(torch.zeros(5, 3)) == 5
    assert batch_size_of({"x": torch.zeros(4, 2), "y": torch.zeros(9)}) == 4
    assert batch_size_of([torch.tensor(1.0), torch.zeros(3)]) == 1
    views = Views((Scans(2, torch.zeros(700, 3)),) * 2, torch.zeros(700, 3))
    assert batch_size_of(views) == 2  # the scans, not the 700 points
    assert batch_size_of("no tensors") == 0
