"""The TS2Vec dilated-convolution encoder, masks, NaN handling and pooling."""

from __future__ import annotations

import pytest
import torch

from timeseries_cl.encoder import (
    DilatedConvEncoder,
    SamePadConv,
    max_pool_time,
    observed_timestamps,
    timestamp_mask,
)


def test_encoder_shape_and_architecture() -> None:
    enc = DilatedConvEncoder(input_dims=3, output_dims=16, hidden_dims=8, depth=3)
    assert enc(torch.randn(2, 20, 3)).shape == (2, 20, 16)
    dilations = [block.conv1.conv.dilation[0] for block in enc.blocks]
    assert dilations == [1, 2, 4, 8]  # depth hidden blocks + the output block
    assert [block.projector is not None for block in enc.blocks] == [False, False, False, True]


def test_encoder_rejects_wrong_channel_count() -> None:
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, 3\)"):
        DilatedConvEncoder(3)(torch.randn(2, 5, 4))


@pytest.mark.parametrize("length", [3, 8, 16])
def test_large_dilation_shortcut_equals_the_padded_convolution(length: int) -> None:
    torch.manual_seed(0)
    conv = SamePadConv(4, 5, kernel_size=3, dilation=8)
    x = torch.randn(2, 4, length)
    torch.testing.assert_close(conv(x), conv.conv(x)[:, :, :length])


def test_same_pad_conv_keeps_length_for_even_receptive_field() -> None:
    conv = SamePadConv(2, 2, kernel_size=2, dilation=3)
    assert conv(torch.randn(1, 2, 11)).shape == (1, 2, 11)


def test_continuous_mask_zeroes_segments_of_ten_percent() -> None:
    torch.manual_seed(0)
    mask = timestamp_mask("continuous", 200, 100, torch.device("cpu"))
    masked = (~mask).sum(dim=1)
    assert masked.min() >= 10 and masked.max() <= 50  # 5 segments of 10, possibly overlapping
    assert timestamp_mask("all_true", 2, 5, torch.device("cpu")).all()
    rate = timestamp_mask("binomial", 100, 100, torch.device("cpu")).float().mean()
    assert 0.45 < rate < 0.55
    with pytest.raises(ValueError, match="mask must be one of"):
        timestamp_mask("nope", 1, 4, torch.device("cpu"))


def test_nan_timestamps_are_zeroed_after_the_input_projection() -> None:
    enc = DilatedConvEncoder(2, output_dims=4, hidden_dims=4, depth=1).eval()
    with torch.no_grad():
        enc.input_fc.bias.zero_()  # then a zero input gives the zeroed projection exactly
    x = torch.randn(1, 6, 2)
    zeroed = x.clone()
    zeroed[0, 2] = 0.0
    x[0, 2, 1] = float("nan")  # one NaN channel marks the whole timestamp as missing
    out = enc(x)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, enc(zeroed))
    assert observed_timestamps(x).tolist() == [[True, True, False, True, True, True]]


def test_max_pool_skips_unobserved_timestamps() -> None:
    h = torch.tensor([[[1.0], [9.0], [2.0]]])
    observed = torch.tensor([[True, False, True]])
    assert max_pool_time(h, observed).item() == 2.0
    assert max_pool_time(h).item() == 9.0
    with pytest.raises(ValueError, match="no observed timestamp"):
        max_pool_time(h, torch.zeros(1, 3, dtype=torch.bool))


def test_gradients_reach_every_parameter() -> None:
    enc = DilatedConvEncoder(3, output_dims=8, hidden_dims=4, depth=2)
    enc(torch.randn(2, 10, 3), "continuous").sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in enc.parameters())


def test_batched_views_equal_separate_calls_with_dropout_on() -> None:
    """One pass for every view, with each view's mask and dropout drawn in the order of separate
    calls: equal values and gradients under the same seed."""
    torch.manual_seed(0)
    encoder = DilatedConvEncoder(3, output_dims=12, hidden_dims=8, depth=2, dropout=0.3)
    x = torch.randn(5, 24, 3)
    x[1, 3] = float("nan")
    masks = ["all_true", "continuous", "all_true", "binomial", "continuous"]
    torch.manual_seed(1)
    batched = encoder.views(x, masks)
    grad = torch.autograd.grad(sum((v * v).sum() for v in batched), encoder.input_fc.weight)
    torch.manual_seed(1)
    separate = [encoder(x, mask) for mask in masks]
    expected = torch.autograd.grad(sum((v * v).sum() for v in separate), encoder.input_fc.weight)
    for b, s in zip(batched, separate, strict=True):
        torch.testing.assert_close(b, s, rtol=0, atol=1e-6)
    torch.testing.assert_close(grad[0], expected[0], rtol=1e-5, atol=1e-5)  # float32 sums
    assert not torch.equal(batched[0], batched[2])  # two dropout draws on the shared pass
