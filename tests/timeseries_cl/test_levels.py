"""COMET's four levels against naive references written from the formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from timeseries_cl import levels


def _naive_ntxent(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """TS2Vec's form: rows of [a; b], each scored against the 2N - 1 others, dot products."""
    z = torch.cat([a, b])
    n = a.shape[0]
    total = 0.0
    for i in range(2 * n):
        others = [j for j in range(2 * n) if j != i]
        logits = torch.stack([z[i] @ z[j] for j in others])
        target = others.index(i + n if i < n else i - n)
        total = total - torch.log_softmax(logits, 0)[target]
    return total / (2 * n)


def test_sample_contrast_matches_naive_per_timestamp_ntxent() -> None:
    torch.manual_seed(0)
    z1, z2 = torch.randn(4, 3, 5), torch.randn(4, 3, 5)
    expected = torch.stack([_naive_ntxent(z1[:, t], z2[:, t]) for t in range(3)]).mean()
    torch.testing.assert_close(levels.sample_contrast(z1, z2), expected)


def test_observation_contrast_matches_naive_per_sample_ntxent() -> None:
    torch.manual_seed(1)
    z1, z2 = torch.randn(3, 4, 5), torch.randn(3, 4, 5)
    expected = torch.stack([_naive_ntxent(z1[b], z2[b]) for b in range(3)]).mean()
    torch.testing.assert_close(levels.observation_contrast(z1, z2), expected)


def test_degenerate_levels_are_zero_with_a_graph() -> None:
    z = torch.randn(1, 4, 3, requires_grad=True)
    loss = levels.sample_contrast(z, z)
    assert loss.item() == 0.0 and loss.requires_grad
    assert levels.observation_contrast(torch.randn(2, 1, 3), torch.randn(2, 1, 3)).item() == 0.0


def test_hierarchical_averages_over_max_pooled_resolutions() -> None:
    torch.manual_seed(2)
    z1, z2 = torch.randn(2, 8, 3), torch.randn(2, 8, 3)
    seen: list[int] = []

    def record(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        seen.append(a.shape[1])
        return a.sum() + b.sum()

    out = levels.hierarchical(record, z1, z2)
    assert seen == [8, 4, 2]  # stops before length 1, like the reference
    pool = lambda z: F.max_pool1d(z.transpose(1, 2), 2).transpose(1, 2)  # noqa: E731
    p1, p2 = pool(z1), pool(z2)
    terms = [z1.sum() + z2.sum(), p1.sum() + p2.sum(), pool(p1).sum() + pool(p2).sum()]
    expected = sum(terms) / 3
    torch.testing.assert_close(out, expected)


def test_hierarchical_needs_two_timestamps() -> None:
    with pytest.raises(ValueError, match="T >= 2"):
        levels.hierarchical(levels.sample_contrast, torch.randn(2, 1, 3), torch.randn(2, 1, 3))


def _naive_id_direction(
    a: torch.Tensor, b: torch.Tensor, ids: list[int], tau: float
) -> torch.Tensor:
    va = F.normalize(a, dim=1).flatten(1)
    vb = F.normalize(b, dim=1).flatten(1)
    per_anchor = []
    for i in range(len(ids)):
        sims = torch.stack(
            [F.cosine_similarity(va[i], vb[k], dim=0) / tau for k in range(len(ids))]
        )
        log_denom = torch.logsumexp(sims, 0)
        positives = [j for j in range(len(ids)) if j != i and ids[j] == ids[i]]
        if positives:
            per_anchor.append(-torch.stack([sims[j] - log_denom for j in positives]).mean())
    return torch.stack(per_anchor).mean()


def test_id_contrast_matches_naive_formula() -> None:
    torch.manual_seed(3)
    z1, z2 = torch.randn(5, 4, 3), torch.randn(5, 4, 3)
    ids = [7, 7, 8, 8, 9]  # sample 4 has no positive and is skipped as an anchor
    expected = 0.5 * (_naive_id_direction(z1, z2, ids, 0.1) + _naive_id_direction(z2, z1, ids, 0.1))
    torch.testing.assert_close(levels.id_contrast(z1, z2, torch.tensor(ids), 0.1), expected)


def test_id_contrast_closed_form_for_identical_views() -> None:
    # Two ids, two samples each; same-id samples identical, the ids' representations orthogonal:
    # s = 1/tau for the two same-id candidates (self and partner), 0 for the two others.
    tau = 0.5
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    z = torch.stack([a, a, b, b]).unsqueeze(-1).expand(4, 2, 3)  # (B, D=2, T=3) -> transpose
    z = z.transpose(1, 2).contiguous()
    expected = -(1 / tau - math.log(2 * math.exp(1 / tau) + 2))
    torch.testing.assert_close(
        levels.id_contrast(z, z, torch.tensor([0, 0, 1, 1]), tau), torch.tensor(expected)
    )


def test_id_contrast_without_positives_is_zero_and_checks_shapes() -> None:
    z = torch.randn(3, 4, 2, requires_grad=True)
    loss = levels.id_contrast(z, z, torch.arange(3))
    assert loss.item() == 0.0 and loss.requires_grad
    with pytest.raises(ValueError, match=r"ids must have shape \(3,\)"):
        levels.id_contrast(z, z, torch.arange(4))
    with pytest.raises(ValueError, match="same"):
        levels.id_contrast(z, torch.randn(3, 5, 2), torch.arange(3))


def test_levels_give_finite_gradients() -> None:
    torch.manual_seed(4)
    z1 = torch.randn(4, 8, 6, requires_grad=True)
    z2 = torch.randn(4, 8, 6, requires_grad=True)
    loss = (
        levels.hierarchical(levels.sample_contrast, z1, z2)
        + levels.hierarchical(levels.observation_contrast, z1, z2)
        + levels.id_contrast(z1, z2, torch.tensor([0, 0, 1, 1]))
    )
    loss.backward()
    assert torch.isfinite(z1.grad).all() and z1.grad.abs().sum() > 0


@pytest.mark.parametrize("shape", [(5, 4), (3, 6, 4), (2, 3, 4, 4)])
def test_one_matrix_ntxent_equals_info_nce_and_its_gradient(shape) -> None:
    """``ntxent_dot`` (TS2Vec's one (2N, 2N) matrix) against ``info_nce`` at temperature 1 without
    normalisation (the form before the change), values and gradients to 1e-6."""
    from shared.losses import info_nce

    torch.manual_seed(4)
    z1 = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    ours = levels.ntxent_dot(z1, z2)
    reference = info_nce(z1, z2, temperature=1.0, normalize=False)
    torch.testing.assert_close(ours, reference, rtol=0, atol=1e-6)
    grads = torch.autograd.grad(ours, (z1, z2))
    expected = torch.autograd.grad(reference, (z1, z2))
    for g, e in zip(grads, expected, strict=True):
        torch.testing.assert_close(g, e, rtol=0, atol=1e-6)
    if len(shape) == 2:
        torch.testing.assert_close(ours, _naive_ntxent(z1, z2), rtol=0, atol=1e-12)
