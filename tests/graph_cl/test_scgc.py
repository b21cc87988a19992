"""SCGC / SCGC*: influence weights, the IAC loss against a loop reference, DEC parts."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.utils import to_dense_adj

from graph_cl.data import stochastic_block_model
from graph_cl.scgc import (
    SCGC,
    SCGCConfig,
    influence_contrast,
    influence_weights,
    student_t_assignment,
    target_distribution,
)


def test_influence_weights_are_powers_of_the_row_normalised_adjacency() -> None:
    data = stochastic_block_model(40, 2, 4.0, 1.0, 3, 1.0, seed=0)
    a = to_dense_adj(data.edge_index, max_num_nodes=40)[0] + torch.eye(40)
    a = a / a.sum(dim=1, keepdim=True)
    assert torch.allclose(influence_weights(data.edge_index, 40, 3, False), a @ a @ a, atol=1e-6)
    assert torch.allclose(
        influence_weights(data.edge_index, 40, 3, True), a + a @ a + a @ a @ a, atol=1e-6
    )


def test_influence_contrast_matches_the_loop_reference() -> None:
    torch.manual_seed(0)
    z, p, t = torch.randn(12, 5), torch.rand(12, 12), 0.5
    p[3] = 0.0
    p[3, 3] = 1.0  # only a self weight: node 3 has no positive and is skipped
    zn = F.normalize(z, dim=1)
    total, count = 0.0, 0
    for i in range(12):
        others = [j for j in range(12) if j != i]
        pos = sum(float(p[i, j]) * math.exp(float(zn[i] @ zn[j]) / t) for j in others)
        if pos == 0:
            continue
        total += -math.log(pos / sum(math.exp(float(zn[i] @ zn[j]) / t) for j in others))
        count += 1
    assert influence_contrast(z, p, t).item() == pytest.approx(total / count, rel=1e-5)
    with pytest.raises(ValueError, match="no node has a neighbour"):
        influence_contrast(z, torch.eye(12), t)


def test_dec_target_sharpens_and_normalises() -> None:
    q = student_t_assignment(
        torch.tensor([[0.0, 0.0], [2.0, 2.0]]), torch.tensor([[0.0, 0.0], [2.0, 2.0]])
    )
    assert torch.allclose(q.sum(1), torch.ones(2))
    p = target_distribution(q)
    assert torch.allclose(p.sum(1), torch.ones(2)) and (p.max(1).values > q.max(1).values).all()


@pytest.mark.parametrize("decoder", [False, True])
def test_scgc_step_and_clusters(decoder: bool) -> None:
    torch.manual_seed(0)
    data = stochastic_block_model(60, 3, 5.0, 1.0, 8, 1.0, seed=0)
    cfg = SCGCConfig(hidden_dims=[16], out_dim=4, num_clusters=3, decoder=decoder)
    method = SCGC(8, cfg)
    out = method.training_step(data)
    assert torch.isfinite(out["loss"]) and ("reconstruction" in out) == decoder
    out["loss"].backward()
    assert method.centroids.grad is not None
    assert method.communities(data).shape == (60,)
    with pytest.raises(ValueError, match="7 clusters for 5 nodes"):
        SCGC(8, SCGCConfig(hidden_dims=[4], out_dim=2, num_clusters=7)).initialise_centroids(
            torch.randn(5, 8)
        )


def test_autoencoder_pretraining_lowers_the_reconstruction_error() -> None:
    torch.manual_seed(0)
    x = torch.randn(80, 3) @ torch.randn(3, 8)  # rank 3: a 4-dim code can reconstruct it
    method = SCGC(
        8, SCGCConfig(hidden_dims=[16], out_dim=4, num_clusters=3, ae_epochs=40, ae_batch_size=8)
    )
    losses = method.pretrain_autoencoder(x)
    assert len(losses) == 40 and losses[-1] < 0.5 * losses[0]
    assert all(p.grad is None for p in method.parameters())
    with pytest.raises(ValueError, match="needs the decoder"):
        SCGC(
            8, SCGCConfig(hidden_dims=[16], out_dim=4, num_clusters=3, ae_epochs=0)
        ).pretrain_autoencoder(x)


def test_scgc_star_keeps_the_decoder_out_of_its_loss() -> None:
    torch.manual_seed(0)
    data = stochastic_block_model(60, 3, 5.0, 1.0, 8, 1.0, seed=0)
    star = SCGC(8, SCGCConfig(hidden_dims=[16], out_dim=4, num_clusters=3, ae_epochs=2))
    out = star.training_step(data)
    assert "reconstruction" not in out and bool(star.initialised)
    out["loss"].backward()
    assert all(p.grad is None for p in star.decoder.parameters())
    assert SCGC(8, SCGCConfig(hidden_dims=[16], out_dim=4, ae_epochs=0)).decoder is None
