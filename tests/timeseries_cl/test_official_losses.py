"""COMET's level losses against golden values of the official code, and the step's loss pinned
before the encoder-pass sharing and the batched level losses.

Golden values: ``models/losses.py`` of DL4mHealth/COMET at commit
a769779ebf2394a47570b4cf9905306e65cd70b3, run once (outside this repository, float64 inputs) on
the tensors of :func:`_views`. The official ``contrastive_loss`` ignores the factor of a
non-hierarchical level, so its objective with ``factors`` (f_P, f_T, f_S, f_O) is
L_P + L_T + f_S L_S + f_O L_O: effective weights (1, 1, 0.25, 0.25) for AD / TDBRAIN's
factors [0.25] * 4 and (1, 1, 0.1, 0.1) for PTB's [0.1, 0.7, 0.1, 0.1].
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from timeseries_cl import levels
from timeseries_cl.comet import COMET, EncoderConfig, LevelWeights

PATIENT = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
TRIAL = torch.tensor([0, 0, 1, 2, 2, 3, 4, 4])


def _views() -> list[torch.Tensor]:
    z = np.random.default_rng(20).standard_normal((4, 8, 8, 5))  # four (B=8, T=8, D=5) views
    return [torch.tensor(v, dtype=torch.float64) for v in z]


def test_official_pairing_matches_the_official_id_contrastive_loss() -> None:
    z1, z2, _, _ = _views()
    patient, trial = levels.id_contrasts(z1, z2, [PATIENT, TRIAL], 0.1, "official")
    assert patient.item() == pytest.approx(2.484922281401227, rel=1e-12)
    assert trial.item() == pytest.approx(2.0496235998980503, rel=1e-12)
    single = levels.id_contrast(z1, z2, PATIENT, pairing="official")
    assert single.item() == pytest.approx(2.484922281401227, rel=1e-12)


def test_our_pairing_is_a_different_loss_on_the_same_inputs() -> None:
    z1, z2, _, _ = _views()
    ours = levels.id_contrast(z1, z2, PATIENT, pairing="ours").item()
    assert abs(ours - 2.484922281401227) > 1e-3


def test_sample_and_observation_levels_match_the_official_losses() -> None:
    z1, z2, z3, z4 = _views()
    assert levels.sample_contrast(z1, z2).item() == pytest.approx(5.103185612555917, rel=1e-12)
    obs = levels.observation_contrast(z1, z2).item()
    assert obs == pytest.approx(5.04032323840069, rel=1e-12)
    # the official hierarchical loop accumulates in float32
    sample, observation = levels.hierarchical_levels(z3, z4)
    assert sample.item() == pytest.approx(4.115704536437988, rel=1e-6)
    assert observation.item() == pytest.approx(3.0967109203338623, rel=1e-6)


@pytest.mark.parametrize(
    ("weights", "official_total"),
    [((1.0, 1.0, 0.25, 0.25), 6.337649745492239), ((1.0, 1.0, 0.1, 0.1), 5.255787415055533)],
)
def test_effective_weights_reproduce_the_official_objective(weights, official_total) -> None:
    z1, z2, z3, z4 = _views()
    patient, trial = levels.id_contrasts(z1, z2, [PATIENT, TRIAL], 0.1, "official")
    sample, observation = levels.hierarchical_levels(z3, z4)
    total = weights[0] * patient + weights[1] * trial + weights[2] * sample
    total = total + weights[3] * observation
    assert total.item() == pytest.approx(official_total, rel=1e-6)


def test_batched_levels_equal_the_separate_ones() -> None:
    z1, z2, z3, z4 = _views()
    for pairing in levels.PAIRINGS:
        both = levels.id_contrasts(z1, z2, [PATIENT, TRIAL], 0.1, pairing)
        for ids, value in zip((PATIENT, TRIAL), both, strict=True):
            torch.testing.assert_close(value, levels.id_contrast(z1, z2, ids, 0.1, pairing))
    sample, observation = levels.hierarchical_levels(z3, z4)
    torch.testing.assert_close(sample, levels.hierarchical(levels.sample_contrast, z3, z4))
    torch.testing.assert_close(
        observation, levels.hierarchical(levels.observation_contrast, z3, z4)
    )


@pytest.mark.parametrize(
    ("weights", "loss"), [((0.25,) * 4, 5.0985732079), ((1, 1, 0.25, 0.25), 14.5402574539)]
)
def test_step_loss_is_unchanged_by_the_shared_pass(weights, loss) -> None:
    """Pinned (to 10 digits) with four separate encoder passes and one loss call per level, before
    the unmasked views shared a pass and the levels were batched; dropout 0.1 is on."""
    torch.manual_seed(0)
    x = torch.randn(12, 32, 3)
    torch.manual_seed(1)
    method = COMET(
        3, EncoderConfig(hidden_dims=16, output_dims=24, depth=3), LevelWeights(*weights)
    )
    torch.manual_seed(2)
    out = method.objective(
        {"x": x, "patient": torch.arange(12) // 4, "trial": torch.arange(12) // 2}
    )
    pinned = {"patient": 6.2808461189, "trial": 6.3080673218, "sample": 4.2399921417}
    pinned |= {"observation": 3.5653884411, "loss": loss}
    for name, value in pinned.items():
        assert out[name].item() == pytest.approx(value, abs=1e-6), name


def test_comet_passes_its_pairing_to_the_id_levels() -> None:
    torch.manual_seed(0)
    enc = EncoderConfig(hidden_dims=8, output_dims=12, depth=2, dropout=0.0)
    method = COMET(3, enc, LevelWeights(1.0, 1.0, 0.0, 0.0), pairing="official")
    x = torch.randn(8, 16, 3)
    out = method.objective({"x": x, "patient": PATIENT, "trial": TRIAL})
    z = method.encoder(x)
    torch.testing.assert_close(out["patient"], levels.id_contrast(z, z, PATIENT, 0.1, "official"))
    with pytest.raises(ValueError, match="pairing must be one of"):
        COMET(3, enc, pairing="both")
