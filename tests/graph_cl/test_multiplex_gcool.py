"""gCooL on a multiplex graph: per-layer encoders, one projection head and one set of DeCA
centroids for all layers, the loss the mean of the per-layer objectives."""

from __future__ import annotations

import pytest
import torch

from graph_cl.data import stochastic_block_model
from graph_cl.encoders import EncoderConfig
from graph_cl.gcool import GCooL, GCoolConfig
from graph_cl.views import two_views

SMALL = EncoderConfig(hidden_dim=16, out_dim=8, proj_dim=8)


@pytest.fixture(scope="module")
def multiplex():
    return stochastic_block_model(80, 4, 5.0, 1.0, 6, 1.0, num_layers=2, seed=3)


def test_loss_is_the_mean_of_per_layer_objectives(multiplex) -> None:
    torch.manual_seed(0)
    method = GCooL(6, GCoolConfig(encoder=SMALL, num_communities=4, stride=10), num_edge_layers=2)
    method.on_epoch_end(3)  # alpha and coef strictly between 0 and 1: all three terms count
    torch.manual_seed(1)
    out = method.training_step(multiplex)

    torch.manual_seed(1)
    per_layer = []
    for encoder, edges in zip(method.encoders, multiplex.edge_index_layers, strict=True):
        (x1, e1), (x2, e2) = two_views(multiplex.x, edges, method.views)
        h1, h2 = method.projector(encoder(x1, e1)), method.projector(encoder(x2, e2))
        per_layer.append(method.objective(h1, h2, e1, e2))
    for key in ("loss", "node", "deca", "resc"):
        expected = (per_layer[0][key] + per_layer[1][key]) / 2
        assert out[key].item() == pytest.approx(expected.item(), rel=1e-6)
    # the two layers have different edges: a mean over two different numbers
    assert abs(per_layer[0]["deca"].item() - per_layer[1]["deca"].item()) > 1e-4


def test_centroids_are_shared_and_trained_by_every_layer(multiplex) -> None:
    torch.manual_seed(0)
    method = GCooL(6, GCoolConfig(encoder=SMALL, num_communities=4), num_edge_layers=2)
    centroid_params = [name for name, _ in method.named_parameters() if "centroid" in name]
    assert centroid_params == ["deca.centroids"]
    torch.manual_seed(1)
    method.training_step(multiplex)["loss"].backward()
    total = method.deca.centroids.grad.clone()

    torch.manual_seed(1)
    per_layer = []
    for encoder, edges in zip(method.encoders, multiplex.edge_index_layers, strict=True):
        (x1, e1), (x2, e2) = two_views(multiplex.x, edges, method.views)
        h1, h2 = method.projector(encoder(x1, e1)), method.projector(encoder(x2, e2))
        method.zero_grad()
        (method.objective(h1, h2, e1, e2)["loss"] / 2).backward()
        per_layer.append(method.deca.centroids.grad.clone())
    assert all(g.abs().sum() > 0 for g in per_layer)
    assert torch.allclose(total, per_layer[0] + per_layer[1], atol=1e-7)
    assert not torch.allclose(total, per_layer[0], atol=1e-7)
