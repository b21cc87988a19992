"""Frames of a nuScenes-format data set held in memory, and re-iterable batch streams.

``FrameSet`` loads the key frames of a devkit split once (points cropped to the voxel grid,
cameras, boxes) and computes per-frame regions and SLIC superpixels lazily. ``BatchStream`` is a
re-iterable the trainer walks once per epoch: it shuffles frames with numpy's global RNG (seeded
and checkpointed by ``shared.training``) and builds a fresh batch (new augmentations) each time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Generic, TypeVar

import numpy as np
from nuscenes.nuscenes import NuScenes

from pointcloud_cl.io import LidarFrame
from pointcloud_cl.nuscenes_data import check_sweeps, load_frame, split_sample_tokens
from pointcloud_cl.regions import RegionConfig, segment_regions
from pointcloud_cl.slidr import SuperpixelConfig, superpixels
from pointcloud_cl.sweeps import load_multisweep
from pointcloud_cl.velocity import box_velocities
from pointcloud_cl.voxelize import VoxelGrid, crop_to_range
from shared.errors import InputError

B = TypeVar("B")


@dataclass
class FrameSet:
    """Key frames of one split, cropped to ``grid``; regions cached per frame."""

    frames: list[LidarFrame]
    grid: VoxelGrid
    region_cfg: RegionConfig

    def __post_init__(self) -> None:
        self._regions: dict[int, np.ndarray] = {}
        self._superpixels: dict[tuple[int, SuperpixelConfig], list[np.ndarray]] = {}

    @classmethod
    def load(
        cls,
        nusc: NuScenes,
        split: str,
        grid: VoxelGrid,
        cameras: Sequence[str],
        region_cfg: RegionConfig,
        sweeps: int = 1,
    ) -> FrameSet:
        """The key frames of ``split`` cropped to ``grid``, with their boxes' velocities; with
        ``sweeps > 1`` their points are the key frame plus earlier sweeps with a time lag."""
        frames = []
        for token in split_sample_tokens(nusc, split):
            frame = load_frame(nusc, token, tuple(cameras))
            if sweeps > 1:
                check_sweeps(nusc, token, sweeps)
            raw = load_multisweep(nusc, token, sweeps) if sweeps > 1 else frame.points
            points = crop_to_range(raw, grid)
            if len(points) == 0:
                scan = nusc.get_sample_data_path(nusc.get("sample", token)["data"]["LIDAR_TOP"])
                raise InputError(
                    f"{scan}: no point inside the voxel grid's range {grid.point_range} "
                    "(a scan in another unit or frame? check data.point_range)"
                )
            velocities = box_velocities(nusc, token) if len(frame.boxes) else None
            frames.append(replace(frame, points=points, velocities=velocities))
        return cls(frames, grid, region_cfg)

    def __len__(self) -> int:
        return len(self.frames)

    def regions(self, index: int) -> np.ndarray:
        if index not in self._regions:
            self._regions[index] = segment_regions(self.frames[index].points, self.region_cfg)
        return self._regions[index]

    def superpixels(self, index: int, cfg: SuperpixelConfig) -> list[np.ndarray]:
        """SLIC maps of the frame's cameras (cached per frame and ``cfg``)."""
        key = (index, cfg)
        if key not in self._superpixels:
            self._superpixels[key] = [superpixels(c.image, cfg) for c in self.frames[index].cameras]
        return self._superpixels[key]

    def subset(self, fraction: float, seed: int) -> FrameSet:
        """A random ``fraction`` of the frames (at least one): the labelled part for fine-tuning."""
        if not 0 < fraction <= 1:
            raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
        count = max(1, round(fraction * len(self.frames)))
        pick = np.sort(np.random.default_rng(seed).choice(len(self.frames), count, replace=False))
        sub = FrameSet([self.frames[i] for i in pick], self.grid, self.region_cfg)
        sub._regions = {j: self._regions[i] for j, i in enumerate(pick) if i in self._regions}
        return sub


class BatchStream(Generic[B]):
    """Shuffled batches of ``batch_size`` frame indices turned into batches by ``make_batch``."""

    def __init__(
        self,
        n_frames: int,
        batch_size: int,
        make_batch: Callable[[list[int], np.random.Generator], B],
        shuffle: bool = True,
    ) -> None:
        if n_frames < 1:
            raise ValueError("no frames to batch")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.n_frames = n_frames
        self.batch_size = batch_size
        self.make_batch = make_batch
        self.shuffle = shuffle

    def __len__(self) -> int:
        return -(-self.n_frames // self.batch_size)

    def __iter__(self) -> Iterator[B]:
        # numpy's global RNG is seeded and checkpointed by shared.training: exact resume.
        rng = np.random.default_rng(np.random.randint(2**31))  # noqa: NPY002
        order = rng.permutation(self.n_frames) if self.shuffle else np.arange(self.n_frames)
        for start in range(0, self.n_frames, self.batch_size):
            yield self.make_batch(order[start : start + self.batch_size].tolist(), rng)
