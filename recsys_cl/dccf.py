"""DCCF: disentangled contrastive collaborative filtering on the user-item graph.

Ren, Xia, Zhao, Yin, Huang, Xia, SIGIR 2023, "Disentangled Contrastive Collaborative Filtering";
official code github.com/HKUDS/DCCF (``model.py``). With ``E^0`` the user and item embeddings, ``G``
the symmetrically normalised bipartite adjacency ``D^-1/2 A D^-1/2`` and, per layer ``l``:

    graph view      Z_g = G E^l
    intent view     Z_i = [softmax(E_u^l W_u) W_u^T ; softmax(E_i^l W_i) W_i^T]    (K intents)
    augmented views Z_ga = M(Z_g) E^l,  Z_ia = M(Z_i) E^l
    E^{l+1} = Z_g + Z_i + Z_ga + Z_ia + E^l,            final embeddings  sum_l E^l

where the learned interaction mask ``M(Z)`` re-weights every edge (u, v) by
``a_uv = (cos(Z_u, Z_v) + 1) / 2`` and row-normalises: ``M(Z)_uv = a_uv / sum_v' a_uv'``.
The loss is

    L = BPR + emb_reg * ||E^0_batch||^2 + cen_reg * (||W_u||^2 + ||W_i||^2)
        + ssl_reg * sum_l sum_{V in {Z_i, Z_ga, Z_ia}} [InfoNCE(Z_g, V)_U + InfoNCE(Z_g, V)_I]

with the InfoNCE terms over the batch's distinct users (items), cosine similarity, temperature
``t``, one direction and the N - 1 other rows of the second view as negatives (the official
``cal_ssl_loss``), computed by :func:`shared.losses.info_nce`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from recsys_cl.interaction_graph import InteractionGraph
from shared.losses import info_nce


@dataclass
class DCCFConfig:
    """Model and loss hyper-parameters (defaults: the official ``utility/parser.py``)."""

    embedding_dim: int = 32
    n_layers: int = 2
    n_intents: int = 128
    temperature: float = 1.0
    emb_reg: float = 2.5e-5
    cen_reg: float = 5e-3
    ssl_reg: float = 0.1


def propagate(x: Tensor, heads: Tensor, tails: Tensor, weights: Tensor) -> Tensor:
    """Sparse message passing ``out[h] = sum_{(h, t)} w_ht x[t]`` (differentiable in x and w)."""
    return torch.zeros_like(x).index_add(0, heads, weights[:, None] * x[tails])


def interaction_mask(z: Tensor, heads: Tensor, tails: Tensor) -> Tensor:
    """DCCF's learned edge weights: ``a = (cos(z_h, z_t) + 1) / 2``, normalised over each head."""
    alpha = (F.cosine_similarity(z[heads], z[tails], dim=1) + 1) / 2
    total = torch.zeros(z.shape[0], dtype=z.dtype, device=z.device).index_add(0, heads, alpha)
    return alpha / total[heads].clamp_min(torch.finfo(z.dtype).tiny)


@dataclass
class DCCFViews:
    """Per-layer views (graph, intent, graph-masked, intent-masked) and the final embeddings."""

    graph: list[Tensor]
    intent: list[Tensor]
    graph_masked: list[Tensor]
    intent_masked: list[Tensor]
    users: Tensor
    items: Tensor


