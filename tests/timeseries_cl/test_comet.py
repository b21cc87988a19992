"""COMET and the sample baseline as trainer methods: weights, views, averaging, embedding."""

from __future__ import annotations

import pytest
import torch

from shared.losses import info_nce
from timeseries_cl import levels
from timeseries_cl.comet import COMET, EncoderConfig, LevelWeights, SampleContrast
from timeseries_cl.encoder import max_pool_time

SMALL = EncoderConfig(hidden_dims=8, output_dims=12, depth=2, dropout=0.0)


def _batch(b: int = 8, t: int = 16, c: int = 3) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {
        "x": torch.randn(b, t, c),
        "patient": torch.arange(b) // 4,
        "trial": torch.arange(b) // 2,
    }


def _no_step(loss: torch.Tensor) -> None:
    loss.backward()


def test_loss_is_the_weighted_sum_of_the_levels() -> None:
    weights = LevelWeights(patient=2.0, trial=0.5, sample=0.1, observation=3.0)
    method = COMET(3, SMALL, weights)
    out = method.objective(_batch())
    expected = (
        2.0 * out["patient"] + 0.5 * out["trial"] + 0.1 * out["sample"] + 3.0 * out["observation"]
    )
    torch.testing.assert_close(out["loss"], expected)


def test_levels_use_the_reference_views() -> None:
    # dropout 0: unmasked views are identical, so the patient level is a deterministic function
    method = COMET(3, SMALL, LevelWeights(1.0, 0.0, 0.0, 0.0))
    batch = _batch()
    out = method.objective(batch)
    z = method.encoder(batch["x"], "all_true")
    torch.testing.assert_close(out["patient"], levels.id_contrast(z, z, batch["patient"]))
    assert set(out) == {"patient", "loss"}


def test_zero_weight_levels_are_skipped() -> None:
    out = COMET(3, SMALL, LevelWeights(0.0, 1.0, 0.0, 1.0)).objective(_batch())
    assert set(out) == {"trial", "observation", "loss"}


def test_weights_must_be_non_negative_and_not_all_zero() -> None:
    with pytest.raises(ValueError, match="level weights"):
        LevelWeights(-1.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="level weights"):
        LevelWeights(0.0, 0.0, 0.0, 0.0)


def test_after_step_hook_updates_the_weight_average() -> None:
    method = COMET(3, SMALL)
    initial = [p.detach().clone() for p in method.encoder.parameters()]
    optimizer = torch.optim.SGD(method.encoder.parameters(), lr=0.1)
    out = method.training_step(_batch())
    assert out["loss"].requires_grad  # the trainer backpropagates it
    optimizer.zero_grad()
    out["loss"].backward()
    optimizer.step()
    method.on_after_optimizer_step(0)
    averaged = method.averaged.module.parameters()
    for p0, p1, avg in zip(initial, method.encoder.parameters(), averaged, strict=True):
        torch.testing.assert_close(avg, (p0 + p1.detach()) / 2)  # equal average of both iterates
    assert not any(p.requires_grad for p in method.averaged.parameters())


def test_a_few_steps_lower_the_loss_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    method = COMET(3, SMALL)
    optimizer = torch.optim.Adam(method.encoder.parameters(), lr=1e-2)

    def step(batch: dict[str, torch.Tensor]) -> float:
        loss = method.training_step(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        method.on_after_optimizer_step(0)
        return float(loss.detach())

    batch = _batch()
    losses = [step(batch) for _ in range(15)]
    assert losses[-1] < losses[0]


def test_embed_pools_the_averaged_encoder_over_observed_timestamps() -> None:
    method = COMET(3, SMALL).eval()
    x = torch.randn(2, 10, 3)
    x[1, 5:] = float("nan")  # a shorter, NaN-padded series
    z = method.embed(x)
    assert z.shape == (2, 12) and torch.isfinite(z).all()
    h = method.averaged(x)
    torch.testing.assert_close(z[1], h[1, :5].max(dim=0).values)


def test_sample_baseline_is_ntxent_on_pooled_views() -> None:
    method = SampleContrast(3, SMALL, temperature=0.2)
    batch = _batch()
    torch.manual_seed(5)
    loss = method.objective(batch)["loss"]
    torch.manual_seed(5)
    h1 = max_pool_time(method.encoder(batch["x"], "continuous"))
    h2 = max_pool_time(method.encoder(batch["x"], "continuous"))
    torch.testing.assert_close(loss, info_nce(h1, h2, 0.2))


def test_temperature_must_be_positive() -> None:
    with pytest.raises(ValueError, match="temperature"):
        COMET(3, SMALL, temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        SampleContrast(3, SMALL, temperature=-1.0)
