"""Fuzzed datasets (hypothesis): truncated or bit-flipped files, NaN/Inf in low-dimensional fields, a
meta.json that lies about counts, dimensions, shapes or dtypes, a wrong format version, a missing stats.json.
Opening the dataset and reading every step either gives exactly the original data or raises a DatasetError
that names a file of the dataset; never another exception from inside a library, never different data."""
import json
import os
import shutil
import tempfile

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from glam_jax.data import DatasetError, open_dataset, schema
from glam_jax.data.writer import encode_episode
from tests.data.helpers import write_synthetic

from array_record.python.array_record_module import ArrayRecordWriter


@pytest.fixture(scope='module')
def original(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('fuzz') / 'ds')
  write_synthetic(path, 1, [5, 7, 4], records_per_shard=6)
  return path, read_everything(path)


def read_everything(path: str) -> dict:
  ds = open_dataset(path)
  out = {'meta': ds.meta, 'stats': ds.stats, 'steps': [ds.step(e, t) for e in range(ds.num_episodes)
                                                       for t in range(int(ds.lengths[e]))]}
  ds.close()
  return out


def same(a: dict, b: dict) -> bool:
  if a['meta'] != b['meta'] or len(a['steps']) != len(b['steps']):
    return False
  return all(x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x) for x, y in zip(a['steps'], b['steps']))


def check(path: str, clean: dict, corrupted: str) -> None:
  try:
    got = read_everything(path)
  except DatasetError as e:
    assert path in str(e) or corrupted in str(e), f'the error does not name the dataset: {e}'
    event('named error')
    return
  assert same(got, clean), f'{corrupted}: corrupted data read back without an error'
  event('read back unchanged')


def files(path):
  return sorted(f for f in os.listdir(path) if f.endswith('.array_record'))


def rewrite_meta(path, fn):
  f = os.path.join(path, schema.META_FILE)
  with open(f) as fh:
    meta = json.load(fh)
  fn(meta)
  with open(f, 'w') as fh:
    json.dump(meta, fh)


META_LIES = {
    'num_episodes': lambda m: m.update(num_episodes=m['num_episodes'] + 1),
    'episode_lengths': lambda m: m['episode_lengths'].__setitem__(0, m['episode_lengths'][0] + 1),
    'both_counts': lambda m: (m['episode_lengths'].__setitem__(0, m['episode_lengths'][0] + 1),
                              m.update(num_steps=m['num_steps'] + 1)),
    'action_dim': lambda m: m.update(action_dim=m['action_dim'] + 1),
    'lowdim_dim': lambda m: m['lowdim_fields']['ee_pose'].update(dim=7),
    'lowdim_dtype': lambda m: m['lowdim_fields']['gripper'].update(dtype='float64'),
    'frame_shape': lambda m: m['frame_fields']['overhead/rgb'].update(shape=[8, 8, 4]),
    'frame_dtype': lambda m: m['frame_fields']['overhead/mask'].update(dtype='float32'),
    'shard_records': lambda m: m['shards'][0].update(num_records=m['shards'][0]['num_records'] - 1),
    'format_version': lambda m: m.update(format_version=0),
    'field_type': lambda m: m.update(num_arms='one'),
    'missing_field': lambda m: m.pop('views'),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_files_fail_with_a_named_error_or_read_back_unchanged(original, data):
  src, clean = original
  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, 'ds')
    shutil.copytree(src, path)
    kind = data.draw(st.sampled_from(['truncate', 'flip', 'meta', 'no_stats', 'bad_json']), label='kind')
    if kind in ('truncate', 'flip'):
      name = data.draw(st.sampled_from(files(path)), label='file')
      f = os.path.join(path, name)
      raw = bytearray(open(f, 'rb').read())
      if kind == 'truncate':
        raw = raw[:data.draw(st.integers(0, len(raw) - 1), label='keep')]
      else:
        for _ in range(data.draw(st.integers(1, 3), label='flips')):
          raw[data.draw(st.integers(0, len(raw) - 1), label='byte')] ^= 1 << data.draw(st.integers(0, 7), label='bit')
      open(f, 'wb').write(bytes(raw))
    elif kind == 'meta':
      name = schema.META_FILE
      rewrite_meta(path, META_LIES[data.draw(st.sampled_from(sorted(META_LIES)), label='lie')])
    elif kind == 'no_stats':
      name = schema.STATS_FILE
      os.remove(os.path.join(path, name))
    else:
      name = schema.META_FILE
      with open(os.path.join(path, name), 'w') as fh:
        fh.write('{"format_version": 1, ')
    check(path, clean, name)


@pytest.mark.parametrize('field, value', [('action', np.nan), ('joint_pos', np.inf), ('ee_pose', -np.inf)])
def test_non_finite_values_are_named(original, tmp_path, field, value):
  src, _ = original
  path = str(tmp_path / 'ds')
  shutil.copytree(src, path)
  ds = open_dataset(path)
  episodes = [dict(ep) for ep in ds.episodes]
  ds.close()
  episodes[1][field] = episodes[1][field].copy()
  episodes[1][field][3, 0] = value
  f = os.path.join(path, schema.EPISODES_FILE)
  w = ArrayRecordWriter(f, 'group_size:1')
  for ep in episodes:
    w.write(encode_episode(ep))
  w.close()
  with pytest.raises(DatasetError, match=rf'{f} record 1: field "{field}" has a non-finite value \({value}\) at '
                                         r'step 3'):
    open_dataset(path)
