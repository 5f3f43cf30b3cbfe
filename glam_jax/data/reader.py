"""Opens a dataset directory, checks it against its `meta.json`, and reads steps by (episode, step).

Opening checks the metadata, every shard's presence, size and record count, and every episode record, so
a damaged dataset fails at once with the file and the field named, not hours into training. Frame shards
are opened lazily per process (readers are not picklable), which lets Grain workers share a `Dataset`.
"""
from __future__ import annotations

import functools
import io
import json
import os
import zipfile

import numpy as np
from array_record.python.array_record_module import ArrayRecordReader

from glam_jax.data import schema
from glam_jax.data.stats import RunningStats

READER_OPTIONS = 'readahead_buffer_size:0'    # random access: no read-ahead


def _open_reader(path: str) -> ArrayRecordReader:
  try:
    return ArrayRecordReader(path, READER_OPTIONS)
  except Exception as e:  # array_record raises bare RuntimeErrors/ValueErrors
    raise schema.DatasetError(f'{path}: cannot open as ArrayRecord ({e}); the file is corrupt') from e


def _close(reader: ArrayRecordReader) -> None:
  try:
    reader.close()
  except Exception:  # noqa: BLE001 -- a damaged file can fail to close too; the read already said why
    pass


def frame_layout(fields: dict) -> tuple:
  """Where each field lies in a frame record, `((key, dtype, count, shape, offset), ...)`, and the record's
  size: worked out once per dataset, since recomputing it for every frame read took a quarter of the time
  a training batch spent loading."""
  out, offset = [], 0
  for k, s in fields.items():
    n = schema.frame_bytes(s)
    dtype = np.dtype(s['dtype'])
    out.append((k, dtype, n // dtype.itemsize, tuple(s['shape']), offset))
    offset += n
  return tuple(out), offset


def decode_frame(data: bytes, layout: tuple, where: str) -> dict:
  fields, size = layout
  if len(data) != size:
    raise schema.DatasetError(f'{where}: record has {len(data)} bytes, fields {[f[0] for f in fields]} need {size}')
  return {k: np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(shape)
          for k, dtype, count, shape, offset in fields}


def _decode_episode(data: bytes, where: str) -> dict:
  try:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
      return {k: z[k] for k in z.files}
  except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
    raise schema.DatasetError(f'{where}: cannot decode the episode ({e})') from e


def read_meta(path: str) -> dict:
  meta_path = os.path.join(path, schema.META_FILE)
  if not os.path.isdir(path):
    raise schema.DatasetError(f'{path}: no such dataset directory')
  if not os.path.exists(meta_path):
    raise schema.DatasetError(
        f'{meta_path}: missing; {path} is not a complete dataset (an interrupted write never renames its '
        'output into place, so this directory was not made by a finished run)')
  try:
    with open(meta_path) as f:
      meta = json.load(f)
  except json.JSONDecodeError as e:
    raise schema.DatasetError(f'{meta_path}: not valid JSON ({e})') from e
  schema.check_meta(meta, meta_path)
  return meta


class Dataset:
  """A validated dataset: `meta`, `stats`, low-dimensional `episodes` in memory, frames read on demand."""

  def __init__(self, path: str):
    self.path = os.path.abspath(path)
    self.meta = read_meta(self.path)
    lengths = np.asarray(self.meta['episode_lengths'], np.int64)
    self.lengths = lengths
    self.offsets = np.concatenate([[0], np.cumsum(lengths)])             # first global step per episode
    shard_sizes = np.asarray([s['num_records'] for s in self.meta['shards']], np.int64)
    self._shard_starts = np.concatenate([[0], np.cumsum(shard_sizes)])
    self._check_shards()
    self.episodes = self._read_episodes()
    self.stats = self._read_stats()
    self._readers = {}

  # -- validation on open -------------------------------------------------------------------------------
  def _check_shards(self):
    for s in self.meta['shards']:
      f = os.path.join(self.path, s['file'])
      if not os.path.exists(f):
        raise schema.DatasetError(f'{f}: missing shard listed in meta.json "shards"')
      size = os.path.getsize(f)
      if size != s['num_bytes']:
        raise schema.DatasetError(f'{f}: {size} bytes but meta.json "shards" says {s["num_bytes"]}; the shard '
                                  'is truncated or corrupt')
      reader = _open_reader(f)
      try:
        n = reader.num_records()
      except Exception as e:  # noqa: BLE001 -- array_record reports damage as bare RuntimeErrors
        raise schema.DatasetError(f'{f}: {e}; the shard is corrupt') from e
      finally:
        _close(reader)
      if n != s['num_records']:
        raise schema.DatasetError(f'{f}: {n} records but meta.json "shards" says {s["num_records"]}')

  def _read_episodes(self):
    f = os.path.join(self.path, schema.EPISODES_FILE)
    if not os.path.exists(f):
      raise schema.DatasetError(f'{f}: missing')
    reader = _open_reader(f)
    try:
      try:
        n = reader.num_records()
        records = reader.read_all()
      except Exception as e:  # noqa: BLE001 -- array_record reports damage as bare RuntimeErrors
        raise schema.DatasetError(f'{f}: cannot read records ({e}); the file is corrupt') from e
      if n != self.meta['num_episodes']:
        raise schema.DatasetError(f'{f}: {n} records but meta.json "num_episodes" is {self.meta["num_episodes"]}')
    finally:
      _close(reader)
    episodes = []
    for i, (data, n) in enumerate(zip(records, self.lengths)):
      arrays = _decode_episode(data, f'{f} record {i}')
      schema.check_episode(arrays, self.meta, int(n), f'{f} record {i}')
      episodes.append(arrays)
    return episodes

  def _read_stats(self):
    f = os.path.join(self.path, schema.STATS_FILE)
    if os.path.exists(f):
      with open(f) as fh:
        stats = json.load(fh)
      missing = sorted(set(self.meta['lowdim_fields']) - set(stats))
      if missing:
        raise schema.DatasetError(f'{f}: missing field "{missing[0]}"')
      return stats
    stats = {}
    for k, spec in self.meta['lowdim_fields'].items():   # older or hand-made datasets: compute once, store
      rs = RunningStats(spec['dim'])
      for ep in self.episodes:
        rs.update(ep[k])
      stats[k] = rs.result()
    try:
      with open(f, 'w') as fh:
        json.dump(stats, fh, indent=1)
    except OSError:
      pass   # read-only dataset: keep the stats in memory
    return stats

  # -- access ---------------------------------------------------------------------------------------------
  @property
  def num_episodes(self) -> int:
    return len(self.lengths)

  def __getstate__(self):
    return {**self.__dict__, '_readers': {}}

  @functools.cached_property
  def _layout(self) -> tuple:
    return frame_layout(self.meta['frame_fields'])

  def _reader(self, shard: int) -> ArrayRecordReader:
    if shard not in self._readers:
      self._readers[shard] = _open_reader(os.path.join(self.path, self.meta['shards'][shard]['file']))
    return self._readers[shard]

  def frame(self, episode: int, step: int) -> dict:
    """Images of one step, keyed like the env observations (e.g. `overhead/rgb`)."""
    if not (0 <= episode < len(self.lengths) and 0 <= step < self.lengths[episode]):
      raise IndexError(f'{self.path}: no step {step} in episode {episode}')
    g = int(self.offsets[episode] + step)
    shard = int(np.searchsorted(self._shard_starts, g, side='right') - 1)
    local = g - int(self._shard_starts[shard])
    where = f'{os.path.join(self.path, self.meta["shards"][shard]["file"])} record {local}'
    try:
      data = self._reader(shard).read([local])[0]
    except Exception as e:  # noqa: BLE001
      raise schema.DatasetError(f'{where}: cannot read ({e}); the shard is corrupt') from e
    return decode_frame(data, self._layout, where)

  def step(self, episode: int, step: int) -> dict:
    """Everything stored for one step: images and low-dimensional fields."""
    out = self.frame(episode, step)
    out.update({k: v[step] for k, v in self.episodes[episode].items()})
    return out

  def close(self) -> None:
    for r in self._readers.values():
      r.close()
    self._readers = {}


def open_dataset(path: str) -> Dataset:
  return Dataset(path)


def resample_indices(length: int, source_dt: float, target_dt: float) -> np.ndarray:
  """For each step of an episode re-timed to `target_dt`, the recorded step nearest in time (a source
  recorded at its own rate, as a loader of timestamped data would take it)."""
  n = int(np.floor((length - 1) * source_dt / target_dt + 1e-9)) + 1
  return np.minimum(np.rint(np.arange(n) * target_dt / source_dt).astype(np.int64), length - 1)


class Resampled:
  """A dataset seen at another control rate: the same interface as `Dataset` (meta, stats, lengths, offsets,
  episodes, frame, step), each step the recorded one nearest in time. What the pipeline, relabelling and
  the probe read of a source recorded at its own rate, so that a transition and H always count target
  steps."""

  def __init__(self, base: Dataset, ctrl_dt: float):
    self.base, self.path, self.stats = base, base.path, base.stats
    dt = float(base.meta['ctrl_dt'])
    self.index = [resample_indices(int(n), dt, ctrl_dt) for n in base.lengths]
    self.lengths = np.array([len(i) for i in self.index], np.int64)
    self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])
    self.episodes = [{k: v[i] for k, v in e.items()} for e, i in zip(base.episodes, self.index)]
    self.meta = {**base.meta, 'ctrl_dt': ctrl_dt, 'recorded_ctrl_dt': dt, 'num_steps': int(self.lengths.sum()),
                 'episode_lengths': self.lengths.tolist()}

  @property
  def num_episodes(self) -> int:
    return len(self.lengths)

  def frame(self, episode: int, step: int) -> dict:
    return self.base.frame(episode, int(self.index[episode][step]))

  def step(self, episode: int, step: int) -> dict:
    out = self.frame(episode, step)
    out.update({k: v[step] for k, v in self.episodes[episode].items()})
    return out

  def close(self) -> None:
    self.base.close()


def at_rate(ds: Dataset, ctrl_dt: float):
  """`ds` itself at its own control rate, else its `Resampled` view at `ctrl_dt`."""
  return ds if abs(float(ds.meta['ctrl_dt']) - ctrl_dt) < 1e-9 else Resampled(ds, ctrl_dt)
