"""LiDAR + camera contrastive pretraining for BEV perception, on spconv backbones and nuScenes.

* Data: nuScenes through nuscenes-devkit (``nuscenes_data``), ``.pcd.bin`` / info readers (``io``),
  the LiDAR -> camera calibration chain (``geometry``), a synthetic nuScenes-format generator that
  the devkit loads (``synthetic``, ray-cast by ``raycast``).
* Backbones: voxelisation (``voxelize``), SECOND-style sparse 3D backbone + BEV neck
  (``lidar_backbone``; ``spconv_cpu`` lets its backward run on CPU), image encoder + Lift-Splat +
  fusion (``camera_backbone``).
* Methods: CALICO = Point-Region Contrast (``prc``, regions from ``regions``) then Region-Aware
  Distillation (``rad``); SLidR (``slidr``), whose image teacher ``image_pretrain`` can pretrain
  (SimCLR on the camera images). Losses come from ``shared.losses``.
* Downstream: BEV segmentation and CenterPoint heads (``heads``, ``finetune``), BEV IoU and the
  devkit's detection evaluation (``evaluation``); runs wired in ``experiment``, CLI in ``cli``.
"""
