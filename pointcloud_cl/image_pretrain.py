"""SLidR's image teacher without downloads: SimCLR on the data set's own camera images.

SLidR distils from a self-supervised image encoder (the official code: a MoCo v2 ResNet-50
pretrained on ImageNet). Offline there are no such weights, so ``contrast pointcloud
pretrain-image`` pretrains :class:`~pointcloud_cl.camera_backbone.ImageEncoder` on the camera
images of the train split with SimCLR (Chen, Kornblith, Norouzi, Hinton; "A Simple Framework for
Contrastive Learning of Visual Representations", ICML 2020). Every image x gives two augmented
views (random resized crop with MoCo v2's scale (0.2, 1) and aspect ratio [3/4, 4/3], horizontal
flip, brightness / contrast / saturation jitter with probability 0.8, grayscale with probability
0.2; no hue jitter or blur), h = mean-pool(f(x)) and z = g(h) with an MLP head g, and NT-Xent
over the N images of a batch on L2-normalised z:

    l(a_i, b_i) = -log [ exp(<a_i, b_i>/t) / D_i ],
    D_i = sum_k exp(<a_i, b_k>/t) + sum_{k != i} exp(<a_i, a_k>/t),
    L = (1/2N) sum_i [ l(z'_i, z''_i) + l(z''_i, z'_i) ],

i.e. ``shared.losses.info_nce(z', z'', t)``. The stage writes the encoder's state dict to
``<trainer.out_dir>/image_encoder.pt``; ``slidr.image_teacher`` pointing there makes it SLidR's
frozen teacher.

    contrast pointcloud pretrain-image --config configs/pointcloud/image_synthetic.yaml
    contrast pointcloud pretrain --config configs/pointcloud/slidr_synthetic.yaml \\
        slidr.image_teacher=runs/pointcloud/image/image_encoder.pt
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from pointcloud_cl._device import batch_to
from pointcloud_cl.camera_backbone import ImageEncoder, normalize_images
from pointcloud_cl.config import PointcloudExperiment
from pointcloud_cl.data import BatchStream
from shared.errors import InputError
from shared.heads import ProjectionHead
from shared.losses import info_nce
from shared.run_report import finish_run
from shared.training import Trainer, save_checkpoint_atomic, seed_everything

IMAGE_ENCODER_FILE = "image_encoder.pt"
_GRAY = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class ImageAugmentation:
    """One SimCLR / MoCo v2 view of an (H, W, 3) uint8 image, returned at the same size."""

    crop_scale: tuple[float, float] = (0.2, 1.0)
    jitter: float = 0.4

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        height, width = image.shape[:2]
        area = height * width * rng.uniform(*self.crop_scale)
        ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        crop_h = min(height, max(1, round(math.sqrt(area / ratio))))
        crop_w = min(width, max(1, round(math.sqrt(area * ratio))))
        top = int(rng.integers(0, height - crop_h + 1))
        left = int(rng.integers(0, width - crop_w + 1))
        crop = image[top : top + crop_h, left : left + crop_w]
        x = cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR)
        x = x.astype(np.float32) / 255.0
        if rng.random() < 0.5:
            x = x[:, ::-1]
        if rng.random() < 0.8:
            brightness, contrast, saturation = rng.uniform(1 - self.jitter, 1 + self.jitter, 3)
            x = x * brightness
            x = (x - x.mean()) * contrast + x.mean()
            gray = (x @ _GRAY)[..., None]
            x = (x - gray) * saturation + gray
        if rng.random() < 0.2:
            x = np.repeat((x @ _GRAY)[..., None], 3, axis=-1)
        return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


@dataclass
class ImageViews:
    """Two augmented views (2, N, 3, H, W) of N images, normalised like the camera branch."""

    views: Tensor

    def to(self, device: torch.device | str, non_blocking: bool = False) -> ImageViews:
        return batch_to(self, device, non_blocking)


def make_image_views(
    images: list[np.ndarray], augmentation: ImageAugmentation, rng: np.random.Generator
) -> ImageViews:
    """Two independent augmentations of every (H, W, 3) uint8 image."""
    views = np.stack([[augmentation(image, rng) for image in images] for _ in range(2)])
    return ImageViews(normalize_images(torch.from_numpy(views)))


class ImageContrast(nn.Module):
    """SimCLR on an :class:`ImageEncoder` (module docstring has the loss)."""

    def __init__(
        self, encoder: ImageEncoder, projection_dim: int = 64, temperature: float = 0.1
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = ProjectionHead(encoder.out_channels, encoder.out_channels, projection_dim)
        self.temperature = temperature

    def training_step(self, batch: ImageViews) -> dict[str, Tensor]:
        n = batch.views.shape[1]
        if n < 2:
            raise ValueError(f"SimCLR needs at least 2 images per batch, got {n}")
        z = self.head(self.encoder(batch.views.flatten(0, 1)).mean(dim=(2, 3)))
        return {"loss": info_nce(z[:n], z[n:], self.temperature)}

    @torch.no_grad()
    def embed(self, images: Tensor) -> Tensor:
        """Mean-pooled encoder features (N, C) of normalised images (N, 3, H, W)."""
        return self.encoder(images).mean(dim=(2, 3))


def camera_images(frames: list, image_hw: tuple[int, int]) -> list[np.ndarray]:
    """Every camera image of ``frames`` (``LidarFrame``), resized to ``image_hw`` (H, W)."""
    height, width = image_hw
    out = []
    for frame in frames:
        for cam in frame.cameras:
            image = cam.image
            if cam.image_hw != (height, width):
                image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
            out.append(image)
    return out


def pretrain_image(exp: PointcloudExperiment) -> Path:
    """SimCLR-pretrain the image encoder (width ``model.image_width``) on the train split's
    cameras with ``exp.trainer``; returns the path of ``image_encoder.pt``."""
    from pointcloud_cl.experiment import load_frames, open_data

    cfg = exp.image
    nusc = open_data(exp)
    train = load_frames(nusc, exp, exp.data.train_split, exp.data.cameras)
    images = camera_images(train.frames, (*exp.model.image_size,))
    if len(images) < 2:
        raise InputError(
            f"{exp.data.root}: pretrain-image needs camera images, found {len(images)}"
        )
    if len(images) % cfg.batch_size == 1:
        raise InputError(
            f"image.batch_size={cfg.batch_size} leaves one image of {len(images)} alone in the "
            "last batch (SimCLR needs two); choose another batch size"
        )
    seed_everything(exp.trainer.seed)
    method = ImageContrast(ImageEncoder(exp.model.image_width), cfg.projection_dim, cfg.temperature)
    augmentation = ImageAugmentation((*cfg.crop_scale,), cfg.jitter)

    def batch(index: list[int], rng: np.random.Generator) -> ImageViews:
        return make_image_views([images[i] for i in index], augmentation, rng)

    result = Trainer(exp.trainer, method, experiment=exp).fit(
        BatchStream(len(images), cfg.batch_size, batch)
    )
    out_dir = Path(exp.trainer.out_dir)
    path = save_checkpoint_atomic(method.encoder.state_dict(), out_dir / IMAGE_ENCODER_FILE)
    last = result.history[-1] if result.history else {}
    finish_run(
        out_dir,
        {
            "final_loss": float(last.get("loss", float("nan"))),
            "epochs": result.epochs_run,
            "images": len(images),
        },
        title=f"SimCLR image encoder on {len(images)} camera images; teacher: {path}",
        experiment=exp,
        tensorboard=exp.trainer.tensorboard,
    )
    return path
