"""SECOND / VoxelNet-style sparse 3D backbone (spconv), BEV flattening and a 2D BEV neck.

Architecture after SECOND (Yan et al., Sensors 2018) as configured in OpenPCDet's
``VoxelBackBone8x``: a submanifold stem, then three stages each opened by a strided
``SparseConv3d`` (x2 downsampling) and followed by ``SubMConv3d`` layers, and a final z-strided
convolution. The sparse output (stride 8 in x, y) is densified and its z axis folded into channels
to give a bird's-eye-view (BEV) map, refined by a two-scale 2D neck (SECOND's RPN / SECONDFPN).

BatchNorm keeps PyTorch's momentum 0.1 (OpenPCDet's 0.01 assumes long schedules; after the short
fine-tuning runs here its running statistics would still be near their initial values) and
BatchNorm and ReLU are separate modules (spconv's CPU kernels do not support fused activation),
so the same code runs with the CPU ``spconv`` wheel and with ``spconv-cu120`` on GPU.
"""

from __future__ import annotations

import warnings

import spconv.pytorch as spconv
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pointcloud_cl.spconv_cpu import install_cpu_stream_patch
from pointcloud_cl.voxelize import VoxelGrid, Voxels

# spconv 2.3.8's SparseConvTensor.dense() indexes with a list; torch 2.13 warns on every call but
# still reads it as a tuple (the result is checked in tests/pointcloud_cl/test_voxel_backbone.py).
warnings.filterwarnings(
    "ignore", message="Using a non-tuple sequence for multidimensional indexing", module=r"spconv\."
)

install_cpu_stream_patch()

BEV_STRIDE = 8


def _block(conv: spconv.SparseModule, channels: int) -> spconv.SparseSequential:
    """OpenPCDet's ``post_act_block``: convolution, BatchNorm1d, ReLU."""
    return spconv.SparseSequential(conv, nn.BatchNorm1d(channels, eps=1e-3), nn.ReLU())


def _subm(c_in: int, c_out: int, key: str) -> spconv.SparseSequential:
    return _block(spconv.SubMConv3d(c_in, c_out, 3, padding=1, bias=False, indice_key=key), c_out)


def _down(
    c_in: int, c_out: int, key: str, padding: int | tuple[int, int, int] = 1
) -> spconv.SparseSequential:
    conv = spconv.SparseConv3d(
        c_in, c_out, 3, stride=2, padding=padding, bias=False, indice_key=key
    )
    return _block(conv, c_out)


def bev_depth(nz: int) -> int:
    """z slices left after the four z downsamplings of a grid with ``nz`` cells (z + 1 input)."""
    depth = nz + 1
    for pad in (1, 1, 0):
        depth = (depth + 2 * pad - 3) // 2 + 1
    return (depth - 3) // 2 + 1


class SparseVoxelBackbone(nn.Module):
    """Sparse 3D encoder: voxels (V, C_in) -> dense BEV map (B, C_bev, ny / 8, nx / 8).

    Laid out as OpenPCDet's ``VoxelBackBone8x`` (``conv_input``, ``conv1`` .. ``conv4``,
    ``conv_out``; same parameter names and shapes, so its state dict loads): channels per stage
    ``base, base, 2 base, 4 base, 4 base`` and ``8 base`` after the z-compressing output
    convolution (base 16 gives OpenPCDet's 16-16-32-64-64-128). As in OpenPCDet the sparse tensor
    has ``nz + 1`` z cells (``sparse_shape = grid_size[::-1] + [1, 0, 0]``): on the nuScenes grid
    (40 z cells) z goes 41 -> 21 -> 11 -> 5 -> 2 and the BEV map (OpenPCDet's
    ``HeightCompression``, z folded into channels) has 2 x 128 = 256 channels.

    Example::

        backbone = SparseVoxelBackbone(VoxelGrid())  # nuScenes grid
        bev = backbone(voxelize(points, backbone.grid))  # (1, 256, 128, 128)
    """

    def __init__(self, grid: VoxelGrid, in_channels: int = 4, base_channels: int = 16) -> None:
        super().__init__()
        nx, ny, nz = grid.shape_xyz
        if nx % BEV_STRIDE or ny % BEV_STRIDE:
            raise ValueError(f"grid x/y cell counts {(nx, ny)} must be multiples of {BEV_STRIDE}")
        if bev_depth(nz) < 1:
            raise ValueError(f"grid has too few z cells ({nz}) for four z downsamplings")
        self.grid = grid
        self.sparse_shape = [nz + 1, ny, nx]
        c = base_channels
        self.conv_input = _subm(in_channels, c, "subm1")
        self.conv1 = spconv.SparseSequential(_subm(c, c, "subm1"))
        self.conv2 = spconv.SparseSequential(
            _down(c, 2 * c, "spconv2"), _subm(2 * c, 2 * c, "subm2"), _subm(2 * c, 2 * c, "subm2")
        )
        self.conv3 = spconv.SparseSequential(
            _down(2 * c, 4 * c, "spconv3"),
            _subm(4 * c, 4 * c, "subm3"),
            _subm(4 * c, 4 * c, "subm3"),
        )
        self.conv4 = spconv.SparseSequential(
            _down(4 * c, 4 * c, "spconv4", padding=(0, 1, 1)),
            _subm(4 * c, 4 * c, "subm4"),
            _subm(4 * c, 4 * c, "subm4"),
        )
        out = spconv.SparseConv3d(
            4 * c, 8 * c, (3, 1, 1), stride=(2, 1, 1), bias=False, indice_key="spconv_down2"
        )
        self.conv_out = _block(out, 8 * c)
        self.out_channels = 8 * c * bev_depth(nz)

    def forward(self, voxels: Voxels) -> Tensor:
        if voxels.features.shape[0] == 0:
            raise ValueError("empty voxel grid: nothing to encode")
        x = spconv.SparseConvTensor(
            voxels.features, voxels.coords, self.sparse_shape, voxels.batch_size
        )
        x = self.conv_out(self.conv4(self.conv3(self.conv2(self.conv1(self.conv_input(x))))))
        dense = x.dense()  # (B, C, D, H, W)
        b, c, d, h, w = dense.shape
        return dense.reshape(b, c * d, h, w)


