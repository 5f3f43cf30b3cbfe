"""Exports a glam_jax dataset as a LeRobotDataset v3.0 (the layout huggingface/lerobot reads since v3.0),
so LeRobot's tools and policies can use it, and so it imports back to the same arrays.

Fields map as `lerobot_layout` says: `{view}/rgb` -> the video `observation.images.<view>` (one MP4 per file
holding episodes back to back; LeRobot's default codec, libsvtav1, yuv420p, keyframe every 2 frames),
`{view}/mask` -> the PNG image column `observation.masks.<view>` (lossless; 0/255 in all three channels, since
LeRobot takes every image feature for an RGB camera), `{view}/depth` -> a float32 (H, W) column, each
low-dimensional field to its own float32 feature (one value: a plain float32 column, as LeRobot stores shape
(1,)), plus `observation.state` (joint positions + gripper, or pose + gripper without joints) for LeRobot's
policies. Stats as LeRobot's writer keeps them: per episode in `meta/episodes` (its tools that split or merge
datasets re-aggregate those) and aggregated the same way in `meta/stats.json`, with the quantiles some
policies normalise by. meta.json's other fields go to `meta/glam_jax.json`. fps is 1 / ctrl_dt rounded
(LeRobot stores an integer); glam_jax.json keeps the exact ctrl_dt. Written to a hidden sibling and renamed
into place, as the dataset writer does.
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

KEPT_META = ('format_version', 'task', 'source', 'embodiment', 'num_arms', 'ctrl_dt', 'image_size', 'views',
             'seed', 'scripted_success_rate', 'attempts')
IMAGE_STRUCT = pa.struct([('bytes', pa.binary()), ('path', pa.string())])    # Hugging Face datasets' Image
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)                                   # LeRobot's q01 ... q99


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
      out[name] = {'dtype': 'image', 'shape': [h, w, 3], 'names': ['height', 'width', 'channels']}
    else:
      out[name] = {'dtype': 'float32', 'shape': [h, w], 'names': ['height', 'width']}
  low = meta['lowdim_fields']
  for k, spec in low.items():
    out[layout.LOWDIM_FEATURE.get(k, f'observation.{k}')] = {
        'dtype': 'float32', 'shape': [spec['dim']], 'names': _names(k, spec['dim'], meta['num_arms'])}
  parts = _state_parts(low)
  out[layout.STATE] = {'dtype': 'float32', 'shape': [sum(low[p]['dim'] for p in parts)],
                       'names': sum((_names(p, low[p]['dim'], meta['num_arms']) for p in parts), [])}
  for k in layout.INDEX_FEATURES:
    out[k] = {'dtype': 'float32' if k == 'timestamp' else 'int64', 'shape': [1], 'names': None}
  return out


def _state_parts(low: dict) -> tuple:
  return ('joint_pos', 'gripper') if 'joint_pos' in low else ('ee_pose', 'gripper')


def _vectors(x: np.ndarray) -> pa.Array:
  """(T, D) -> fixed-size lists of D float32; D = 1 a plain float32 column (LeRobot reads shape (1,) as a
  scalar `Value` and cannot cast a list to it)."""
  x = np.ascontiguousarray(x, np.float32)
  if x.shape[1] == 1:
    return pa.array(x[:, 0])
  return pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])


def _nested(x: np.ndarray) -> pa.Array:
  """(T, H, W) float32 -> list<list<float32>> (Hugging Face datasets' Array2D storage)."""
  t, h, w = x.shape
  rows = pa.ListArray.from_arrays(pa.array(np.arange(0, t * h * w + 1, w, dtype=np.int32)),
                                  pa.array(np.ascontiguousarray(x, np.float32).reshape(-1)))
  return pa.ListArray.from_arrays(pa.array(np.arange(0, t * h + 1, h, dtype=np.int32)), rows)


def _mask_rgb(mask: np.ndarray) -> np.ndarray:
  """(..., H, W) {0, 1} -> (..., H, W, 3) uint8 0/255."""
  return np.repeat(((np.asarray(mask) > 0).astype(np.uint8) * 255)[..., None], 3, -1)


def _png(rgb: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(rgb, 'RGB').save(buf, format='PNG')
  return buf.getvalue()


def _tasks_table(task: str) -> pa.Table:
  """meta/tasks.parquet as LeRobot's writer leaves it (a pandas frame indexed by the unnamed task strings, stored
  as `__index_level_0__`, with a `task_index` column): LeRobot looks tasks up by that index."""
  table = pa.table({'task_index': pa.array([0], pa.int64()), layout.PANDAS_INDEX: pa.array([task], pa.string())})
  pandas_meta = {
      'index_columns': [layout.PANDAS_INDEX],
      'column_indexes': [{'name': None, 'field_name': None, 'pandas_type': 'unicode', 'numpy_type': 'object',
                          'metadata': {'encoding': 'UTF-8'}}],
      'columns': [{'name': 'task_index', 'field_name': 'task_index', 'pandas_type': 'int64', 'numpy_type': 'int64',
                   'metadata': None},
                  {'name': None, 'field_name': layout.PANDAS_INDEX, 'pandas_type': 'unicode', 'numpy_type': 'object',
                   'metadata': None}],
      'creator': {'library': 'pyarrow', 'version': pa.__version__}, 'pandas_version': '2.2.3'}
  return table.replace_schema_metadata({b'pandas': json.dumps(pandas_meta).encode()})


def _histogram_stats(x: np.ndarray) -> dict:
  """(T, H, W, C) uint8 -> per-channel min, max, mean, std and quantiles in [0, 1], exact, from 256-bin
  histograms summed frame by frame (a float copy of a long episode's pixels would take gigabytes)."""
  counts = np.zeros((x.shape[-1], 256))
  for frame in x:
    for c in range(x.shape[-1]):
      counts[c] += np.bincount(frame[..., c].ravel(), minlength=256)
  v, n = np.arange(256) / 255.0, counts.sum(1, keepdims=True)
  mean = (counts * v).sum(1) / n[:, 0]
  cdf = np.cumsum(counts, 1) / n
  out = {'min': v[np.argmax(counts > 0, 1)], 'max': v[255 - np.argmax(counts[:, ::-1] > 0, 1)], 'mean': mean,
         'std': np.sqrt((counts * (v - mean[:, None]) ** 2).sum(1) / n[:, 0])}
  out.update({_qname(q): v[[np.searchsorted(cdf[c], q) for c in range(len(cdf))]] for q in QUANTILES})
  return out


def _qname(q: float) -> str:
  return f'q{round(q * 100):02d}'


def episode_stats(x: np.ndarray, dtype: str) -> dict:
  """One episode's stats of a feature, shaped as LeRobot's writer shapes them: per channel (C, 1, 1) in [0, 1]
  for images and videos ((T, H, W, C) uint8), per dimension (D,) for vectors (T, D), one value (1,) for scalars
  (T,) and for 2-d arrays (T, H, W); `count` is the number of frames."""
  if dtype in ('video', 'image'):
    out = {k: v[:, None, None] for k, v in _histogram_stats(x).items()}
  else:
    r = np.asarray(x, np.float64)
    r = r if r.ndim == 2 else r.reshape(-1, 1)
    out = {'min': r.min(0), 'max': r.max(0), 'mean': r.mean(0), 'std': r.std(0)}
    out.update(zip(map(_qname, QUANTILES), np.quantile(r, QUANTILES, axis=0)))
  out['count'] = np.array([len(x)])
  return out


def aggregate_stats(episodes: list) -> dict:
  """Dataset stats from per-episode stats as LeRobot aggregates them: exact count, min, max, mean and std
  (pooled variance); quantiles as the count-weighted mean of the episodes' quantiles."""
  counts = np.array([e['count'][0] for e in episodes], np.float64)
  w = counts.reshape((-1,) + (1,) * np.ndim(episodes[0]['mean']))
  stack = lambda k: np.stack([e[k] for e in episodes])
  mean = (stack('mean') * w).sum(0) / counts.sum()
  var = ((stack('std') ** 2 + (stack('mean') - mean) ** 2) * w).sum(0) / counts.sum()
  out = {'min': stack('min').min(0), 'max': stack('max').max(0), 'mean': mean, 'std': np.sqrt(var),
         'count': np.array([int(counts.sum())])}
  for k in episodes[0]:
    if k.startswith('q'):
      out[k] = (stack(k) * w).sum(0) / counts.sum()
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
  ep_stats = []
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
      stats = {k: episode_stats(np.asarray(cols[k]), feats[k]['dtype']) for k in layout.INDEX_FEATURES}
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
          stats[name] = episode_stats(x, 'video')
        elif kind == 'mask':
          x = _mask_rgb(x)
          cols[name] = pa.array([{'bytes': _png(f), 'path': None} for f in x], IMAGE_STRUCT)
          stats[name] = episode_stats(x, 'image')
        else:
          cols[name] = _nested(x)
          stats[name] = episode_stats(x, 'float32')
      for k in low:
        name = layout.LOWDIM_FEATURE.get(k, f'observation.{k}')
        cols[name] = _vectors(arrays[k])
        stats[name] = episode_stats(np.asarray(arrays[k], np.float32), 'float32')
      state = np.concatenate([arrays[p] for p in _state_parts(low)], -1)
      cols[layout.STATE] = _vectors(state)
      stats[layout.STATE] = episode_stats(np.asarray(state, np.float32), 'float32')
      ep_stats.append(stats)
      table = pa.table({k: cols[k] for k in feats if k in cols})
      if data.needs_new():
        path = os.path.join(root, layout.V3_DATA_PATH.format(chunk_index=data.index[0], file_index=data.index[1]))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data.start(pq.ParquetWriter(path, table.schema), path)
      data.current.write_table(table)            # one row group per episode, as LeRobot writes
      row.update({'data/chunk_index': data.index[0], 'data/file_index': data.index[1], 'dataset_from_index': index,
                  'dataset_to_index': index + n})
      row.update({f'stats/{k}/{name}': v.tolist() for k in feats for name, v in stats[k].items()})
      row.update({'meta/episodes/chunk_index': 0, 'meta/episodes/file_index': 0})
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
  stats = {k: {name: v.tolist() for name, v in aggregate_stats([e[k] for e in ep_stats]).items()} for k in feats}
  for name, obj in ((layout.INFO, info), (layout.STATS, stats),
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
