"""Golden values from the official GRACE and gCooL code: fixed inputs and weights, frozen outputs.

The inputs are built by :func:`golden_inputs` from ``numpy.random.RandomState(seed)`` (a stream
numpy keeps stable): a 12-node graph with 7 features, two views (feature columns zeroed, edges
removed), and every weight of the encoder, the projection head and (gCooL) the community centroids.
The expected numbers were computed once, on 2026-12-06, by loading these same arrays into

- GRACE's ``Model`` / ``Encoder`` (github.com/CRIPAC-DIG/GRACE, ``model.py``, commit
  b3b5ac3fcbaabbb50e8bd69a075b46cd82a50378): ``model.loss(model(x1, e1), model(x2, e2))`` with
  ReLU, tau = 0.4;
- gCooL's ``gCooL`` / ``Encoder`` (github.com/lblaoke/gCooL, ``src/model.py``, commit
  85c2151d2130413cb8a5154c241d56f476fae12e), ``similarity='cos'``: ``gCooL.fit`` at epoch 3
  with an SGD optimiser of learning rate 0 (its returned loss), and the parts ``node_contrast``,
  ``community_assign``, ``DeCA`` and ``community_contrast`` on the same projected views;

in a scratch directory, with torch 2.13 CPU and torch-geometric 2.8.1 (float32). The official code
is not part of this repository; only its outputs are.

One known difference is asserted, not hidden: the official ``node_contrast`` sets ``s21 = s12``, so
only view-1 anchors count; ours averages both directions (``graph_cl.gcool``). Its one-direction
form is checked against the official number, and the joint loss up to exactly that term.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv

from graph_cl.contrast import node_contrast, reweighted_community_contrast
from graph_cl.encoders import EncoderConfig, GCNEncoder
from graph_cl.gcool import GCooL, GCoolConfig
from graph_cl.grace import GRACE, GraceConfig
from shared.losses import info_nce
from shared.losses.tiled import tiled_info_nce

NUM_NODES, IN_DIM = 12, 7
GRACE_OUT, GRACE_PROJ, GRACE_TAU = 4, 3, 0.4
GCOOL_HIDDEN, GCOOL_OUT, GCOOL_PROJ, GCOOL_K = 8, 4, 3, 3
GCOOL_TAU, GCOOL_LAMBDA, GCOOL_STRIDE, GCOOL_ALPHA_RATE, GCOOL_EPOCH = 0.5, 0.7, 20, 0.5, 3


def _undirected_edges(rng: np.random.RandomState) -> np.ndarray:
    """A ring over the 12 nodes plus 8 random chords, both directions, no duplicates or loops."""
    pairs = {(i, (i + 1) % NUM_NODES) for i in range(NUM_NODES)}
    while len(pairs) < NUM_NODES + 8:
        a, b = rng.randint(0, NUM_NODES, size=2)
        if a != b and (a, b) not in pairs and (b, a) not in pairs:
            pairs.add((int(a), int(b)))
    both = sorted(pairs | {(b, a) for a, b in pairs})
    return np.array(both, dtype=np.int64).T


def golden_inputs(seed: int) -> dict[str, Tensor]:
    """Features, two views and every weight, all float32 from ``RandomState(seed)``."""
    rng = np.random.RandomState(seed)

    def normal(*shape: int, scale: float = 1.0) -> Tensor:
        return torch.from_numpy((scale * rng.standard_normal(shape)).astype(np.float32))

    x = torch.from_numpy(rng.standard_normal((NUM_NODES, IN_DIM)).astype(np.float32))
    edges = torch.from_numpy(_undirected_edges(rng))
    keep1 = torch.from_numpy(rng.rand(edges.shape[1]) >= 0.2)
    keep2 = torch.from_numpy(rng.rand(edges.shape[1]) >= 0.4)
    mask1 = torch.from_numpy((rng.rand(IN_DIM) >= 0.3).astype(np.float32))
    mask2 = torch.from_numpy((rng.rand(IN_DIM) >= 0.4).astype(np.float32))
    return {
        "x1": x * mask1,
        "x2": x * mask2,
        "e1": edges[:, keep1],
        "e2": edges[:, keep2],
        # GRACE: Encoder(7 -> 2*4 -> 4), fc1 (4 -> 3), fc2 (3 -> 4)
        "grace_w0": normal(2 * GRACE_OUT, IN_DIM),
        "grace_b0": normal(2 * GRACE_OUT, scale=0.1),
        "grace_w1": normal(GRACE_OUT, 2 * GRACE_OUT),
        "grace_b1": normal(GRACE_OUT, scale=0.1),
        "grace_fc1_w": normal(GRACE_PROJ, GRACE_OUT),
        "grace_fc1_b": normal(GRACE_PROJ, scale=0.1),
        "grace_fc2_w": normal(GRACE_OUT, GRACE_PROJ),
        "grace_fc2_b": normal(GRACE_OUT, scale=0.1),
        # gCooL: Encoder(7 -> 8 -> 4), Projection(4 -> 3 -> 4), 3 centroids in R^4
        "gcool_w0": normal(GCOOL_HIDDEN, IN_DIM),
        "gcool_b0": normal(GCOOL_HIDDEN, scale=0.1),
        "gcool_w1": normal(GCOOL_OUT, GCOOL_HIDDEN),
        "gcool_b1": normal(GCOOL_OUT, scale=0.1),
        "gcool_fc1_w": normal(GCOOL_PROJ, GCOOL_OUT),
        "gcool_fc1_b": normal(GCOOL_PROJ, scale=0.1),
        "gcool_fc2_w": normal(GCOOL_OUT, GCOOL_PROJ),
        "gcool_fc2_b": normal(GCOOL_OUT, scale=0.1),
        "gcool_center": normal(GCOOL_K, GCOOL_OUT, scale=1.0),
    }


def _load(method: GRACE | GCooL, w: dict[str, Tensor], prefix: str) -> None:
    """Copy the golden weights into our module (GCN layers, projection head, centroids)."""
    encoder = method.encoders[0]
    fc1, fc2 = method.projector.net[0], method.projector.net[2]
    assert isinstance(encoder, GCNEncoder)
    assert isinstance(fc1, nn.Linear) and isinstance(fc2, nn.Linear)
    with torch.no_grad():
        for i, conv in enumerate(encoder.convs):
            assert isinstance(conv, GCNConv)
            conv.lin.weight.copy_(w[f"{prefix}_w{i}"])
            conv.bias.copy_(w[f"{prefix}_b{i}"])
        fc1.weight.copy_(w[f"{prefix}_fc1_w"])
        fc1.bias.copy_(w[f"{prefix}_fc1_b"])
        fc2.weight.copy_(w[f"{prefix}_fc2_w"])
        fc2.bias.copy_(w[f"{prefix}_fc2_b"])
        if isinstance(method, GCooL):
            method.deca.centroids.copy_(w["gcool_center"])


def _grace(w: dict[str, Tensor], tiled: bool) -> GRACE:
    encoder = EncoderConfig(hidden_dim=2 * GRACE_OUT, out_dim=GRACE_OUT, proj_dim=GRACE_PROJ)
    method = GRACE(IN_DIM, GraceConfig(encoder=encoder, temperature=GRACE_TAU, tiled=tiled))
    _load(method, w, "grace")
    return method


def _gcool(w: dict[str, Tensor]) -> GCooL:
    cfg = GCoolConfig(
        encoder=EncoderConfig(hidden_dim=GCOOL_HIDDEN, out_dim=GCOOL_OUT, proj_dim=GCOOL_PROJ),
        temperature=GCOOL_TAU,
        num_communities=GCOOL_K,
        inter_weight=GCOOL_LAMBDA,
        gamma=0.0,  # the official default similarity='cos' path has unit community weights
        stride=GCOOL_STRIDE,
        alpha_rate=GCOOL_ALPHA_RATE,
    )
    method = GCooL(IN_DIM, cfg)
    _load(method, w, "gcool")
    method.on_epoch_end(GCOOL_EPOCH)
    return method


def _projected(method: GRACE | GCooL, w: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    encoder = method.encoders[0]
    h1 = method.projector(encoder(w["x1"], w["e1"]))
    h2 = method.projector(encoder(w["x2"], w["e2"]))
    return h1, h2


# Official outputs, per input seed (see the module docstring for how they were produced).
GRACE_GOLDEN: dict[int, dict[str, float]] = {
    0: {"z1_sum": 30.039587020874023, "loss": 3.0118188858032227},
    1: {"z1_sum": 6.502951145172119, "loss": 3.214352607727051},
}
GCOOL_GOLDEN: dict[int, dict[str, Any]] = {
    0: {
        "h1_sum": -21.430660247802734,
        "h2_sum": -21.61386489868164,
        "r1_sum_sq": 4.338338375091553,
        "communities1": [2, 0, 0, 2, 2, 1, 1, 2, 2, 2, 2, 2],
        "communities2": [2, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2],  # community 1 empty in view 2
        "node": 2.384880781173706,
        "deca1": -0.5844046473503113,
        "deca2": -0.42853987216949463,
        "community": 0.7238146662712097,
        "fit_loss": 2.150308609008789,
    },
    1: {
        "h1_sum": 6.4180145263671875,
        "h2_sum": 6.727720737457275,
        "r1_sum_sq": 4.713068008422852,
        "communities1": [0, 2, 2, 2, 2, 2, 2, 2, 1, 1, 2, 2],
        "communities2": [2, 2, 1, 1, 1, 1, 2, 2, 2, 1, 1, 2],
        "node": 2.7253191471099854,
        "deca1": -0.6897674798965454,
        "deca2": -0.45275914669036865,
        "community": 1.1738581657409668,
        "fit_loss": 2.495591878890991,
    },
}
REL = 1e-5  # float32 sums of a few dozen terms


@pytest.mark.parametrize("tiled", [False, True])
@pytest.mark.parametrize("seed", sorted(GRACE_GOLDEN))
def test_grace_loss_reproduces_the_official_model(seed: int, tiled: bool) -> None:
    w = golden_inputs(seed)
    golden = GRACE_GOLDEN[seed]
    method = _grace(w, tiled)
    z1 = method.encoders[0](w["x1"], w["e1"])
    assert z1.sum().item() == pytest.approx(golden["z1_sum"], rel=REL)
    h1, h2 = _projected(method, w)
    loss = method.objective(h1, h2, w["e1"], w["e2"])["loss"]
    assert loss.item() == pytest.approx(golden["loss"], rel=REL)


@pytest.mark.parametrize("seed", sorted(GCOOL_GOLDEN))
def test_gcool_parts_reproduce_the_official_model(seed: int) -> None:
    w = golden_inputs(seed)
    golden = GCOOL_GOLDEN[seed]
    method = _gcool(w)
    h1, h2 = _projected(method, w)
    assert h1.sum().item() == pytest.approx(golden["h1_sum"], rel=REL)
    assert h2.sum().item() == pytest.approx(golden["h2_sum"], rel=REL)
    r1, deca1 = method.deca(h1, w["e1"])
    r2, deca2 = method.deca(h2, w["e2"])
    assert r1.pow(2).sum().item() == pytest.approx(golden["r1_sum_sq"], rel=REL)
    assert r1.argmax(1).tolist() == golden["communities1"]
    assert r2.argmax(1).tolist() == golden["communities2"]
    assert deca1.item() == pytest.approx(golden["deca1"], rel=REL)
    assert deca2.item() == pytest.approx(golden["deca2"], rel=REL)
    resc = (
        reweighted_community_contrast(h1, h2, r2, GCOOL_TAU, 0.0)
        + reweighted_community_contrast(h2, h1, r1, GCOOL_TAU, 0.0)
    ) / 2
    assert resc.item() == pytest.approx(golden["community"], rel=REL)
    # the official node term: view-1 anchors only
    for loss_fn in (info_nce, tiled_info_nce):
        one_way = loss_fn(h1, h2, GCOOL_TAU, intra_view_negatives=False, symmetric=False)
        assert one_way.item() == pytest.approx(golden["node"], rel=REL)


@pytest.mark.parametrize("seed", sorted(GCOOL_GOLDEN))
def test_gcool_joint_loss_is_the_official_fit_up_to_the_symmetric_node_term(seed: int) -> None:
    w = golden_inputs(seed)
    golden = GCOOL_GOLDEN[seed]
    method = _gcool(w)
    h1, h2 = _projected(method, w)
    out = method.objective(h1, h2, w["e1"], w["e2"])
    alpha = max(0.0, 1 - GCOOL_EPOCH / (GCOOL_ALPHA_RATE * GCOOL_STRIDE))
    coef = math.exp(-GCOOL_EPOCH / GCOOL_STRIDE)
    assert method.schedule() == pytest.approx((alpha, coef))
    symmetric = node_contrast(h1, h2, GCOOL_TAU, intra_view_negatives=False, tiled=False)
    assert out["node"].item() == pytest.approx(symmetric.item(), rel=REL)
    official_with_our_node = golden["fit_loss"] - golden["node"] + symmetric.item()
    assert out["loss"].item() == pytest.approx(official_with_our_node, rel=REL)
