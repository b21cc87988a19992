"""GCNEncoder's sparse-matrix propagation is PyG's GCNConv on the edge index, without messages.

The encoder computes ``H_{l+1} = act(A_hat (H_l W_l) + b_l)`` with
``A_hat = D^-1/2 (A + I) D^-1/2`` as one sparse matrix (``normalized_adjacency``). The reference
is the same encoder's own ``GCNConv`` layers called on the edge index (gather one message per
edge, scatter-add), so outputs and parameter gradients must agree to rounding in float64 on
graphs with everything ``gcn_norm`` treats specially: duplicate edges, directed edges, isolated
nodes, existing (and duplicated) self-loops, and the dropped-edge views GRACE / gCooL feed the
encoder. A multiplex graph has no code of its own here: one such encoder per edge layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch
import torch.utils._pytree as pytree
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

from graph_cl.encoders import GCNEncoder, normalized_adjacency
from graph_cl.views import drop_edges

N, ISOLATED = 40, 6
Forward = Callable[[GCNEncoder, Tensor, Tensor], Tensor]


def _awkward_graph(seed: int) -> Tensor:
    """Directed random edges among the first N - ISOLATED nodes (the rest have none), with
    duplicated edges, self-loops on a few nodes (one of them twice), unsorted."""
    g = torch.Generator().manual_seed(seed)
    linked = N - ISOLATED
    edges = torch.randint(0, linked, (2, 150), generator=g)
    duplicates = edges[:, :20]
    loops = torch.tensor([[3, 5, 5, 11], [3, 5, 5, 11]])
    edges = torch.cat([edges, duplicates, loops], dim=1)
    return edges[:, torch.randperm(edges.shape[1], generator=g)]


def _message_passing(encoder: GCNEncoder, x: Tensor, edge_index: Tensor) -> Tensor:
    """The previous forward: each layer is PyG's GCNConv on the edge index."""
    for conv in encoder.convs:
        x = encoder.act(conv(x, edge_index))
    return x


def _sparse(encoder: GCNEncoder, x: Tensor, edge_index: Tensor) -> Tensor:
    return encoder(x, edge_index)


def _output_and_grads(
    encoder: GCNEncoder, forward: Forward, x: Tensor, edge_index: Tensor, weight: Tensor
) -> tuple[Tensor, list[Tensor]]:
    encoder.zero_grad(set_to_none=True)
    z = forward(encoder, x, edge_index)
    (z * weight).sum().backward()
    return z.detach(), [p.grad.clone() for p in encoder.parameters() if p.grad is not None]


def _cases() -> Iterator[tuple[str, Tensor]]:
    edges = _awkward_graph(0)
    yield "awkward graph", edges
    yield "dropped-edge view", drop_edges(edges, 0.4, torch.Generator().manual_seed(1))
    yield "no edges", torch.empty(2, 0, dtype=torch.long)


@pytest.mark.parametrize("activation,num_layers", [("relu", 2), ("prelu", 3)])
def test_encoder_equals_gcnconv_message_passing(activation: str, num_layers: int) -> None:
    torch.manual_seed(0)
    encoder = GCNEncoder(7, 9, 5, num_layers=num_layers, activation=activation).double()
    x = torch.randn(N, 7, dtype=torch.float64)
    weight = torch.randn(N, 5, dtype=torch.float64)
    for name, edge_index in _cases():
        z_sparse, g_sparse = _output_and_grads(encoder, _sparse, x, edge_index, weight)
        z_ref, g_ref = _output_and_grads(encoder, _message_passing, x, edge_index, weight)
        assert len(g_sparse) == len(g_ref) == len(list(encoder.parameters())), name
        torch.testing.assert_close(z_sparse, z_ref, rtol=0, atol=1e-10, msg=name)
        for a, b in zip(g_sparse, g_ref, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-10, msg=name)


def test_normalized_adjacency_entries() -> None:
    """Written out: a duplicated edge counts twice, a node's existing self-loop is kept once
    (not added again), degrees count incoming edges, and row i holds the edges into i."""
    # edges 0 -> 1 (twice), 1 -> 2, 2 -> 2 (self-loop); node 3 isolated
    edge_index = torch.tensor([[0, 0, 1, 2], [1, 1, 2, 2]])
    dense = normalized_adjacency(edge_index, 4, torch.float64).to_dense()
    a_plus_i = torch.tensor(
        [[1, 0, 0, 0], [2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=torch.float64
    )
    d = a_plus_i.sum(dim=1).rsqrt()
    torch.testing.assert_close(dense, d[:, None] * a_plus_i * d[None, :], rtol=0, atol=1e-15)


def test_parameter_names_are_unchanged() -> None:
    """Checkpoints written with the GCNConv forward load: the state-dict keys are the same."""
    encoder = GCNEncoder(4, 6, 3, num_layers=2, activation="prelu")
    assert sorted(encoder.state_dict()) == [
        "act.weight",
        "convs.0.bias",
        "convs.0.lin.weight",
        "convs.1.bias",
        "convs.1.lin.weight",
    ]


class _Largest(TorchDispatchMode):
    """Records the element count of the largest dense (strided) tensor any op returns while active
    (a sparse matrix's ``numel`` is its logical N x N size, not what it stores)."""

    def __init__(self) -> None:
        super().__init__()
        self.numel = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for t in pytree.tree_flatten(out)[0]:
            if isinstance(t, Tensor) and t.layout == torch.strided:
                self.numel = max(self.numel, t.numel())
        return out


def test_no_per_edge_messages() -> None:
    """Forward + backward never builds an (E, width) tensor: on a graph with E = 20 N edges and
    width 16 every op output stays below E * 16 / 4, while GCNConv's messages reach E * 16."""
    n, width = 200, 16
    edge_index = torch.randint(0, n, (2, 20 * n), generator=torch.Generator().manual_seed(0))
    encoder = GCNEncoder(8, width, width, num_layers=2)
    x = torch.randn(n, 8)
    limit = edge_index.shape[1] * width
    for forward, below in ((_sparse, True), (_message_passing, False)):
        watch = _Largest()
        with watch:
            _output_and_grads(encoder, forward, x, edge_index, torch.ones(n, width))
        assert (watch.numel < limit / 4) == below, (forward, watch.numel, limit)
