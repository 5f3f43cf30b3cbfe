"""Small source datasets in LeRobot (v2.1, v3.0) layouts, written with pyarrow + PyAV as LeRobot lays them out,
with known contents (the robomimic and UMI writers, the scene and the poses are the package's:
glam_jax/data/importers/examples.py): smooth images with a red square (the "object", whose mask is known),
and end-effector rotations whose matrices are known in closed form."""
from __future__ import annotations

import io
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from glam_jax.data.importers.examples import RED, poses, rot_x, rot_z, scene, write_robomimic, write_umi  # noqa: F401
from glam_jax.data.video import VideoWriter

VIDEO = {'codec': 'h264', 'crf': 18}     # LeRobot reads h264 too; at 32-64 px it keeps every frame close to its
                                        # source, so a frame off by one would show (libsvtav1's inter frames do not)


def red_mask(rgb: np.ndarray, view: str) -> np.ndarray:
  """A user's segmentation function for masks "fn:": the red object."""
  rgb = rgb.astype(int)
  return (rgb[..., 0] > 150) & (rgb[..., 1] < 100) & (rgb[..., 2] < 100)


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
