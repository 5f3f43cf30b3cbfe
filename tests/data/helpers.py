"""Small synthetic datasets written with the real writer: fast to make, with values that encode where they
came from (source, episode, step), so tests can check that every field of an element belongs together."""
from __future__ import annotations

import numpy as np

from glam_jax.data import DatasetWriter

SIZE = 8


def encoded(source: int, episode: int, step: int) -> float:
  return 10000.0 * source + 100.0 * episode + step


def write_synthetic(path: str, source: int, lengths, has_actions: bool = True, name: str = 'kinova',
                    records_per_shard: int = 16, size: int = SIZE, views=('overhead',), ctrl_dt: float = 0.05) -> dict:
  """A dataset whose ee_pose[0], action[0], joint_pos[0] and pixel (0, 0) of every view all encode
  (source, ep, step)."""
  frame_fields = {}
  for v in views:
    frame_fields.update({f'{v}/rgb': {'shape': (size, size, 3), 'dtype': 'uint8'},
                         f'{v}/mask': {'shape': (size, size), 'dtype': 'uint8'}})
  lowdim = {'ee_pose': 9, 'gripper': 1}
  if has_actions:
    lowdim.update(joint_pos=7, joint_target=7, action=8)
  with DatasetWriter(path, frame_fields, {k: {'dim': d, 'dtype': 'float32'} for k, d in lowdim.items()},
                     records_per_shard=records_per_shard) as w:
    for e, n in enumerate(lengths):
      code = np.array([encoded(source, e, t) for t in range(n)], np.float32)
      arrays = {k: np.repeat(code[:, None], d, 1) + np.arange(d, dtype=np.float32) / 10 for k, d in lowdim.items()}
      rgb = np.zeros((n, size, size, 3), np.uint8)
      rgb[:, 0, 0, 0] = source
      rgb[:, 0, 0, 1] = e
      rgb[:, 0, 0, 2] = np.arange(n)
      frames = {}
      for v in views:
        frames.update({f'{v}/rgb': rgb, f'{v}/mask': (rgb[..., 0] > 0).astype(np.uint8)})
      w.add_episode(arrays, frames)
    return w.close(task='lift', source=name, embodiment=name, num_arms=1, has_actions=has_actions,
                   has_proprio=has_actions, action_dim=8 if has_actions else 0,
                   proprio_dim=8 if has_actions else 0, ctrl_dt=ctrl_dt, image_size=size, views=list(views),
                   seed=0, scripted_success_rate=1.0, attempts=len(lengths))
