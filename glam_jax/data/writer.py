"""Writes a dataset directory atomically: everything goes to a hidden sibling and is renamed into place.

An interrupted run leaves only `<out>.incomplete-*` (never a directory with a `meta.json`), and the reader
refuses directories without one, so a crash can never pass for a complete dataset. A write that fails (a
full disk) raises `DatasetWriteError` and removes its partial output; a dataset already at `<out>` is only
replaced by the final rename, so it stays intact.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import uuid

import numpy as np
from array_record.python.array_record_module import ArrayRecordWriter

from glam_jax.data import schema
from glam_jax.data.stats import RunningStats

WRITER_OPTIONS = 'group_size:1,zstd:1'    # one record per chunk: random access; light compression


class DatasetWriteError(OSError):
  """Writing a dataset failed (disk full, file system error); nothing was put in place."""


def write_failure_reason(e: BaseException) -> str:
  """What a failed write says, short: a full disk reads the same from Python, array_record and TensorStore."""
  text = str(e)
  if 'No space left' in text or "os_error_code='28'" in text or getattr(e, 'errno', None) == 28:
    return 'no space left on device'
  return text.splitlines()[0][:300] if text else type(e).__name__


@contextlib.contextmanager
def _writing(out_dir: str):
  try:
    yield
  except schema.DatasetError:
    raise
  except Exception as e:  # noqa: BLE001 -- array_record reports I/O failures as bare RuntimeErrors
    text = str(e)
    reason = write_failure_reason(e)
    raise DatasetWriteError(f'{out_dir}: writing the dataset failed: {reason} ({type(e).__name__}: {text[:300]}); '
                            f'the partial output is removed and any dataset already at {out_dir} is intact') from e


def encode_frame(frame: dict, fields: dict) -> bytes:
  return b''.join(np.ascontiguousarray(frame[k], dtype=s['dtype']).tobytes() for k, s in fields.items())


def encode_episode(arrays: dict) -> bytes:
  buf = io.BytesIO()
  np.savez(buf, **arrays)
  return buf.getvalue()


def _write_json(path: str, obj) -> None:
  with open(path + '.tmp', 'w') as f:
    json.dump(obj, f, indent=1)
    f.flush()
    os.fsync(f.fileno())
  os.replace(path + '.tmp', path)


class DatasetWriter:
  """`add_episode(lowdim, frames)` per episode, then `close(**meta)`; use as a context manager so that an
  exception removes the partial output."""

  def __init__(self, out_dir: str, frame_fields: dict, lowdim_fields: dict, records_per_shard: int = 2048,
               overwrite: bool = False):
    self.out_dir = os.path.abspath(out_dir)
    if os.path.exists(self.out_dir) and not overwrite:
      raise FileExistsError(f'{self.out_dir} exists; pass overwrite to replace it')
    os.makedirs(os.path.dirname(self.out_dir), exist_ok=True)
    self.tmp_dir = f'{self.out_dir}.incomplete-{uuid.uuid4().hex[:8]}'
    os.makedirs(self.tmp_dir)
    self.frame_fields = {k: {'shape': list(s['shape']), 'dtype': str(np.dtype(s['dtype']))}
                         for k, s in frame_fields.items()}
    self.lowdim_fields = {k: {'dim': int(s['dim']), 'dtype': str(np.dtype(s['dtype']))}
                          for k, s in lowdim_fields.items()}
    self.records_per_shard = records_per_shard
    self._episodes = ArrayRecordWriter(os.path.join(self.tmp_dir, schema.EPISODES_FILE), WRITER_OPTIONS)
    self._shard, self._shards, self.lengths = None, [], []
    self._stats = {k: RunningStats(s['dim']) for k, s in self.lowdim_fields.items()}

  def __enter__(self):
    return self

  def __exit__(self, exc_type, exc, tb):
    if exc_type is not None:
      self.abort()

  def _frame_writer(self):
    if self._shard is None or self._shards[-1]['num_records'] >= self.records_per_shard:
      self._close_shard()
      name = f'frames-{len(self._shards):05d}.array_record'
      self._shard = ArrayRecordWriter(os.path.join(self.tmp_dir, name), WRITER_OPTIONS)
      self._shards.append({'file': name, 'num_records': 0})
    return self._shard

  def _close_shard(self):
    if self._shard is not None:
      self._shard.close()
      self._shard = None
      last = self._shards[-1]
      last['num_bytes'] = os.path.getsize(os.path.join(self.tmp_dir, last['file']))

  def add_episode(self, lowdim: dict, frames: dict) -> None:
    length = len(next(iter(lowdim.values())))
    arrays = {k: np.asarray(v, dtype=self.lowdim_fields[k]['dtype']) if k in self.lowdim_fields else v
              for k, v in lowdim.items()}
    schema.check_episode(arrays, {'lowdim_fields': self.lowdim_fields}, length, 'episode to write')
    for k, s in self.frame_fields.items():
      if k not in frames or frames[k].shape != (length, *s['shape']):
        got = frames[k].shape if k in frames else 'nothing'
        raise schema.DatasetError(f'episode to write: field "{k}" should be {[length, *s["shape"]]}, got {got}')
    with _writing(self.out_dir):
      self._episodes.write(encode_episode(arrays))
      for t in range(length):
        self._frame_writer().write(encode_frame({k: frames[k][t] for k in self.frame_fields}, self.frame_fields))
        self._shards[-1]['num_records'] += 1
    for k, a in arrays.items():
      self._stats[k].update(a)
    self.lengths.append(int(length))

  def close(self, **meta) -> dict:
    """Finishes the shards, writes stats.json and meta.json (last), and renames into place."""
    if not self.lengths:
      raise schema.DatasetError(f'{self.out_dir}: no episodes to write')
    with _writing(self.out_dir):
      self._close_shard()
      self._episodes.close()
    meta = dict(meta, format_version=schema.FORMAT_VERSION, num_episodes=len(self.lengths),
                num_steps=int(sum(self.lengths)), episode_lengths=self.lengths, frame_fields=self.frame_fields,
                lowdim_fields=self.lowdim_fields, shards=self._shards,
                obs_keys=list(self.frame_fields) + [k for k in self.lowdim_fields if k != 'action'])
    schema.check_meta(meta, os.path.join(self.out_dir, schema.META_FILE))
    with _writing(self.out_dir):
      _write_json(os.path.join(self.tmp_dir, schema.STATS_FILE), {k: s.result() for k, s in self._stats.items()})
      _write_json(os.path.join(self.tmp_dir, schema.META_FILE), meta)
    old = None
    if os.path.exists(self.out_dir):
      old = f'{self.out_dir}.old-{uuid.uuid4().hex[:8]}'
      os.rename(self.out_dir, old)
    os.rename(self.tmp_dir, self.out_dir)
    if old:
      shutil.rmtree(old)
    return meta

  def abort(self) -> None:
    for w in (self._shard, self._episodes):
      if w is not None:
        try:
          w.close()
        except Exception:  # noqa: BLE001 -- already failing; removing the output matters more
          pass
    self._shard = None
    shutil.rmtree(self.tmp_dir, ignore_errors=True)
