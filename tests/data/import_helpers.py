"""Small source datasets in LeRobot (v2.1, v3.0), robomimic and UMI layouts, written with pyarrow + PyAV, h5py
and zarr as those projects lay them out, with known contents: smooth images with a red square (the
"object", whose mask is known), and end-effector rotations whose matrices are known in closed form."""
from __future__ import annotations

import io
import json
import os

import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import zarr
from PIL import Image

from glam_jax.data.video import VideoWriter

RED = (220, 30, 30)
VIDEO = {'codec': 'h264', 'crf': 18}     # LeRobot reads h264 too; at 32-64 px it keeps every frame close to its
                                        # source, so a frame off by one would show (libsvtav1's inter frames do not)


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


def red_mask(rgb: np.ndarray, view: str) -> np.ndarray:
  """A user's segmentation function for masks "fn:": the red object."""
  rgb = rgb.astype(int)
  return (rgb[..., 0] > 150) & (rgb[..., 1] < 100) & (rgb[..., 2] < 100)


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


# -- LeRobot ------------------------------------------------------------------------------------------------
def _lerobot_episode(e: int, n: int, h: int, w: int) -> dict:
  rgb, mask = scene(n, h, w, e)
  p = poses(n, e)
  state = np.concatenate([np.arange(n)[:, None] + e + np.arange(7) / 10, 0.04 + 0.001 * np.arange(n)[:, None]], -1)
  return {'rgb': rgb, 'mask': mask, 'state': state.astype(np.float32), 'pos': p['pos'].astype(np.float32),
          'quat': p['quat_wxyz'].astype(np.float32), 'pose9': p['pose9'],
          'action': (np.sin(np.arange(n)[:, None] + np.arange(8) + e) / 2).astype(np.float32)}


def _columns(ep: dict, e: int, start: int, fps: int, wrist: bool, masks: bool) -> dict:
  def png(x):
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, format='PNG')
    return {'bytes': buf.getvalue(), 'path': f'frame_{len(buf.getvalue())}.png'}

  n = len(ep['state'])
  vec = lambda x: pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])
  cols = {'observation.state': vec(ep['state']), 'observation.ee_pos': vec(ep['pos']),
          'observation.ee_quat': vec(ep['quat']), 'action': vec(ep['action']),
          'observation.gripper': pa.array(ep['state'][:, 7])}     # shape (1,): a plain column, as LeRobot stores it
  if wrist:
    cols['observation.images.wrist'] = pa.array([png(x[::-1]) for x in ep['rgb']])
  if masks:
    cols['observation.masks.front'] = pa.array([png(m.astype(np.uint8) * 255) for m in ep['mask']])
  cols.update({'timestamp': pa.array(np.arange(n) / fps, pa.float32()), 'frame_index': pa.array(np.arange(n)),
               'episode_index': pa.array(np.full(n, e)), 'index': pa.array(start + np.arange(n)),
               'task_index': pa.array(np.zeros(n, np.int64))})
  return cols


def _features(h: int, w: int, fps: int, wrist: bool, masks: bool) -> dict:
  f = {'observation.images.front': {'dtype': 'video', 'shape': [h, w, 3], 'names': ['height', 'width', 'channels']},
       'observation.state': {'dtype': 'float32', 'shape': [8], 'names': [f'j{i}' for i in range(7)] + ['gripper']},
       'observation.ee_pos': {'dtype': 'float32', 'shape': [3], 'names': ['x', 'y', 'z']},
       'observation.ee_quat': {'dtype': 'float32', 'shape': [4], 'names': ['qw', 'qx', 'qy', 'qz']},
       'observation.gripper': {'dtype': 'float32', 'shape': [1], 'names': ['gripper']},
       'action': {'dtype': 'float32', 'shape': [8], 'names': [f'a{i}' for i in range(8)]}}
  if wrist:
    f['observation.images.wrist'] = {'dtype': 'image', 'shape': [3, h, w], 'names': ['channels', 'height', 'width']}
  if masks:
    f['observation.masks.front'] = {'dtype': 'image', 'shape': [h, w, 1], 'names': ['height', 'width', 'channels']}
  for k in ('timestamp', 'frame_index', 'episode_index', 'index', 'task_index'):
    f[k] = {'dtype': 'float32' if k == 'timestamp' else 'int64', 'shape': [1], 'names': None}
  return f


def lerobot_tasks(tasks) -> pa.Table:
  """meta/tasks.parquet as LeRobot writes it (pandas, `DataFrame({'task_index': ...}, index=tasks)`): the task
  strings are the unnamed index, stored as the column `__index_level_0__`."""
  meta = {'index_columns': ['__index_level_0__'],
          'column_indexes': [{'name': None, 'field_name': None, 'pandas_type': 'unicode', 'numpy_type': 'object',
                              'metadata': {'encoding': 'UTF-8'}}],
          'columns': [{'name': 'task_index', 'field_name': 'task_index', 'pandas_type': 'int64', 'numpy_type': 'int64',
                       'metadata': None},
                      {'name': None, 'field_name': '__index_level_0__', 'pandas_type': 'unicode',
                       'numpy_type': 'object', 'metadata': None}]}
  table = pa.table({'task_index': pa.array(range(len(tasks)), pa.int64()), '__index_level_0__': pa.array(tasks)})
  return table.replace_schema_metadata({b'pandas': json.dumps(meta).encode()})


