"""The core's part of ``contrast demo``: NT-Xent pretraining of an MLP on a content/style data set.

Data (the latent-variable setting of von Kügelgen et al., NeurIPS 2021, "Self-Supervised Learning
with Data Augmentations Provably Isolates Content from Style"): a sample has content
c = mu_y + noise (``n_clusters`` planted clusters y) and a high-variance style s; the observation
is a fixed random non-linear mixing x = f(c, s). An augmentation keeps the content and redraws the
style, so an encoder trained with NT-Xent on view pairs learns to discard the style. The frozen
embedding and the raw features are scored by a linear probe trained on a few labels per class and
by k-means NMI against the planted clusters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, TensorDataset

from shared.domain import DemoRow
from shared.evaluation import cluster_scores, linear_probe
from shared.heads import ProjectionHead
from shared.losses import info_nce
from shared.training import Trainer, TrainerConfig, seed_everything


@dataclass
class ContentStyleClusters:
    n_samples: int = 2000
    n_clusters: int = 8
    content_dim: int = 4
    style_dim: int = 12
    dim: int = 32
    style_scale: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        g = torch.Generator().manual_seed(self.seed + 1)
        latent = self.content_dim + self.style_dim
        self._mix1 = torch.randn(latent, 64, generator=g) / latent**0.5
        self._mix2 = torch.randn(64, self.dim, generator=g) / 8.0

    def sample(self) -> tuple[Tensor, Tensor, Tensor]:
        """Content (N, content_dim), style (N, style_dim) and cluster labels (N,)."""
        g = torch.Generator().manual_seed(self.seed)
        centers = 2.0 * torch.randn(self.n_clusters, self.content_dim, generator=g)
        labels = torch.randint(self.n_clusters, (self.n_samples,), generator=g)
        content = centers[labels] + 0.3 * torch.randn(self.n_samples, self.content_dim, generator=g)
        style = self.style_scale * torch.randn(self.n_samples, self.style_dim, generator=g)
        return content, style, labels

    def observe(self, content: Tensor, style: Tensor) -> Tensor:
        """The fixed mixing x = f(c, s): a random two-layer tanh network."""
        return torch.tanh(torch.cat([content, style], dim=1) @ self._mix1) @ self._mix2

    def view(self, content: Tensor, style: Tensor) -> Tensor:
        """An augmented observation: same content, freshly drawn style."""
        return self.observe(content, self.style_scale * torch.randn_like(style))


class ViewPairContrast(nn.Module):
    """SimCLR (Chen et al. 2020) on vectors: encoder f, projection head g, NT-Xent on g(f(view))."""

    def __init__(
        self,
        data: ContentStyleClusters,
        hidden: int = 128,
        out_dim: int = 32,
        temperature: float = 0.2,
    ) -> None:
        super().__init__()
        self.data = data
        self.encoder = nn.Sequential(
            nn.Linear(data.dim, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
        )
        self.head = ProjectionHead(hidden, hidden, out_dim)
        self.temperature = temperature

    def training_step(self, batch: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        content, style = batch
        z1 = self.head(self.encoder(self.data.view(content, style)))
        z2 = self.head(self.encoder(self.data.view(content, style)))
        return {"loss": info_nce(z1, z2, self.temperature)}

    def embed(self, x: Tensor) -> Tensor:
        return self.encoder(x)


@dataclass
class CoreDemoConfig:
    data: ContentStyleClusters = field(default_factory=ContentStyleClusters)
    trainer: TrainerConfig = field(
        default_factory=lambda: TrainerConfig(epochs=20, lr=3e-3, tensorboard=False)
    )
    batch_size: int = 256
    labels_per_class: int = 10


def core_demo(out_dir: Path, cfg: CoreDemoConfig | None = None) -> list[DemoRow]:
    cfg = cfg or CoreDemoConfig()
    cfg.trainer.out_dir = str(out_dir)
    content, style, y = cfg.data.sample()
    loader = DataLoader(
        TensorDataset(content, style), batch_size=cfg.batch_size, shuffle=True, drop_last=True
    )
    seed_everything(cfg.trainer.seed)
    method = ViewPairContrast(cfg.data)
    Trainer(cfg.trainer, method, experiment=cfg).fit(loader)

    x = cfg.data.observe(content, style)
    train = torch.cat(
        [(y == k).nonzero().flatten()[: cfg.labels_per_class] for k in range(cfg.data.n_clusters)]
    )
    test = torch.ones(len(y), dtype=torch.bool)
    test[train] = False
    method.eval()
    with torch.no_grad():
        emb = method.embed(x)
    rows: list[DemoRow] = []
    raw: dict[str, float] = {}
    probe_name = f"probe acc ({cfg.labels_per_class}/class)"
    for name, feats in (("raw features", x), ("NT-Xent MLP", emb)):
        probe = linear_probe(feats[train], y[train], feats[test], y[test], c_grid=(1.0,))
        clusters = cluster_scores(feats, y, cfg.data.n_clusters, seed=cfg.data.seed)
        for metric, value in ((probe_name, probe["accuracy"]), ("k-means NMI", clusters["nmi"])):
            if name == "raw features":
                raw[metric] = value
                chance = 1 / cfg.data.n_clusters if metric == probe_name else 0.0
                reference = f"chance {chance:.2f}"
            else:
                reference = f"> raw features {raw[metric]:.2f}"
            rows.append(DemoRow("core", name, metric, value, reference))
    return rows
