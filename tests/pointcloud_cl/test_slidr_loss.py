"""SLidR's superpixel loss against golden values of the official code.

The golden values were computed once with ``LightningPretrainSpconv.loss_superpixels_average``
and ``NCELoss`` of github.com/valeoai/SLidR at commit 14729d0e1d5bd8a88448dee61ab20f13ba6285f2
(``pretrain/lightning_trainer_spconv.py``, ``pretrain/criterion.py``) on the inputs of
:func:`_inputs`, after L2-normalising the point and pixel features as the official VoxelNet and
image decoder do (``superpixel_size`` 6, float32, torch 2.13 CPU).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pointcloud_cl.slidr import segment_mean, superpixel_contrast
from shared.losses import info_nce

OFFICIAL = {0.07: 2.1733920574188232, 0.5: 2.191098928451538}


def _inputs() -> tuple[torch.Tensor, ...]:
    """40 points (d = 8), two 6 x 5 images; 3 of the 12 superpixels have no paired point."""
    n, c, m, h, w = 40, 8, 2, 6, 5
    points = torch.sin(torch.arange(n * c, dtype=torch.float32).reshape(n, c) * 0.7 + 0.3)
    pixels = torch.arange(m * c * h * w, dtype=torch.float32).reshape(m, c, h, w)
    pixels = torch.cos(pixels * 0.37 + 0.1)
    rows = torch.arange(h)[:, None].expand(h, w)
    cols = torch.arange(w)[None, :].expand(h, w)
    sp = torch.stack([(rows // 2) + 3 * (cols // 3), (rows + cols) % 4]).long()
    index = torch.arange(n)
    pair_pixel = torch.stack([index % 2, (index * 7) % h, (index * 3) % w], 1)
    paired_sp = sp[pair_pixel[:, 0], pair_pixel[:, 1], pair_pixel[:, 2]]
    keep = ~((pair_pixel[:, 0] == 1) & (paired_sp == 3))
    return points, pixels, sp, index[keep], pair_pixel[keep]


def _ours(temperature: float, *, scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    points, pixels, sp, pair_point, pair_pixel = _inputs()
    unique = sp + 6 * torch.arange(2)[:, None, None]  # batch-unique ids, as the official offset
    return superpixel_contrast(
        scale * points[pair_point],
        scale * pixels.permute(0, 2, 3, 1).reshape(-1, pixels.shape[1]),
        unique[pair_pixel[:, 0], pair_pixel[:, 1], pair_pixel[:, 2]],
        unique.flatten(),
        12,
        temperature,
    )


@pytest.mark.parametrize("temperature", sorted(OFFICIAL))
def test_superpixel_loss_equals_the_official_code(temperature: float) -> None:
    loss, used = _ours(temperature)
    assert used == 9  # as the official code: 9 of the 12 superpixels have a point
    assert loss.item() == pytest.approx(OFFICIAL[temperature], abs=1e-5)


def test_features_are_normalised_before_averaging() -> None:
    """Rescaling the raw features leaves the loss unchanged (each feature is L2-normalised)."""
    torch.testing.assert_close(_ours(0.07, scale=7.0)[0], _ours(0.07)[0])


def test_renormalising_the_averages_is_a_different_loss() -> None:
    """The rule the official code does not use (average, then normalise) moves the loss."""
    points, pixels, sp, pair_point, pair_pixel = _inputs()
    unique = sp + 6 * torch.arange(2)[:, None, None]
    k, count = segment_mean(
        points[pair_point], unique[pair_pixel[:, 0], pair_pixel[:, 1], pair_pixel[:, 2]], 12
    )
    q, _ = segment_mean(pixels.permute(0, 2, 3, 1).reshape(-1, 8), unique.flatten(), 12)
    used = count > 0
    renormalised = info_nce(
        F.normalize(k[used], dim=1),
        F.normalize(q[used], dim=1),
        0.07,
        intra_view_negatives=False,
        symmetric=False,
        normalize=False,
    )
    assert abs(renormalised.item() - OFFICIAL[0.07]) > 0.1
