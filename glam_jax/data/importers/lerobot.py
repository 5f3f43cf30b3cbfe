"""LeRobotDataset v2.x and v3.0 (parquet frames, MP4 videos, `meta/info.json`) as a source.

Per-step keys are the 1-d numeric features (`observation.state`, `action`, ...); image keys are the `video`
and `image` features and numeric (H, W) arrays. Video frames are matched to parquet rows by timestamp
(v3.0: the episode's `from_timestamp` in its file plus the row's `timestamp`), as LeRobot does, within half
a frame period.

Defaults: every camera is a view named after its key's last part (`observation.images.front` -> `front`);
`observation.ee_pose`, `observation.gripper`, `observation.joint_pos`, `observation.joint_target` and
`action` where present (what glam_jax's exporter writes; other datasets name their end-effector keys), masks
under `observation.masks.<view>`, depth under `observation.depth.<view>`; the embodiment is `robot_type`, the
task the first task string, the rate `fps`. A glam_jax export's `meta/glam_jax.json` restores its meta.json.
"""
from __future__ import annotations

import builtins
import glob
import io
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from PIL import Image

from glam_jax.data import lerobot_layout as layout
from glam_jax.data import video
from glam_jax.data.importers.common import Fields, RawEpisode, SourceError, SourceInfo, abspath

NUMERIC = ('bool', 'uint8', 'uint16', 'uint32', 'int8', 'int16', 'int32', 'int64', 'float16', 'float32', 'float64')


def open(path: str) -> LeRobotReader:  # noqa: A001 -- every importer module has open(path)
  return LeRobotReader(path)


def feature_kind(ft: dict) -> str | None:
  """'video', 'image', 'array' (numeric, 2-d or more), 'lowdim' (numeric, 1-d) or None (strings, ...)."""
  dtype, shape = ft.get('dtype'), ft.get('shape') or ()
  if dtype in ('video', 'image'):
    return dtype
  if dtype in NUMERIC:
    return 'lowdim' if len(shape) == 1 else 'array' if len(shape) >= 2 else None
  return None


def view_name(key: str) -> str:
  return key[len(layout.FRAME_PREFIX['rgb']):] if key.startswith(layout.FRAME_PREFIX['rgb']) else key.split('.')[-1]


def _image_shape(ft: dict) -> tuple:
  shape, names = tuple(ft['shape']), ft.get('names') or []
  if len(shape) == 3 and names and str(names[0]).startswith('channel'):
    return shape[1], shape[2], shape[0]
  return shape


def _values(arr: pa.Array, where: str) -> np.ndarray:
  """All leaf values of a (nested) list column, flattened."""
  while pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
    arr = arr.flatten()
  try:
    return arr.to_numpy(zero_copy_only=False)
  except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
    raise SourceError(f'{where}: not numeric ({e})') from e


