"""Exports a glam_jax dataset as a LeRobotDataset v3.0 (the layout huggingface/lerobot reads since v3.0),
so LeRobot's tools and policies can use it, and so it imports back to the same arrays.

Fields map as `lerobot_layout` says: `{view}/rgb` -> the video `observation.images.<view>` (one MP4 per file
holding episodes back to back; LeRobot's default codec, libsvtav1, yuv420p, keyframe every 2 frames),
`{view}/mask` -> the PNG image column `observation.masks.<view>` (lossless), `{view}/depth` -> a float32
(H, W) column, each low-dimensional field to its own float32 feature, plus `observation.state` (joint
positions + gripper, or pose + gripper without joints) for LeRobot's policies. meta.json's other fields go
to `meta/glam_jax.json`. fps is 1 / ctrl_dt rounded (LeRobot stores an integer); glam_jax.json keeps the
exact ctrl_dt. Written to a hidden sibling and renamed into place, as the dataset writer does.
"""
from __future__ import annotations

import io
import json
import logging
import os
import shutil
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from tqdm import tqdm

from glam_jax.data import lerobot_layout as layout
from glam_jax.data import video
from glam_jax.data.reader import open_dataset
from glam_jax.data.stats import RunningStats

KEPT_META = ('format_version', 'task', 'source', 'embodiment', 'num_arms', 'ctrl_dt', 'image_size', 'views',
             'seed', 'scripted_success_rate', 'attempts')
IMAGE_STRUCT = pa.struct([('bytes', pa.binary()), ('path', pa.string())])    # Hugging Face datasets' Image


def _names(field: str, dim: int, num_arms: int) -> list:
  if field == 'ee_pose':
    per = ['x', 'y', 'z', 'r00', 'r10', 'r20', 'r01', 'r11', 'r21']
  elif field == 'gripper':
    per = ['gripper']
  else:
    return [f'{field}_{i}' for i in range(dim)]
  return per if num_arms == 1 else [f'arm{a}_{n}' for a in range(num_arms) for n in per]


def features(meta: dict, fps: int) -> dict:
  """info.json `features` of a dataset's fields (video `info` is added once the first file exists)."""
  out = {}
  for k, spec in meta['frame_fields'].items():
    name, kind, (h, w) = layout.frame_feature(k), k.rpartition('/')[2], spec['shape'][:2]
    if kind == 'rgb':
      out[name] = {'dtype': 'video', 'shape': [h, w, 3], 'names': ['height', 'width', 'channels']}
    elif kind == 'mask':
      out[name] = {'dtype': 'image', 'shape': [h, w, 1], 'names': ['height', 'width', 'channels'], 'fps': fps}
    else:
      out[name] = {'dtype': 'float32', 'shape': [h, w], 'names': ['height', 'width'], 'fps': fps}
  low = meta['lowdim_fields']
  for k, spec in low.items():
    out[layout.LOWDIM_FEATURE.get(k, f'observation.{k}')] = {
        'dtype': 'float32', 'shape': [spec['dim']], 'names': _names(k, spec['dim'], meta['num_arms']), 'fps': fps}
  parts = _state_parts(low)
  out[layout.STATE] = {'dtype': 'float32', 'shape': [sum(low[p]['dim'] for p in parts)],
                       'names': sum((_names(p, low[p]['dim'], meta['num_arms']) for p in parts), []), 'fps': fps}
  for k in layout.INDEX_FEATURES:
    out[k] = {'dtype': 'float32' if k == 'timestamp' else 'int64', 'shape': [1], 'names': None, 'fps': fps}
  return out


def _state_parts(low: dict) -> tuple:
  return ('joint_pos', 'gripper') if 'joint_pos' in low else ('ee_pose', 'gripper')


def _vectors(x: np.ndarray) -> pa.Array:
  x = np.ascontiguousarray(x, np.float32)
  return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])


def _nested(x: np.ndarray) -> pa.Array:
  """(T, H, W) float32 -> list<list<float32>> (Hugging Face datasets' Array2D storage)."""
  t, h, w = x.shape
  rows = pa.ListArray.from_arrays(pa.array(np.arange(0, t * h * w + 1, w, dtype=np.int32)),
                                  pa.array(np.ascontiguousarray(x, np.float32).reshape(-1)))
  return pa.ListArray.from_arrays(pa.array(np.arange(0, t * h + 1, h, dtype=np.int32)), rows)


