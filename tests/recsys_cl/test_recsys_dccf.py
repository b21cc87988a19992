"""DCCF: graph normalisation, learned masks, losses against the official formulas, batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from recsys_cl.dccf import DCCF, DCCFConfig, interaction_mask, propagate
from recsys_cl.evaluation import evaluate_dccf
from recsys_cl.interaction_graph import BPRBatches, InteractionGraph, leave_one_out_graph

USERS = np.array([0, 0, 1, 1, 1, 2, 3, 3, 0])
ITEMS = np.array([0, 2, 1, 2, 3, 3, 0, 4, 0])  # (0, 0) twice: one edge


def _dense_adjacency(graph: InteractionGraph) -> torch.Tensor:
    a = torch.zeros(graph.n_nodes, graph.n_nodes)
    a[graph.heads, graph.tails] = 1.0
    return a


def test_graph_normalisation_is_d_half_a_d_half():
    graph = InteractionGraph(USERS, ITEMS, n_users=4, n_items=5)
    assert len(graph.users) == 8  # duplicate interaction merged
    a = _dense_adjacency(graph)
    d = a.sum(1).pow(-0.5)
    expected = d[:, None] * a * d[None, :]
    x = torch.randn(graph.n_nodes, 3)
    torch.testing.assert_close(propagate(x, graph.heads, graph.tails, graph.norm), expected @ x)
    assert graph.contains(np.array([0, 0, 2]), np.array([2, 1, 3])).tolist() == [True, False, True]
    assert [i.tolist() for i in graph.user_items()] == [[0, 2], [1, 2, 3], [3], [0, 4]]


def test_graph_rejects_bad_ids():
    with pytest.raises(ValueError, match=r"item ids in \[0, 5\)"):
        InteractionGraph(np.array([0]), np.array([5]), n_users=1, n_items=5)


def test_interaction_mask_rows_are_normalised_cosine_weights():
    graph = InteractionGraph(USERS, ITEMS, n_users=4, n_items=5)
    z = torch.randn(graph.n_nodes, 6)
    weights = interaction_mask(z, graph.heads, graph.tails)
    alpha = (F.cosine_similarity(z[graph.heads], z[graph.tails]) + 1) / 2
    dense = torch.zeros(graph.n_nodes, graph.n_nodes)
    dense[graph.heads, graph.tails] = alpha
    expected = dense / dense.sum(1, keepdim=True)
    torch.testing.assert_close(weights, expected[graph.heads, graph.tails])
    row_sums = torch.zeros(graph.n_nodes).index_add(0, graph.heads, weights)
    torch.testing.assert_close(row_sums, torch.ones(graph.n_nodes))


def official_cal_loss(e1: torch.Tensor, e2: torch.Tensor, t: float) -> torch.Tensor:
    e1, e2 = F.normalize(e1, dim=1), F.normalize(e2, dim=1)
    pos = torch.exp((e1 * e2).sum(1) / t)
    neg = torch.exp(e1 @ e2.T / t).sum(1)
    return -torch.log(pos / neg).mean()


def _model(**cfg) -> tuple[DCCF, InteractionGraph]:
    torch.manual_seed(0)
    graph = InteractionGraph(USERS, ITEMS, n_users=4, n_items=5)
    return DCCF(graph, DCCFConfig(embedding_dim=8, n_intents=4, **cfg)), graph


def test_contrastive_loss_matches_the_official_cal_ssl_loss():
    model, _ = _model(temperature=0.5)
    views = model.views()
    users, items = torch.tensor([0, 1, 3]), torch.tensor([0, 2, 4])
    expected = 0.0
    for layer in range(model.cfg.n_layers):
        for other in (views.intent, views.graph_masked, views.intent_masked):
            for nodes in (users, items + 4):  # items follow the 4 users in the node order
                expected += official_cal_loss(views.graph[layer][nodes], other[layer][nodes], 0.5)
    torch.testing.assert_close(model.contrastive_loss(views, users, items), expected)


def test_views_follow_the_layer_recursion():
    model, graph = _model(n_layers=1)
    views = model.views()
    x = torch.cat([model.user_embedding, model.item_embedding])
    graph_view = propagate(x, graph.heads, graph.tails, graph.norm)
    torch.testing.assert_close(views.graph[0], graph_view)
    u = torch.softmax(x[:4] @ model.user_intents, 1) @ model.user_intents.T
    torch.testing.assert_close(views.intent[0][:4], u)
    layer1 = views.graph[0] + views.intent[0] + views.graph_masked[0] + views.intent_masked[0] + x
    torch.testing.assert_close(torch.cat([views.users, views.items]), x + layer1)


def test_training_step_terms_gradients_and_learning():
    model, _ = _model()
    batch = {
        "users": torch.tensor([0, 1, 2, 3]),
        "pos": torch.tensor([2, 1, 3, 4]),
        "neg": torch.tensor([1, 0, 0, 2]),
    }
    out = model.training_step(batch)
    assert set(out) == {"loss", "bpr", "emb_reg", "cen_reg", "ssl"}
    cen = 5e-3 * (model.user_intents.square().sum() + model.item_intents.square().sum())
    torch.testing.assert_close(out["cen_reg"], cen)
    out["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = model.training_step(batch)["bpr"]
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first


def test_bpr_batches_sample_true_positives_and_negatives():
    graph = InteractionGraph(USERS, ITEMS, n_users=4, n_items=5)
    batches = BPRBatches(graph, batch_size=64, batches_per_epoch=3, seed=1)
    epoch = list(batches)
    assert len(epoch) == 3
    for b in epoch:
        assert graph.contains(b["users"].numpy(), b["pos"].numpy()).all()
        assert not graph.contains(b["users"].numpy(), b["neg"].numpy()).any()


def test_leave_one_out_graph_and_evaluation_exclude_training_items():
    sequences = [np.array([1, 2, 3, 4]), np.array([2, 3, 5]), np.array([4]), np.array([5, 1, 2, 3])]
    graph, targets = leave_one_out_graph(sequences, n_items=5)
    assert targets["users"].tolist() == [0, 1, 3]
    assert targets["valid"].tolist() == [2, 2, 1] and targets["test"].tolist() == [3, 4, 2]
    assert [i.tolist() for i in graph.user_items()] == [[0, 1], [1], [], [0, 4]]
    torch.manual_seed(0)
    model = DCCF(graph, DCCFConfig(embedding_dim=8, n_intents=4))
    metrics = evaluate_dccf(model, graph, targets, "test", ks=(1, 2))
    scores = model.user_scores(targets["users"])
    excluded = [[0, 1, 2], [1, 2], [0, 4, 1]]  # training items + the validation item
    ranks = []
    for row, (target, seen) in enumerate(zip(targets["test"].tolist(), excluded, strict=True)):
        candidates = [j for j in range(5) if j not in seen or j == target]
        ranks.append(sum(scores[row, j] >= scores[row, target] for j in candidates) - 1)
    assert metrics["HR@1"] == pytest.approx(np.mean([r < 1 for r in ranks]))
    assert metrics["HR@2"] == pytest.approx(np.mean([r < 2 for r in ranks]))
    with pytest.raises(ValueError, match="split must be"):
        evaluate_dccf(model, graph, targets, "train")