def _conv_bn_relu(conv: nn.Module, channels: int) -> list[nn.Module]:
    return [conv, nn.BatchNorm2d(channels, eps=1e-3), nn.ReLU()]


class BEVNeck(nn.Module):
    """Two-scale 2D BEV network (SECOND's RPN), laid out as OpenPCDet's ``BaseBEVBackbone``.

    ``blocks[0]`` (stride 1, ``channels``) and ``blocks[1]`` (stride 2, ``2 channels``) each have
    one opening 3x3 convolution plus ``layer_nums[i]`` more; ``deblocks[i]`` (transposed
    convolutions, stride 1 and 2) bring both to stride 1 with ``upsample_channels`` each (default
    ``channels``), concatenated. OpenPCDet's nuScenes SECOND neck is
    ``BEVNeck(256, 128, layer_nums=(5, 5), upsample_channels=256)`` (512 channels out).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int = 64,
        layer_nums: tuple[int, int] = (1, 1),
        upsample_channels: int | None = None,
    ) -> None:
        super().__init__()
        up = upsample_channels or channels
        widths, c_in = (channels, 2 * channels), (in_channels, channels)
        self.blocks = nn.ModuleList()
        self.deblocks = nn.ModuleList()
        for level, (width, stride) in enumerate(zip(widths, (1, 2), strict=True)):
            layers: list[nn.Module] = [nn.ZeroPad2d(1)]
            layers += _conv_bn_relu(
                nn.Conv2d(c_in[level], width, 3, stride=stride, bias=False), width
            )
            for _ in range(layer_nums[level]):
                layers += _conv_bn_relu(nn.Conv2d(width, width, 3, padding=1, bias=False), width)
            self.blocks.append(nn.Sequential(*layers))
            deconv = nn.ConvTranspose2d(width, up, stride, stride=stride, bias=False)
            self.deblocks.append(nn.Sequential(*_conv_bn_relu(deconv, up)))
        self.out_channels = 2 * up

    def forward(self, bev: Tensor) -> Tensor:
        x1 = self.blocks[0](bev)
        x2 = self.blocks[1](x1)
        return torch.cat([self.deblocks[0](x1), self.deblocks[1](x2)], dim=1)


class LidarBEVEncoder(nn.Module):
    """Voxels -> sparse backbone -> BEV neck: a (B, C, ny / 8, nx / 8) LiDAR BEV feature map.

    Its state dict is ``backbone.*`` (OpenPCDet ``VoxelBackBone8x``) and ``neck.*``
    (``BaseBEVBackbone``). OpenPCDet's nuScenes SECOND layout (5 input features: x, y, z,
    intensity, time lag)::

        LidarBEVEncoder(VoxelGrid(), 16, 128, in_channels=5, neck_layers=(5, 5),
                        neck_upsample_channels=256)
    """

    def __init__(
        self,
        grid: VoxelGrid,
        base_channels: int = 16,
        neck_channels: int = 64,
        *,
        in_channels: int = 4,
        neck_layers: tuple[int, int] = (1, 1),
        neck_upsample_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.grid = grid
        self.backbone = SparseVoxelBackbone(grid, in_channels, base_channels)
        self.neck = BEVNeck(
            self.backbone.out_channels, neck_channels, neck_layers, neck_upsample_channels
        )
        self.out_channels = self.neck.out_channels

    def forward(self, voxels: Voxels) -> Tensor:
        return self.neck(self.backbone(voxels))


def sample_bev(bev: Tensor, xy: Tensor, batch_index: Tensor, grid: VoxelGrid) -> Tensor:
    """Bilinearly read BEV features at metric (x, y) positions: returns (N, C).

    ``bev`` is (B, C, H, W) covering ``grid.point_range`` in x (columns) and y (rows).
    """
    x0, y0, _, x1, y1, _ = grid.point_range
    u = (xy[:, 0] - x0) / (x1 - x0) * 2 - 1
    v = (xy[:, 1] - y0) / (y1 - y0) * 2 - 1
    out = bev.new_empty(xy.shape[0], bev.shape[1])
    for b in range(bev.shape[0]):
        sel = batch_index == b
        if not sel.any():
            continue
        loc = torch.stack([u[sel], v[sel]], dim=1)[None, None]  # (1, 1, n, 2)
        out[sel] = F.grid_sample(bev[b : b + 1], loc, align_corners=False)[0, :, 0].T
    return out


def bev_cell_index(xy: Tensor, grid: VoxelGrid, stride: int = BEV_STRIDE) -> tuple[Tensor, Tensor]:
    """Integer (row, col) of the BEV cell (``stride`` voxels wide) containing each (x, y)."""
    x0, y0 = grid.point_range[0], grid.point_range[1]
    cell_x, cell_y = grid.voxel_size[0] * stride, grid.voxel_size[1] * stride
    nx, ny = grid.shape_xyz[0] // stride, grid.shape_xyz[1] // stride
    col = ((xy[:, 0] - x0) / cell_x).floor().long().clamp(0, nx - 1)
    row = ((xy[:, 1] - y0) / cell_y).floor().long().clamp(0, ny - 1)
    return row, col
