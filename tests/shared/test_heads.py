"""The one projection head: SimCLR's MLP and, with ELU and no batch norm, GRACE's head."""

import pytest
import torch
import torch.nn.functional as F

from shared.heads import ProjectionHead


def test_grace_form_is_w2_elu_w1_plus_bias():
    head = ProjectionHead(6, 4, 6, batch_norm=False, activation="elu")
    z = torch.randn(5, 6, dtype=torch.float64)
    head = head.double()
    w1, w2 = head.net[0], head.net[2]
    expected = F.elu(z @ w1.weight.T + w1.bias) @ w2.weight.T + w2.bias
    torch.testing.assert_close(head(z), expected, rtol=0, atol=1e-12)
    normalized = ProjectionHead(6, 4, 6, batch_norm=False, activation="elu", normalize=True)
    assert torch.allclose(normalized(torch.randn(3, 6)).norm(dim=1), torch.ones(3))


def test_simclr_form_has_batch_norm_and_relu_between_layers():
    head = ProjectionHead(8, 16, 4, num_layers=3)
    kinds = [type(m).__name__ for m in head.net]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert head.net[0].bias is None and head.net[-1].bias is not None
    with pytest.raises(ValueError, match="activation must be one of"):
        ProjectionHead(2, 2, 2, activation="tanh")  # type: ignore[arg-type]