class DCCF(nn.Module):
    """DCCF over a fixed training graph (module docstring). Batches: ``{"users","pos","neg"}``."""

    heads: Tensor  # buffers registered in __init__
    tails: Tensor
    norm: Tensor

    def __init__(self, graph: InteractionGraph, cfg: DCCFConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or DCCFConfig()
        if cfg.n_layers < 1 or cfg.n_intents < 1 or cfg.embedding_dim < 1:
            raise ValueError("n_layers, n_intents and embedding_dim must be >= 1")
        if cfg.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {cfg.temperature}")
        self.n_users, self.n_items = graph.n_users, graph.n_items
        self.register_buffer("heads", graph.heads, persistent=False)
        self.register_buffer("tails", graph.tails, persistent=False)
        self.register_buffer("norm", graph.norm, persistent=False)
        self.user_embedding = nn.Parameter(
            nn.init.xavier_normal_(torch.empty(graph.n_users, cfg.embedding_dim))
        )
        self.item_embedding = nn.Parameter(
            nn.init.xavier_normal_(torch.empty(graph.n_items, cfg.embedding_dim))
        )
        self.user_intents = nn.Parameter(
            nn.init.xavier_normal_(torch.empty(cfg.embedding_dim, cfg.n_intents))
        )
        self.item_intents = nn.Parameter(
            nn.init.xavier_normal_(torch.empty(cfg.embedding_dim, cfg.n_intents))
        )

    def views(self) -> DCCFViews:
        """Propagate over the whole graph (every training step, as the official code does)."""
        x = torch.cat([self.user_embedding, self.item_embedding])
        layers = [x]
        out = DCCFViews([], [], [], [], x, x)
        for _ in range(self.cfg.n_layers):
            graph = propagate(x, self.heads, self.tails, self.norm)
            users, items = x.split([self.n_users, self.n_items])
            intent = torch.cat(
                [
                    torch.softmax(users @ self.user_intents, dim=1) @ self.user_intents.T,
                    torch.softmax(items @ self.item_intents, dim=1) @ self.item_intents.T,
                ]
            )
            graph_masked = propagate(
                x, self.heads, self.tails, interaction_mask(graph, self.heads, self.tails)
            )
            intent_masked = propagate(
                x, self.heads, self.tails, interaction_mask(intent, self.heads, self.tails)
            )
            for store, view in zip(
                (out.graph, out.intent, out.graph_masked, out.intent_masked),
                (graph, intent, graph_masked, intent_masked),
                strict=True,
            ):
                store.append(view)
            x = graph + intent + graph_masked + intent_masked + x
            layers.append(x)
        final = torch.stack(layers).sum(0)
        out.users, out.items = final.split([self.n_users, self.n_items])
        return out

    def training_step(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        users, pos, neg = batch["users"], batch["pos"], batch["neg"]
        views = self.views()
        u = views.users[users]
        bpr = F.softplus((u * views.items[neg]).sum(1) - (u * views.items[pos]).sum(1)).mean()
        emb = self.cfg.emb_reg * (
            self.user_embedding[users].square().sum()
            + self.item_embedding[pos].square().sum()
            + self.item_embedding[neg].square().sum()
        )
        cen = self.cfg.cen_reg * (
            self.user_intents.square().sum() + self.item_intents.square().sum()
        )
        ssl = self.cfg.ssl_reg * self.contrastive_loss(views, users.unique(), pos.unique())
        return {
            "loss": bpr + emb + cen + ssl,
            "bpr": bpr,
            "emb_reg": emb,
            "cen_reg": cen,
            "ssl": ssl,
        }

    def contrastive_loss(self, views: DCCFViews, users: Tensor, items: Tensor) -> Tensor:
        """Sum over layers of InfoNCE(graph view, other view) for the given users and items."""
        total = torch.zeros((), device=users.device)
        nodes = (users, items + self.n_users)
        for layer in range(self.cfg.n_layers):
            for other in (views.intent, views.graph_masked, views.intent_masked):
                for index in nodes:
                    total = total + info_nce(
                        views.graph[layer][index],
                        other[layer][index],
                        self.cfg.temperature,
                        intra_view_negatives=False,
                        symmetric=False,
                    )
        return total

    @torch.no_grad()
    def user_scores(self, users: Tensor, views: DCCFViews | None = None) -> Tensor:
        """Scores (B, n_items) of all items for ``users``; ``views`` reuses a propagation."""
        views = views or self.views()
        return views.users[users] @ views.items.T

    def embed(self, users: Tensor) -> Tensor:
        return self.views().users[users]
