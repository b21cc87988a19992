"""The TS2Vec dilated-convolution encoder with timestamp masking, as used by COMET.

Yue et al., AAAI 2022, "TS2Vec: Towards Universal Representation of Time Series" (official code
``zhihanyue/ts2vec``, ``models/encoder.py``, ``models/dilated_conv.py``); COMET reuses it
unchanged (``DL4mHealth/COMET``, ``models/encoder.py``).

    h = Linear(C_in -> hidden)(x)                      per timestamp
    h[t] = 0 where the timestamp is masked              (augmentation; NaN timestamps always)
    h = Block_K(...Block_1(h))                          Block_k: residual, two dilated convs
    z = Dropout(0.1)(h)                                 (B, T, output_dims)

Block k (k = 0..depth) has kernel 3 and dilation 2^k; ``depth`` blocks of width ``hidden_dims``
are followed by one block of width ``output_dims`` (with a 1x1 projection on its residual path).
Each block is ``x + conv2(gelu(conv1(gelu(x))))`` with "same" padding.

Masks (which timestamps are zeroed after the input projection):

- ``"binomial"``: each timestamp kept with probability 0.5 (TS2Vec's default);
- ``"continuous"``: ``n = 5`` segments of ``10%`` of T per sample are zeroed (COMET's choice for
  the sample and observation levels);
- ``"all_true"``: no masking (COMET's patient and trial levels).

Masks are drawn from torch's global generator, so ``seed_everything`` makes them reproducible.
A timestamp where any input channel is NaN is treated as missing: zeroed and excluded from
:func:`max_pool_time` (TS2Vec's NaN handling).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MASKS = ("binomial", "continuous", "all_true")


class SamePadConv(nn.Module):
    """Conv1d with 'same' output length for any kernel size and dilation.

    When the dilation is at least the series length every tap but the centre one reads padding
    zeros, so the output equals a 1x1 convolution with the centre tap; that case skips the
    (large) padded convolution. The result is identical.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, dilation: int
    ) -> None:
        super().__init__()
        receptive_field = (kernel_size - 1) * dilation + 1
        self.conv = nn.Conv1d(
            in_channels, out_channels, kernel_size, padding=receptive_field // 2, dilation=dilation
        )
        self.trim = 1 if receptive_field % 2 == 0 else 0

    def forward(self, x: Tensor) -> Tensor:
        kernel, dilation = self.conv.kernel_size[0], self.conv.dilation[0]
        if kernel % 2 == 1 and dilation >= x.shape[-1]:
            centre = self.conv.weight[:, :, kernel // 2 : kernel // 2 + 1]
            return F.conv1d(x, centre, self.conv.bias)
        out = self.conv(x)
        return out[:, :, : out.shape[-1] - self.trim]


class DilatedResidualBlock(nn.Module):
    """``x + conv2(gelu(conv1(gelu(x))))`` with dilated convs; 1x1 projection when needed."""

    def __init__(
        self, in_channels: int, out_channels: int, dilation: int, *, project: bool
    ) -> None:
        super().__init__()
        self.conv1 = SamePadConv(in_channels, out_channels, 3, dilation)
        self.conv2 = SamePadConv(out_channels, out_channels, 3, dilation)
        self.projector = nn.Conv1d(in_channels, out_channels, 1) if project else None

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.projector is None else self.projector(x)
        return self.conv2(F.gelu(self.conv1(F.gelu(x)))) + residual


class DilatedConvEncoder(nn.Module):
    """TS2Vec encoder: (B, T, C_in) -> (B, T, output_dims); see the module docstring."""

    def __init__(
        self,
        input_dims: int,
        output_dims: int = 320,
        hidden_dims: int = 64,
        depth: int = 10,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if min(input_dims, output_dims, hidden_dims) < 1 or depth < 0:
            raise ValueError(
                "input_dims, output_dims, hidden_dims must be >= 1 and depth >= 0, got "
                f"{input_dims}, {output_dims}, {hidden_dims}, {depth}"
            )
        self.input_dims = input_dims
        self.output_dims = output_dims
        self.input_fc = nn.Linear(input_dims, hidden_dims)
        widths = [hidden_dims, *([hidden_dims] * depth), output_dims]
        last = len(widths) - 2
        self.blocks = nn.Sequential(
            *(
                DilatedResidualBlock(
                    widths[k],
                    widths[k + 1],
                    dilation=2**k,
                    project=k == last or widths[k] != widths[k + 1],
                )
                for k in range(last + 1)
            )
        )
        self.repr_dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: str = "all_true") -> Tensor:
        """Per-timestamp representations (B, T, output_dims) of ``x`` (B, T, input_dims)."""
        return self.repr_dropout(self.represent(x, mask))

    def represent(self, x: Tensor, mask: str = "all_true") -> Tensor:
        """:meth:`forward` without the final dropout."""
        self._check_input(x)
        return self._represent(x, [timestamp_mask(mask, x.shape[0], x.shape[1], x.device)])[0]

    def views(self, x: Tensor, masks: Sequence[str]) -> list[Tensor]:
        """``[self(x, mask) for mask in masks]`` in one batched pass, with the same values.

        Each view's random draws (its timestamp mask, then its dropout noise) are made in the
        order of separate calls, so the views equal separate calls under the same seed. Views
        without masking (``"all_true"``) differ only by their dropout and share one
        representation; the others are stacked into one (V B, T, ...) pass whose input
        projection is computed once.

            z1, z2, z3, z4 = encoder.views(x, ["all_true"] * 2 + ["continuous"] * 2)  # COMET
        """
        self._check_input(x)
        batch, length = x.shape[0], x.shape[1]
        rows: list[int] = []  # row of the batched pass each view reads
        keeps: list[Tensor] = []
        noise: list[Tensor | None] = []
        shared: int | None = None
        for mask in masks:
            if mask == "all_true" and shared is not None:
                rows.append(shared)
            else:
                keeps.append(timestamp_mask(mask, batch, length, x.device))
                rows.append(len(keeps) - 1)
                shared = rows[-1] if mask == "all_true" else shared
            noise.append(self._dropout_noise(batch, length, x))
        h = self._represent(x, keeps)
        return [h[row] if n is None else h[row] * n for row, n in zip(rows, noise, strict=True)]

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_dims:
            raise ValueError(f"x must have shape (B, T, {self.input_dims}), got {tuple(x.shape)}")

    def _dropout_noise(self, batch: int, length: int, x: Tensor) -> Tensor | None:
        """``repr_dropout``'s multiplier for one (B, T, D) view, None when dropout is inactive:
        the draw ``repr_dropout`` itself makes, ``dropout(h) == h * dropout(ones_like(h))``, with
        ``ones`` laid out like the blocks' output (D before T in memory), since the random
        numbers fill a tensor in memory order."""
        p = self.repr_dropout.p
        if not self.training or p == 0:
            return None
        ones = torch.ones(batch, self.output_dims, length, dtype=x.dtype, device=x.device)
        return F.dropout(ones.transpose(1, 2), p, training=True)

    def _represent(self, x: Tensor, keeps: Sequence[Tensor]) -> Tensor:
        """(V, B, T, output_dims) representations of ``x`` under V (B, T) keep-masks."""
        observed = observed_timestamps(x)
        h = self.input_fc(torch.nan_to_num(x, nan=0.0))
        keep = torch.stack(list(keeps)) & observed
        h = (h * keep.unsqueeze(-1).to(h.dtype)).flatten(0, 1)
        out = self.blocks(h.transpose(1, 2)).transpose(1, 2)
        return out.unflatten(0, (len(keeps), x.shape[0]))


def observed_timestamps(x: Tensor) -> Tensor:
    """(B, T) bool: timestamps where no channel is NaN."""
    return ~torch.isnan(x).any(dim=-1)


def timestamp_mask(
    kind: str,
    batch: int,
    length: int,
    device: torch.device,
    *,
    n_segments: int = 5,
    segment_fraction: float = 0.1,
    keep_prob: float = 0.5,
) -> Tensor:
    """(B, T) bool mask of kept timestamps for ``kind`` in :data:`MASKS`."""
    if kind == "all_true":
        return torch.ones(batch, length, dtype=torch.bool, device=device)
    if kind == "binomial":
        return (torch.rand(batch, length) < keep_prob).to(device)
    if kind == "continuous":
        n = max(min(n_segments, length // 2), 1)
        seg = max(int(segment_fraction * length), 1)
        starts = torch.randint(0, length - seg + 1, (batch, n))
        positions = torch.arange(length)
        covered = (positions >= starts.unsqueeze(-1)) & (positions < starts.unsqueeze(-1) + seg)
        return (~covered.any(dim=1)).to(device)
    raise ValueError(f"mask must be one of {MASKS}, got {kind!r}")


def max_pool_time(h: Tensor, observed: Tensor | None = None) -> Tensor:
    """Instance representation: max over time of (B, T, D), skipping unobserved timestamps."""
    if observed is not None:
        if not observed.any(dim=1).all():
            raise ValueError("a sample has no observed timestamp; cannot pool it")
        h = h.masked_fill(~observed.unsqueeze(-1), float("-inf"))
    return h.max(dim=1).values
