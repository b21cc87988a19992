"""SCGC and SCGC*: Self-supervised Contrastive Graph Clustering without convolutions (Kulatilleke,
Portmann, Chandra 2022, arXiv 2204.12656; official code github.com/gayanku/SCGC).

The graph enters only the loss: an MLP encoder maps node features to z (no message passing, so
inference needs no graph), and neighbours are pulled together by the influence contrastive loss

    L_IAC = -(1/N) sum_i log( sum_{j != i} p_ij e^{cos(z_i, z_j) / t}
                              / sum_{k != i} e^{cos(z_i, z_k) / t} ),

with positive weights p = A_norm^r (SCGC: the r-th power of the row-normalised adjacency with self
loops) or the "influence" p = sum_{q=1..r} A_norm^q (SCGC*, the IAC loss). This is the neighbour
contrast of Graph-MLP (Hu et al. 2021): the log of the weighted positive mass, i.e.
``shared.losses.weighted_info_nce`` in its ``positive_form="in"``. (The official code, after
Graph-MLP, sets the self-similarity to 0 instead of removing the self pair, so each node also
counts itself, with weight p_ii and similarity 0, in both sums; here self pairs are excluded.)
Clustering is DEC's (Xie et al. 2016): Student-t soft assignments q_ik proportional to
(1 + ||z_i - mu_k||^2)^-1 to learnable centroids mu (initialised by k-means), sharpened targets
p_ik = (q_ik^2 / f_k) / sum_l (q_il^2 / f_l), f_k = sum_i q_ik, and KL(P || Q). SCGC adds an MLP
decoder with a reconstruction loss; SCGC* drops it (about half the parameters):

    L = alpha * L_IAC + beta * KL(P || Q) [+ ||x - x_hat||^2 / (N F) for SCGC].

Initialisation (official ``train.py``, which loads SDCN's pretrained autoencoder, Bo et al. 2020,
``pretrain_ae.py``): before the first step the encoder and a mirrored decoder are trained as an
autoencoder on the node features, ``||x - dec(enc(x))||^2`` (Adam, lr 1e-3, mini-batches of 256,
``ae_epochs`` = 30 in SDCN; 0 trains from scratch), then DEC's centroids are initialised by k-means
on the encoder output. The decoder is kept for SCGC's reconstruction term and unused by SCGC*.
The similarity matrix is N x N: SCGC targets graphs of up to a few tens of
thousands of nodes (``max_nodes`` caps the nodes contrasted per step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans
from torch import Tensor, nn
from torch_geometric.data import Data
from torch_geometric.utils import add_remaining_self_loops, degree

from shared.losses import weighted_info_nce


@dataclass
class SCGCConfig:
    """SCGC / SCGC* hyper-parameters (official names: alpha, beta, order, tau, influence)."""

    hidden_dims: list[int] = field(default_factory=lambda: [500, 500, 2000])
    out_dim: int = 10
    num_clusters: int = 7
    order: int = 2
    influence: bool = True
    decoder: bool = False
    temperature: float = 4.0
    alpha: float = 1.0
    beta: float = 0.1
    max_nodes: int = 0
    ae_epochs: int = 30
    ae_lr: float = 1e-3
    ae_batch_size: int = 256

    def __post_init__(self) -> None:
        if self.ae_epochs < 0 or self.ae_batch_size < 1 or not self.ae_lr > 0:
            raise ValueError("scgc.ae_epochs must be >= 0, ae_batch_size >= 1 and ae_lr > 0")
        if self.order < 1:
            raise ValueError(f"scgc.order must be >= 1, got {self.order}")
        if self.num_clusters < 2:
            raise ValueError(f"scgc.num_clusters must be >= 2, got {self.num_clusters}")
        if not self.temperature > 0:
            raise ValueError(f"scgc.temperature must be > 0, got {self.temperature!r}")


def mlp(dims: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(pairwise(dims)):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def influence_weights(edge_index: Tensor, num_nodes: int, order: int, cumulative: bool) -> Tensor:
    """Dense positive weights p (N, N): A_norm^order, or sum_{q<=order} A_norm^q when
    ``cumulative``; A_norm = D^-1 (A + I), computed with sparse products."""
    edges, _ = add_remaining_self_loops(edge_index, num_nodes=num_nodes)
    weight = 1.0 / degree(edges[0], num_nodes)[edges[0]]
    adj = torch.sparse_coo_tensor(
        edges, weight, (num_nodes, num_nodes), check_invariants=True
    ).coalesce()
    power = adj.to_dense()
    total = power.clone()
    for _ in range(order - 1):
        power = torch.sparse.mm(adj, power)
        total = total + power
    return total if cumulative else power


def influence_contrast(z: Tensor, pos_weight: Tensor, temperature: float) -> Tensor:
    """L_IAC of the module docstring; the diagonal (self pairs) is excluded everywhere."""
    n = z.shape[0]
    if pos_weight.shape != (n, n):
        raise ValueError(f"pos_weight must have shape {(n, n)}, got {tuple(pos_weight.shape)}")
    off_diag = (~torch.eye(n, dtype=torch.bool, device=z.device)).to(z.dtype)
    weights = pos_weight * off_diag
    if not (weights.sum(dim=1) > 0).any():
        raise ValueError("no node has a neighbour to contrast with (the graph has no edges)")
    return weighted_info_nce(z, z, weights, off_diag, temperature, positive_form="in")


def student_t_assignment(z: Tensor, centroids: Tensor) -> Tensor:
    """DEC soft assignment q (N, K) with one degree of freedom."""
    q = 1.0 / (1.0 + torch.cdist(z, centroids).pow(2))
    return q / q.sum(dim=1, keepdim=True)


def target_distribution(q: Tensor) -> Tensor:
    """DEC's sharpened targets p_ik = (q_ik^2 / f_k) / sum_l (q_il^2 / f_l)."""
    weight = q.pow(2) / q.sum(dim=0)
    return weight / weight.sum(dim=1, keepdim=True)


