"""What a dataset directory holds, and the checks that refuse anything else with a precise error.

A dataset is a directory:
  meta.json                         what the data is (task, source, dims, fields, shards) -- written last
  stats.json                        normalisation statistics of the low-dimensional fields
  episodes.array_record             one record per episode: its low-dimensional arrays (npz bytes)
  frames-00000-of-0000N.array_record one record per step: the images, raw bytes in `frame_fields` order

Frames are stored one per record so any (episode, step) is one random read; episodes are small and are
read into memory when a dataset is opened.
"""
from __future__ import annotations

import numpy as np

FORMAT_VERSION = 1
VIEW_MASK = 'image_present'    # batch field: which image keys an element's source stores (`data/pipeline.py`)
META_FILE, STATS_FILE, EPISODES_FILE = 'meta.json', 'stats.json', 'episodes.array_record'

# name -> accepted Python types
META_FIELDS = {
    'format_version': int, 'task': str, 'source': str, 'embodiment': str, 'num_arms': int,
    'num_episodes': int, 'num_steps': int, 'episode_lengths': list, 'has_actions': bool,
    'has_proprio': bool, 'action_dim': int, 'proprio_dim': int, 'ctrl_dt': float, 'image_size': int,
    'views': list, 'obs_keys': list, 'frame_fields': dict, 'lowdim_fields': dict, 'shards': list,
    'seed': int, 'scripted_success_rate': float, 'attempts': int,
}


class DatasetError(ValueError):
  """A dataset on disk is missing, incomplete, corrupt or not what the caller expects."""


def image_shape(key: str, size: int) -> tuple:
  """The stored shape of image field `key` at `size` pixels: RGB has three channels, masks and depth none."""
  return (size, size, 3) if key.endswith('/rgb') else (size, size)


def frame_bytes(spec: dict) -> int:
  return int(np.prod(spec['shape'])) * np.dtype(spec['dtype']).itemsize


def check_meta(meta: dict, path: str) -> None:
  """Raises DatasetError naming `path` and the field for anything missing, mistyped or inconsistent."""
  if not isinstance(meta, dict):
    raise DatasetError(f'{path}: expected a JSON object')
  version = meta.get('format_version')
  if version != FORMAT_VERSION:
    raise DatasetError(f'{path}: field "format_version" is {version!r}; this reader knows version '
                       f'{FORMAT_VERSION} (regenerate the dataset or use a matching glam_jax)')
  for name, kind in META_FIELDS.items():
    if name not in meta:
      raise DatasetError(f'{path}: missing field "{name}"')
    value = meta[name]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float else (
        isinstance(value, kind) and not (kind is int and isinstance(value, bool)))
    if not ok:
      raise DatasetError(f'{path}: field "{name}" should be {kind.__name__}, got {type(value).__name__}')
  lengths = meta['episode_lengths']
  if len(lengths) != meta['num_episodes']:
    raise DatasetError(f'{path}: field "episode_lengths" has {len(lengths)} entries but "num_episodes" is '
                       f'{meta["num_episodes"]}')
  if sum(lengths) != meta['num_steps']:
    raise DatasetError(f'{path}: field "num_steps" is {meta["num_steps"]} but "episode_lengths" sum to '
                       f'{sum(lengths)}')
  if any(n < 2 for n in lengths):
    raise DatasetError(f'{path}: field "episode_lengths": every episode needs at least 2 steps')
  if sum(s['num_records'] for s in meta['shards']) != meta['num_steps']:
    raise DatasetError(f'{path}: field "shards" holds {sum(s["num_records"] for s in meta["shards"])} '
                       f'records but "num_steps" is {meta["num_steps"]}')
  if sorted(meta['obs_keys']) != sorted(list(meta['frame_fields']) + [
      k for k in meta['lowdim_fields'] if k != 'action']):
    raise DatasetError(f'{path}: field "obs_keys" does not match "frame_fields" and "lowdim_fields"')
  if meta['has_actions'] != ('action' in meta['lowdim_fields']):
    raise DatasetError(f'{path}: field "has_actions" disagrees with "lowdim_fields"')
  if meta['has_actions'] and meta['lowdim_fields']['action']['dim'] != meta['action_dim']:
    raise DatasetError(f'{path}: field "action_dim" disagrees with "lowdim_fields.action"')


def check_episode(arrays: dict, meta: dict, length: int, where: str) -> None:
  """An episode record holds exactly the low-dimensional fields of `meta`, each (length, dim), all finite."""
  fields = meta['lowdim_fields']
  missing = sorted(set(fields) - set(arrays))
  if missing:
    raise DatasetError(f'{where}: missing field "{missing[0]}"')
  extra = sorted(set(arrays) - set(fields))
  if extra:
    raise DatasetError(f'{where}: unexpected field "{extra[0]}" (not in meta.json "lowdim_fields")')
  for name, spec in fields.items():
    a = arrays[name]
    if a.shape != (length, spec['dim']) or a.dtype != np.dtype(spec['dtype']):
      raise DatasetError(f'{where}: field "{name}" is {a.dtype}{list(a.shape)}, meta.json says '
                         f'{spec["dtype"]}[{length}, {spec["dim"]}]')
    bad = ~np.isfinite(a)
    if bad.any():
      step, col = np.argwhere(bad)[0]
      raise DatasetError(f'{where}: field "{name}" has a non-finite value ({a[step, col]}) at step {step}, '
                         f'entry {col}; training would turn it into NaN losses')
