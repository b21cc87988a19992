"""GCN encoder and projection head shared by GRACE, gCooL and POT.

``GCNEncoder`` follows GRACE's encoder: k GCN layers (Kipf & Welling 2017) with widths
in -> hidden -> ... -> out, each followed by the activation (also after the last layer). As in
GRACE's, GCA's and gCooL's official ``Encoder`` (one ``activation`` object applied after every
layer), a single activation module serves all layers: with PReLU, one learnable slope shared by
the layers. The projection head is GRACE's two-layer MLP ``fc2(elu(fc1(z)))``
(``shared.heads.ProjectionHead`` with ELU and no batch norm).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from torch import Tensor, nn
from torch_geometric.nn import GCNConv

ACTIVATIONS = {"relu": nn.ReLU, "prelu": nn.PReLU, "rrelu": nn.RReLU, "elu": nn.ELU}


def make_activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class GCNEncoder(nn.Module):
    """k-layer GCN: ``H_{l+1} = act(D^-1/2 (A + I) D^-1/2 H_l W_l)``.

    Args:
        in_dim: input feature size.
        hidden_dim: width of the inner layers (GRACE uses 2 * out_dim).
        out_dim: embedding size.
        num_layers: k >= 1.
        activation: one of ``ACTIVATIONS``; one module applied after every layer (PReLU: one
            learnable slope shared by all layers).
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int = 2,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.convs = nn.ModuleList(GCNConv(a, b, cached=False) for a, b in pairwise(dims))
        self.act = make_activation(activation)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        for conv in self.convs:
            x = self.act(conv(x, edge_index))
        return x


@dataclass
class EncoderConfig:
    """GCN encoder and projection sizes (GRACE Cora: 1433 -> 256 -> 128, projection 128)."""

    hidden_dim: int = 256
    out_dim: int = 128
    num_layers: int = 2
    activation: str = "relu"
    proj_dim: int = 128

    def __post_init__(self) -> None:
        if min(self.hidden_dim, self.out_dim, self.num_layers, self.proj_dim) < 1:
            raise ValueError("encoder sizes and num_layers must be >= 1")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; choose one of {sorted(ACTIVATIONS)}"
            )

    def build(self, in_dim: int) -> GCNEncoder:
        return GCNEncoder(in_dim, self.hidden_dim, self.out_dim, self.num_layers, self.activation)