def _png(mask: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray((np.asarray(mask) > 0).astype(np.uint8) * 255, 'L').save(buf, format='PNG')
  return buf.getvalue()


def _tasks_table(task: str) -> pa.Table:
  """meta/tasks.parquet as pandas writes LeRobot's task table: `task` is the index, `task_index` a column."""
  table = pa.table({'task_index': pa.array([0], pa.int64()), 'task': pa.array([task], pa.string())})
  pandas_meta = {
      'index_columns': ['task'],
      'column_indexes': [{'name': None, 'field_name': None, 'pandas_type': 'unicode', 'numpy_type': 'object',
                          'metadata': {'encoding': 'UTF-8'}}],
      'columns': [{'name': 'task_index', 'field_name': 'task_index', 'pandas_type': 'int64', 'numpy_type': 'int64',
                   'metadata': None},
                  {'name': 'task', 'field_name': 'task', 'pandas_type': 'unicode', 'numpy_type': 'object',
                   'metadata': None}],
      'creator': {'library': 'pyarrow', 'version': pa.__version__}, 'pandas_version': '2.2.3'}
  return table.replace_schema_metadata({b'pandas': json.dumps(pandas_meta).encode()})


def _stats_entry(s: RunningStats, image: bool) -> dict:
  r = s.result()
  out = {k: (np.asarray(r[k])[:, None, None].tolist() if image else r[k]) for k in ('min', 'max', 'mean', 'std')}
  out['count'] = [r['count']]
  return out


class _Files:
  """One growing file per stream (data, or a video key), rolled over to the next (chunk, file) past a size."""

  def __init__(self, limit_mb: int):
    self.limit, self.index, self.current, self.path = limit_mb * 2 ** 20, (0, 0), None, ''

  def start(self, writer, path: str) -> None:
    self.current, self.path = writer, path

  def needs_new(self) -> bool:
    if self.current is None:
      return True
    if not os.path.exists(self.path) or os.path.getsize(self.path) < self.limit:    # written on first flush
      return False
    self.close()
    self.index = layout.next_file(*self.index)
    return True

  def close(self):
    if self.current is not None:
      self.current.close()
      self.current = None


def _write(ds, root: str, fps: int, codec: str, crf: int, progress: bool) -> dict:
  m = ds.meta
  feats = features(m, fps)
  low, frame_fields = m['lowdim_fields'], m['frame_fields']
  stats = {k: RunningStats(3 if f['dtype'] == 'video' else 1 if f['dtype'] == 'image' or len(f['shape']) > 1
                           else f['shape'][0]) for k, f in feats.items()}
  data = _Files(layout.DATA_FILE_MB)
  videos = {k: _Files(layout.VIDEO_FILE_MB) for k in frame_fields if k.endswith('/rgb')}
  rows, index = [], 0
  try:
    for e in tqdm(range(ds.num_episodes), desc='export lerobot', unit='ep', disable=not progress):
      n, arrays = int(ds.lengths[e]), ds.episodes[e]
      frames = [ds.frame(e, t) for t in range(n)]
      row = {'episode_index': e, 'tasks': [m['task']], 'length': n}
      cols = {'timestamp': pa.array(np.arange(n) / fps, pa.float32()), 'frame_index': pa.array(np.arange(n)),
              'episode_index': pa.array(np.full(n, e)), 'index': pa.array(index + np.arange(n)),
              'task_index': pa.array(np.zeros(n, np.int64))}
      for k in layout.INDEX_FEATURES:
        stats[k].update(np.asarray(cols[k]).astype(np.float64)[:, None])
      for k, spec in frame_fields.items():
        name, kind = layout.frame_feature(k), k.rpartition('/')[2]
        x = np.stack([f[k] for f in frames])
        if kind == 'rgb':
          files = videos[k]
          if files.needs_new():
            chunk, file = files.index
            path = os.path.join(root, layout.V3_VIDEO_PATH.format(video_key=name, chunk_index=chunk, file_index=file))
            files.start(video.VideoWriter(path, fps, spec['shape'][1], spec['shape'][0], codec, crf), path)
          start = files.current.frames
          for img in x:
            files.current.write(img)
          row.update({f'videos/{name}/chunk_index': files.index[0], f'videos/{name}/file_index': files.index[1],
                      f'videos/{name}/from_timestamp': start / fps, f'videos/{name}/to_timestamp': (start + n) / fps})
          stats[name].update(x.reshape(-1, 3) / 255.0)
        elif kind == 'mask':
          cols[name] = pa.array([{'bytes': _png(f), 'path': None} for f in x], IMAGE_STRUCT)
          stats[name].update((x.reshape(-1, 1) > 0).astype(np.float64))
        else:
          cols[name] = _nested(x)
          stats[name].update(x.reshape(-1, 1))
      for k in low:
        name = layout.LOWDIM_FEATURE.get(k, f'observation.{k}')
        cols[name] = _vectors(arrays[k])
        stats[name].update(arrays[k])
      state = np.concatenate([arrays[p] for p in _state_parts(low)], -1)
      cols[layout.STATE] = _vectors(state)
      stats[layout.STATE].update(state)
      table = pa.table({k: cols[k] for k in feats if k in cols})
      if data.needs_new():
        path = os.path.join(root, layout.V3_DATA_PATH.format(chunk_index=data.index[0], file_index=data.index[1]))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data.start(pq.ParquetWriter(path, table.schema), path)
      data.current.write_table(table)            # one row group per episode, as LeRobot writes
      row.update({'data/chunk_index': data.index[0], 'data/file_index': data.index[1], 'dataset_from_index': index,
                  'dataset_to_index': index + n, 'meta/episodes/chunk_index': 0, 'meta/episodes/file_index': 0})
      rows.append(row)
      index += n
  finally:
    data.close()
    for files in videos.values():
      files.close()

  path = os.path.join(root, layout.V3_EPISODES_PATH.format(chunk_index=0, file_index=0))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  pq.write_table(pa.Table.from_pylist(rows), path)
  pq.write_table(_tasks_table(m['task']), os.path.join(root, layout.V3_TASKS))
  for k in videos:
    name = layout.frame_feature(k)
    feats[name]['info'] = video.probe(os.path.join(root, layout.V3_VIDEO_PATH.format(video_key=name, chunk_index=0,
                                                                                      file_index=0)))
  info = {'codebase_version': layout.V3_VERSION, 'robot_type': m['embodiment'], 'total_episodes': ds.num_episodes,
          'total_frames': index, 'total_tasks': 1, 'chunks_size': layout.CHUNKS_SIZE,
          'data_files_size_in_mb': layout.DATA_FILE_MB, 'video_files_size_in_mb': layout.VIDEO_FILE_MB, 'fps': fps,
          'splits': {'train': f'0:{ds.num_episodes}'}, 'data_path': layout.V3_DATA_PATH,
          'video_path': layout.V3_VIDEO_PATH if videos else None, 'features': feats}
  image_keys = {k for k, f in feats.items() if f['dtype'] in ('video', 'image')}
  for name, obj in ((layout.INFO, info),
                    (layout.STATS, {k: _stats_entry(s, k in image_keys) for k, s in stats.items()}),
                    (layout.GLAM_META, {**{k: m[k] for k in KEPT_META}, 'exported_from': ds.path})):
    with open(os.path.join(root, name), 'w') as f:
      json.dump(obj, f, indent=2)
  return info


def export(data: str, out: str, codec: str = 'libsvtav1', crf: int = 30, overwrite: bool = False,
           progress: bool = True) -> dict:
  """Writes the dataset at `data` as a LeRobot v3.0 dataset at `out`; returns its info.json."""
  ds = open_dataset(data)
  out = os.path.abspath(out)
  if os.path.exists(out) and not overwrite:
    raise FileExistsError(f'{out} exists; pass overwrite to replace it')
  fps = int(round(1.0 / ds.meta['ctrl_dt']))
  if abs(fps * ds.meta['ctrl_dt'] - 1.0) > 1e-6:
    logging.warning('%s: ctrl_dt %s is not 1/integer; LeRobot stores fps %d (meta/glam_jax.json keeps ctrl_dt)',
                    ds.path, ds.meta['ctrl_dt'], fps)
  os.makedirs(os.path.dirname(out), exist_ok=True)
  tmp = f'{out}.incomplete-{uuid.uuid4().hex[:8]}'
  os.makedirs(os.path.join(tmp, 'meta'))
  try:
    info = _write(ds, tmp, fps, codec, crf, progress)
    old = None
    if os.path.exists(out):
      old = f'{out}.old-{uuid.uuid4().hex[:8]}'
      os.rename(out, old)
    os.rename(tmp, out)
    if old:
      shutil.rmtree(old)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  finally:
    ds.close()
  return info