class SCGC(nn.Module):
    """SCGC (``decoder=True, influence=False``) and SCGC* (``decoder=False, influence=True``)."""

    initialised: Tensor  # bool buffer registered in __init__

    def __init__(self, in_dim: int, cfg: SCGCConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dims = [in_dim, *cfg.hidden_dims, cfg.out_dim]
        self.encoder = mlp(dims)
        self.decoder = mlp(dims[::-1]) if cfg.decoder or cfg.ae_epochs else None
        self.centroids = nn.Parameter(torch.zeros(cfg.num_clusters, cfg.out_dim))
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))
        self._weights: Tensor | None = None

    def _positive_weights(self, data: Data) -> Tensor:
        """p of the module docstring, computed once for the training graph and reused."""
        if self._weights is None or self._weights.shape[0] != data.num_nodes:
            self._weights = influence_weights(
                data.edge_index, data.num_nodes, self.cfg.order, self.cfg.influence
            )
        return self._weights

    def pretrain_autoencoder(self, x: Tensor) -> list[float]:
        """SDCN's autoencoder pretraining (module docstring); returns the mean loss per epoch."""
        if self.decoder is None:
            raise ValueError("autoencoder pretraining needs the decoder: set scgc.ae_epochs > 0")
        params = [*self.encoder.parameters(), *self.decoder.parameters()]
        optimizer = torch.optim.Adam(params, lr=self.cfg.ae_lr)
        losses = []
        with torch.enable_grad():
            for _ in range(self.cfg.ae_epochs):
                total = 0.0
                for rows in torch.randperm(x.shape[0], device=x.device).split(
                    self.cfg.ae_batch_size
                ):
                    loss = F.mse_loss(self.decoder(self.encoder(x[rows])), x[rows])
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total += float(loss) * len(rows)
                losses.append(total / x.shape[0])
        for param in params:
            param.grad = None
        return losses

    @torch.no_grad()
    def initialise_centroids(self, x: Tensor) -> None:
        """Autoencoder pretraining (``ae_epochs`` > 0), then k-means on the embeddings (as the
        official code does before training)."""
        if x.shape[0] < self.cfg.num_clusters:
            raise ValueError(
                f"{self.cfg.num_clusters} clusters for {x.shape[0]} nodes: use at most as many "
                "clusters as nodes"
            )
        if self.cfg.ae_epochs:
            self.pretrain_autoencoder(x)
        z = self.encoder(x).cpu().numpy()
        km = KMeans(self.cfg.num_clusters, n_init=10, random_state=0).fit(z)
        self.centroids.copy_(torch.as_tensor(km.cluster_centers_, dtype=self.centroids.dtype))
        self.initialised.fill_(True)

    def training_step(self, batch: Data) -> dict[str, Tensor]:
        if not bool(self.initialised):
            self.initialise_centroids(batch.x)
        pos = self._positive_weights(batch)
        x = batch.x
        if self.cfg.max_nodes and self.cfg.max_nodes < x.shape[0]:
            nodes = torch.randperm(x.shape[0], device=x.device)[: self.cfg.max_nodes]
            x, pos = x[nodes], pos[nodes][:, nodes]
        z = self.encoder(x)
        q = student_t_assignment(z, self.centroids)
        kl = F.kl_div(q.log(), target_distribution(q.detach()), reduction="batchmean")
        contrast = influence_contrast(z, pos, self.cfg.temperature)
        loss = self.cfg.alpha * contrast + self.cfg.beta * kl
        out = {"contrast": contrast, "kl": kl}
        if self.decoder is not None and self.cfg.decoder:
            recon = F.mse_loss(self.decoder(z), x)
            loss = loss + recon
            out["reconstruction"] = recon
        return {"loss": loss, **out}

    def embed(self, data: Data) -> Tensor:
        return self.encoder(data.x)

    @torch.no_grad()
    def communities(self, data: Data) -> Tensor:
        """Cluster of each node: argmax of the Student-t assignment."""
        return student_t_assignment(self.embed(data), self.centroids).argmax(dim=1)
