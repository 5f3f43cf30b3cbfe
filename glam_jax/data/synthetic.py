"""Datasets of random images shaped like a task recipe (100 + 400 episodes, two 64x64 views), written with
the real writer: benchmarks measure the pipeline and the training step without generating scripted data."""
from __future__ import annotations

import os

import numpy as np

from glam_jax.data.writer import DatasetWriter


def write_synthetic_recipe(root: str, size: int = 64, length: int = 55) -> dict:
  """Random-image datasets shaped like the lift recipe: {'kinova': path, 'umi': path}."""
  rng = np.random.default_rng(0)
  frame_fields = {f'{v}/{k}': {'shape': (size, size, 3) if k == 'rgb' else (size, size), 'dtype': 'uint8'}
                  for v in ('overhead', 'front') for k in ('rgb', 'mask')}
  paths = {}
  for source, episodes, labelled in (('kinova', 100, True), ('umi', 400, False)):
    low = {'ee_pose': 9, 'gripper': 1, **({'joint_pos': 7, 'joint_target': 7, 'action': 8} if labelled else {})}
    path = os.path.join(root, source)
    with DatasetWriter(path, frame_fields, {k: {'dim': d, 'dtype': 'float32'} for k, d in low.items()}) as w:
      for _ in range(episodes):
        frames = {k: rng.integers(0, 255, (length, *s['shape']), dtype=np.uint8) for k, s in frame_fields.items()}
        w.add_episode({k: rng.normal(size=(length, d)) for k, d in low.items()}, frames)
      w.close(task='lift', source=source, embodiment=source, num_arms=1, has_actions=labelled,
              has_proprio=labelled, action_dim=8 if labelled else 0, proprio_dim=8 if labelled else 0,
              ctrl_dt=0.05, image_size=size, views=['overhead', 'front'], seed=0, scripted_success_rate=1.0,
              attempts=episodes)
    paths[source] = path
  return paths