class LeRobotReader:
  def __init__(self, path: str):
    self.root = abspath(path)
    if not os.path.isdir(self.root):
      raise SourceError(f'{self.root}: no such LeRobot dataset directory')
    info_path = os.path.join(self.root, layout.INFO)
    raw = self._json(info_path)
    version = raw.get('codebase_version')
    if version not in layout.V2_VERSIONS + (layout.V3_VERSION,):
      raise SourceError(f'{info_path}: field "codebase_version" is {version!r}; supported: '
                        f'{", ".join(layout.V2_VERSIONS + (layout.V3_VERSION,))}')
    for name in ('fps', 'features'):
      if name not in raw:
        raise SourceError(f'{info_path}: missing field "{name}"')
    self.v3, self.version, self.raw = version == layout.V3_VERSION, version, raw
    self.fps = float(raw['fps'])
    self.features = raw['features']
    self.kinds = {k: feature_kind(ft) for k, ft in self.features.items() if k not in layout.INDEX_FEATURES}
    self.data_path = raw.get('data_path') or (layout.V3_DATA_PATH if self.v3 else layout.V2_DATA_PATH)
    self.video_path = raw.get('video_path') or (layout.V3_VIDEO_PATH if self.v3 else layout.V2_VIDEO_PATH)
    self.chunks_size = int(raw.get('chunks_size', layout.CHUNKS_SIZE))
    self.rows, self.rows_file = self._episode_rows()
    self._cache = (None, None)
    self.info = self._describe()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self._cache = (None, None)

  @staticmethod
  def _json(path: str) -> dict:
    if not os.path.exists(path):
      raise SourceError(f'{path}: missing; not a LeRobot dataset')
    try:
      with builtins.open(path) as f:
        return json.load(f)
    except json.JSONDecodeError as e:
      raise SourceError(f'{path}: not valid JSON ({e})') from e

  # -- metadata -----------------------------------------------------------------------------------------------
  def _episode_rows(self) -> tuple[list, str]:
    video_keys = [k for k, kind in self.kinds.items() if kind == 'video']
    if not self.v3:
      path = os.path.join(self.root, layout.V2_EPISODES)
      if not os.path.exists(path):
        raise SourceError(f'{path}: missing; a {self.version} dataset lists its episodes there')
      rows = []
      with builtins.open(path) as f:
        for i, line in enumerate(f):
          if line.strip():
            rows.append(json.loads(line))
            for name in ('episode_index', 'length'):
              if name not in rows[-1]:
                raise SourceError(f'{path} line {i + 1}: missing field "{name}"')
      return sorted(rows, key=lambda r: r['episode_index']), layout.V2_EPISODES
    files = sorted(glob.glob(os.path.join(self.root, layout.V3_EPISODES_DIR, '*', '*.parquet')))
    if not files:
      raise SourceError(f'{os.path.join(self.root, layout.V3_EPISODES_DIR)}: no episode files '
                        '(chunk-XXX/file-XXX.parquet)')
    rows = []
    need = ['episode_index', 'length', 'data/chunk_index', 'data/file_index'] + [
        f'videos/{k}/{n}' for k in video_keys for n in ('chunk_index', 'file_index', 'from_timestamp')]
    for f in files:
      names = pq.read_schema(f).names
      missing = [n for n in need if n not in names]
      if missing:
        raise SourceError(f'{f}: missing field "{missing[0]}"')
      rows += pq.read_table(f, columns=[n for n in names if not n.startswith('stats/')]).to_pylist()
    return sorted(rows, key=lambda r: r['episode_index']), os.path.relpath(files[0], self.root)

  def _first_task(self) -> str:
    try:
      if self.v3:
        table = pq.read_table(os.path.join(self.root, layout.V3_TASKS))
        first = int(np.argmin(table.column('task_index').to_numpy())) if 'task_index' in table.column_names else 0
        for name in (layout.PANDAS_INDEX, 'task'):    # LeRobot's tasks are the (unnamed) pandas index
          if name in table.column_names:
            return str(table.column(name)[first].as_py())
        return ''
      with builtins.open(os.path.join(self.root, layout.V2_TASKS)) as f:
        return str(json.loads(f.readline())['task'])
    except (OSError, KeyError, IndexError, ValueError, pa.ArrowException):
      return ''

  def _describe(self) -> SourceInfo:
    cams = [k for k, kind in self.kinds.items()
            if kind in ('video', 'image') and not k.startswith(layout.FRAME_PREFIX['mask'])]
    views = tuple((k, view_name(k)) for k in cams)
    names = [v for _, v in views]
    if len(set(names)) != len(names):       # two cameras end alike: keep their whole keys
      views = tuple((k, k.replace('.', '_')) for k in cams)
    lowdim = {k: int(self.features[k]['shape'][0]) for k, kind in self.kinds.items() if kind == 'lowdim'}
    images = {k: _image_shape(self.features[k]) for k, kind in self.kinds.items()
              if kind in ('video', 'image', 'array')}
    f = {}
    ee, grip = layout.LOWDIM_FEATURE['ee_pose'], layout.LOWDIM_FEATURE['gripper']
    if ee in lowdim and lowdim[ee] % 9 == 0:
      f['ee_pose'] = tuple(f'{ee}[{9 * i}:{9 * i + 9}]' for i in range(lowdim[ee] // 9))
    if grip in lowdim:
      f['gripper'] = tuple(f'{grip}[{i}]' for i in range(lowdim[grip]))
    for name in ('joint_pos', 'joint_target', 'action'):
      if layout.LOWDIM_FEATURE[name] in lowdim:
        f[name] = (layout.LOWDIM_FEATURE[name],)
    mask_keys = {v: layout.FRAME_PREFIX['mask'] + v for _, v in views if layout.FRAME_PREFIX['mask'] + v in images}
    depth = tuple((layout.FRAME_PREFIX['depth'] + v, v) for _, v in views
                  if self.kinds.get(layout.FRAME_PREFIX['depth'] + v) == 'array')
    meta = {}
    glam = os.path.join(self.root, layout.GLAM_META)
    if os.path.exists(glam):
      meta = self._json(glam)
    return SourceInfo(path=self.root, format=f'lerobot {self.version}', lowdim=lowdim, images=images,
                      num_episodes=len(self.rows), fields=Fields(views=views, depth=depth, **f), fps=self.fps,
                      embodiment=self.raw.get('robot_type') or 'lerobot', task=self._first_task(),
                      mask_keys=mask_keys, meta=meta)

  # -- episodes -------------------------------------------------------------------------------------------------
  def _table(self, row: dict) -> tuple[pa.Table, str]:
    e = row['episode_index']
    if self.v3:
      rel = self.data_path.format(chunk_index=row['data/chunk_index'], file_index=row['data/file_index'])
    else:
      rel = self.data_path.format(episode_chunk=e // self.chunks_size, episode_index=e)
    path = os.path.join(self.root, rel)
    if self._cache[0] != path:
      if not os.path.exists(path):
        raise SourceError(f'{path}: missing; {self.rows_file} lists episode {e} in it')
      try:
        self._cache = (path, pq.read_table(path))
      except pa.ArrowException as e2:
        raise SourceError(f'{path}: cannot read as parquet ({e2})') from e2
    table = self._cache[1]
    if self.v3 or 'episode_index' in table.column_names:
      if 'episode_index' not in table.column_names:
        raise SourceError(f'{path}: no column "episode_index"')
      table = table.filter(pc.equal(table.column('episode_index'), e))
    if table.num_rows != row['length']:
      raise SourceError(f'{path}: episode {e} has {table.num_rows} rows, {self.rows_file} says its length is '
                        f'{row["length"]}')
    if 'frame_index' in table.column_names:
      table = table.take(np.argsort(table.column('frame_index').to_numpy(), kind='stable'))
    return table, path

  def _column(self, table: pa.Table, key: str, path: str) -> pa.Array:
    if key not in table.column_names:
      raise SourceError(f'{path}: no column "{key}" (meta/info.json lists it as a feature)')
    return table.column(key).combine_chunks()

  def episodes(self, keys):
    for row in self.rows:
      table, path = self._table(row)
      n, e = table.num_rows, row['episode_index']
      lowdim = {}
      for k in keys:
        x = _values(self._column(table, k, path), f'{path}: column "{k}"')
        if x.size != n * self.info.lowdim[k]:
          raise SourceError(f'{path}: column "{k}" holds {x.size} values for {n} rows, meta/info.json says '
                            f'{self.info.lowdim[k]} per row')
        lowdim[k] = x.reshape(n, -1)
      ts = (table.column('timestamp').to_numpy().astype(np.float64) if 'timestamp' in table.column_names
            else np.arange(n) / self.fps)
      yield RawEpisode(f'{path} episode {e}', n, lowdim,
                       lambda key, row=row, table=table, path=path, ts=ts: self._frames(key, row, table, path, ts))

  def _frames(self, key: str, row: dict, table: pa.Table, path: str, ts: np.ndarray):
    e, kind = row['episode_index'], self.kinds[key]
    if kind == 'video':
      if self.v3:
        rel = self.video_path.format(video_key=key, chunk_index=row[f'videos/{key}/chunk_index'],
                                     file_index=row[f'videos/{key}/file_index'])
        start = float(row[f'videos/{key}/from_timestamp'])
      else:
        rel = self.video_path.format(episode_chunk=e // self.chunks_size, video_key=key, episode_index=e)
        start = 0.0
      return video.read_frames(os.path.join(self.root, rel), start + ts, 0.5 / self.fps,
                               f'episode {e}, feature "{key}"')
    col = self._column(table, key, path)
    if kind == 'image':
      return (self._decode_image(col, i, key, path) for i in range(len(col)))
    shape = tuple(self.features[key]['shape'])
    return iter(_values(col, f'{path}: column "{key}"').astype(np.float32).reshape((len(col),) + shape))

  @staticmethod
  def _decode_image(col: pa.Array, i: int, key: str, path: str) -> np.ndarray:
    item = col[i].as_py()
    data = item.get('bytes') if isinstance(item, dict) else item
    if not data:
      raise SourceError(f'{path}: column "{key}" row {i} holds no image bytes (images stored by path only are '
                        'not supported)')
    try:
      return np.asarray(Image.open(io.BytesIO(data)))
    except OSError as e:
      raise SourceError(f'{path}: column "{key}" row {i}: cannot decode the image ({e})') from e