def write_lerobot(root: str, version: str, lengths, h: int = 48, w: int = 64, fps: int = 10, wrist: bool = False,
                  masks: bool = False, episodes_per_file: int = 2) -> list:
  """A LeRobot dataset (v2.1: a file per episode; v3.0: `episodes_per_file` episodes per data file, one more
  per video file, so the two groupings differ). Returns each episode's contents (`_lerobot_episode`)."""
  eps = [_lerobot_episode(e, n, h, w) for e, n in enumerate(lengths)]
  os.makedirs(os.path.join(root, 'meta'))
  info = {'codebase_version': version, 'robot_type': 'so100', 'total_episodes': len(lengths),
          'total_frames': int(sum(lengths)), 'total_tasks': 1, 'chunks_size': 1000, 'fps': fps,
          'splits': {'train': f'0:{len(lengths)}'}, 'features': _features(h, w, fps, wrist, masks)}
  starts = np.concatenate([[0], np.cumsum(lengths)])
  if version == 'v2.1':
    info.update(total_chunks=1, total_videos=len(lengths),
                data_path='data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet',
                video_path='videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4')
    for e, ep in enumerate(eps):
      path = os.path.join(root, f'data/chunk-000/episode_{e:06d}.parquet')
      os.makedirs(os.path.dirname(path), exist_ok=True)
      pq.write_table(pa.table(_columns(ep, e, starts[e], fps, wrist, masks)), path)
      vw = VideoWriter(os.path.join(root, f'videos/chunk-000/observation.images.front/episode_{e:06d}.mp4'), fps, w, h,
                       **VIDEO)
      for x in ep['rgb']:
        vw.write(x)
      vw.close()
    with open(os.path.join(root, 'meta/episodes.jsonl'), 'w') as f:
      for e, n in enumerate(lengths):
        f.write(json.dumps({'episode_index': e, 'tasks': ['pick up the cube'], 'length': int(n)}) + '\n')
    with open(os.path.join(root, 'meta/tasks.jsonl'), 'w') as f:
      f.write(json.dumps({'task_index': 0, 'task': 'pick up the cube'}) + '\n')
  else:
    info.update(data_files_size_in_mb=100, video_files_size_in_mb=200,
                data_path='data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet',
                video_path='videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4')
    rows, vw, vw_file, tables = [], None, -1, {}
    for e, ep in enumerate(eps):
      data_file, video_file = e // episodes_per_file, e // (episodes_per_file + 1)
      tables.setdefault(data_file, []).append(pa.table(_columns(ep, e, starts[e], fps, wrist, masks)))
      if video_file != vw_file:
        if vw is not None:
          vw.close()
        vw_file = video_file
        vw = VideoWriter(os.path.join(root, f'videos/observation.images.front/chunk-000/file-{video_file:03d}.mp4'),
                         fps, w, h, **VIDEO)
      t0 = vw.frames / fps
      for x in ep['rgb']:
        vw.write(x)
      rows.append({'episode_index': e, 'tasks': ['pick up the cube'], 'length': int(len(ep['rgb'])),
                   'data/chunk_index': 0, 'data/file_index': data_file, 'dataset_from_index': int(starts[e]),
                   'dataset_to_index': int(starts[e + 1]),
                   'videos/observation.images.front/chunk_index': 0,
                   'videos/observation.images.front/file_index': video_file,
                   'videos/observation.images.front/from_timestamp': t0,
                   'videos/observation.images.front/to_timestamp': vw.frames / fps,
                   'meta/episodes/chunk_index': 0, 'meta/episodes/file_index': 0,
                   'stats/action/mean': ep['action'].mean(0).tolist()})
    vw.close()
    for i, parts in tables.items():
      path = os.path.join(root, f'data/chunk-000/file-{i:03d}.parquet')
      os.makedirs(os.path.dirname(path), exist_ok=True)
      pq.write_table(pa.concat_tables(parts), path)
    os.makedirs(os.path.join(root, 'meta/episodes/chunk-000'))
    pq.write_table(pa.Table.from_pylist(rows), os.path.join(root, 'meta/episodes/chunk-000/file-000.parquet'))
    pq.write_table(lerobot_tasks(['pick up the cube']), os.path.join(root, 'meta/tasks.parquet'))
  with open(os.path.join(root, 'meta/info.json'), 'w') as f:
    json.dump(info, f, indent=2)
  return eps


# -- robomimic ----------------------------------------------------------------------------------------------
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


# -- UMI zarr -----------------------------------------------------------------------------------------------
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


# -- checks -------------------------------------------------------------------------------------------------
def psnr(a: np.ndarray, b: np.ndarray) -> float:
  mse = ((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2).mean()
  return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def check_frames(got: np.ndarray, want: np.ndarray, min_psnr: float) -> None:
  """Every frame is within `min_psnr` of its source frame and closer to it than to the frames beside it
  (a frame decoded one step off would be closer to a neighbour)."""
  assert got.shape == want.shape, (got.shape, want.shape)
  for t in range(len(want)):
    p = psnr(got[t], want[t])
    assert p >= min_psnr, f'frame {t}: PSNR {p:.1f} dB < {min_psnr}'
    for s in (t - 1, t + 1):
      if 0 <= s < len(want):
        assert psnr(got[t], want[s]) < p, f'frame {t} is closer to source frame {s}'


def iou(a: np.ndarray, b: np.ndarray) -> float:
  a, b = np.asarray(a) > 0, np.asarray(b) > 0
  return float((a & b).sum() / max((a | b).sum(), 1))


def episode_arrays(ds, e: int, key: str) -> np.ndarray:
  return np.stack([ds.frame(e, t)[key] for t in range(ds.lengths[e])])


def assert_no_output(parent: str, name: str) -> None:
  """Neither the dataset nor a half-written sibling of it exists."""
  left = [f for f in os.listdir(parent) if f == name or f.startswith(name + '.')]
  assert not left, left
