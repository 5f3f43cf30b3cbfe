"""Small files in robomimic's HDF5 and UMI's zarr layouts with known contents, for trying the import path
without real data (tools/make_example_data.py) and for the importers' tests: smooth images with a red square
moving right (the "object", whose mask is known), end-effector rotations whose matrices are known in closed
form, joint positions, gripper openings and actions."""
from __future__ import annotations

import json

import h5py
import numpy as np
import zarr

RED = (220, 30, 30)
RED_HSV = 'hsv:340,20,0.6,1,0.5,1'       # the importers' --masks spec that finds the red square


def scene(n: int, h: int, w: int, episode: int) -> tuple[np.ndarray, np.ndarray]:
  """(n, h, w, 3) uint8 smooth frames with a red square moving right, and its (n, h, w) bool mask."""
  y, x = np.mgrid[:h, :w]
  rgb = np.empty((n, h, w, 3), np.uint8)
  mask = np.zeros((n, h, w), bool)
  side = 2 * (h // 6)          # even sizes and positions: yuv420p video halves the colour resolution
  for t in range(n):
    rgb[t] = np.stack([40 + 100 * x / w, 60 + 100 * y / h, np.full((h, w), 80 + 4 * t + 10 * episode)], -1)
    c0 = 2 * (t + episode) % (w - side)
    mask[t, side:2 * side, c0:c0 + side] = True
    rgb[t][mask[t]] = RED
  return rgb, mask


def rot_z(a):
  c, s = np.cos(a), np.sin(a)
  return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def rot_x(a):
  c, s = np.cos(a), np.sin(a)
  return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def poses(n: int, episode: int) -> dict:
  """Per step: position, R = Rz(a) Rx(b), its quaternion (w, x, y, z), and the project's 9-number pose."""
  a = 0.3 + 0.1 * np.arange(n) + episode
  b = 0.2 - 0.05 * np.arange(n)
  pos = np.stack([0.1 * np.arange(n), np.full(n, 0.2 + episode), np.full(n, 0.3)], -1)
  mats = np.stack([rot_z(ai) @ rot_x(bi) for ai, bi in zip(a, b)])
  cz, sz, cx, sx = np.cos(a / 2), np.sin(a / 2), np.cos(b / 2), np.sin(b / 2)
  quat_wxyz = np.stack([cz * cx, cz * sx, sz * sx, sz * cx], -1)
  return {'pos': pos, 'quat_wxyz': quat_wxyz, 'rotvec_z': np.stack([np.zeros(n), np.zeros(n), a], -1),
          'pose9': np.concatenate([pos, mats[:, :, 0], mats[:, :, 1]], -1),
          'pose9_z': np.concatenate([pos, np.stack([rot_z(ai) for ai in a])[:, :, 0],
                                     np.stack([rot_z(ai) for ai in a])[:, :, 1]], -1)}


def write_robomimic(path: str, lengths, size: int = 32, control_freq: int | None = 20, action_dim: int = 7) -> list:
  """A robomimic HDF5 (robosuite observation names, quaternions x, y, z, w). Returns each demo's contents."""
  demos = []
  with h5py.File(path, 'w') as f:
    data = f.create_group('data')
    kwargs = {'robots': ['Panda']} | ({'control_freq': control_freq} if control_freq else {})
    data.attrs['env_args'] = json.dumps({'env_name': 'Lift', 'env_type': 1, 'env_kwargs': kwargs})
    for i, n in enumerate(lengths):
      rgb, mask = scene(n, size, size, i)
      p = poses(n, i)
      q = np.linspace(0.03, 0.01, n)
      d = {'rgb': rgb, 'mask': mask, 'pose9': p['pose9'], 'joints': np.arange(n)[:, None] + i + np.arange(7) / 10,
           'fingers': np.stack([q, -q], -1), 'actions': np.cos(np.arange(n)[:, None] + np.arange(action_dim) + i)}
      g = data.create_group(f'demo_{i}')
      g.attrs['num_samples'] = n
      g.create_dataset('actions', data=d['actions'])
      g.create_dataset('states', data=np.zeros((n, 5)))
      g.create_dataset('rewards', data=np.zeros(n))
      g.create_dataset('dones', data=np.zeros(n, np.int64))
      obs = g.create_group('obs')
      obs.create_dataset('agentview_image', data=rgb, compression='gzip')
      obs.create_dataset('robot0_eye_in_hand_image', data=rgb[:, ::-1], compression='gzip')
      obs.create_dataset('robot0_eef_pos', data=p['pos'])
      obs.create_dataset('robot0_eef_quat', data=p['quat_wxyz'][:, [1, 2, 3, 0]])
      obs.create_dataset('robot0_gripper_qpos', data=d['fingers'])
      obs.create_dataset('robot0_joint_pos', data=d['joints'])
      obs.create_dataset('object', data=np.zeros((n, 10)))
      demos.append(d)
    data.attrs['total'] = int(sum(lengths))
  return demos


def write_umi(path: str, lengths, size: int = 32, arms: int = 1, zip_store: bool = False) -> dict:
  """A UMI replay buffer in zarr format 2 (as UMI's zarr 2 writes it): data/<key> concatenated, meta/episode_ends.
  Returns the concatenated arrays and the expected pose per arm."""
  rgb = np.concatenate([scene(n, size, size, e)[0] for e, n in enumerate(lengths)])
  ps = [poses(n, e) for e, n in enumerate(lengths)]
  arrays = {'camera0_rgb': rgb}
  for a in range(arms):
    arrays[f'robot{a}_eef_pos'] = np.concatenate([p['pos'] for p in ps]).astype(np.float32) + a
    arrays[f'robot{a}_eef_rot_axis_angle'] = np.concatenate([p['rotvec_z'] for p in ps]).astype(np.float32)
    arrays[f'robot{a}_gripper_width'] = np.linspace(0.02, 0.08, len(rgb), dtype=np.float32)[:, None] * (a + 1)
    arrays[f'robot{a}_demo_start_pose'] = np.zeros((len(rgb), 6), np.float32)
  store = zarr.storage.ZipStore(path, mode='w') if zip_store else path
  root = zarr.open_group(store, mode='w', zarr_format=2)
  root.require_group('meta').create_array('episode_ends', data=np.cumsum(lengths).astype(np.int64))
  data = root.require_group('data')
  for k, v in arrays.items():
    data.create_array(k, data=v, chunks=(1,) + v.shape[1:] if v.ndim == 4 else v.shape)
  if zip_store:
    store.close()
  pose9 = np.concatenate([p['pose9_z'] for p in ps])
  return {'arrays': arrays, 'pose9': [np.concatenate([pose9[:, :3] + a, pose9[:, 3:]], -1) for a in range(arms)]}
