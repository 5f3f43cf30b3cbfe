"""Dataset files: round trip, atomic writes, and clear errors for damaged or mismatched datasets."""
import json
import os

import numpy as np
import pytest

from glam_jax.data import DatasetError, DatasetWriter, open_dataset
from tests.data.helpers import SIZE, encoded, write_synthetic


def test_round_trip(tmp_path):
  lengths = [5, 9, 7]
  meta = write_synthetic(str(tmp_path / 'ds'), source=1, lengths=lengths, records_per_shard=6)
  ds = open_dataset(str(tmp_path / 'ds'))
  assert ds.meta == meta
  assert ds.meta['num_steps'] == sum(lengths) and len(ds.meta['shards']) == 4   # 21 records, 6 per shard
  assert sorted(ds.meta['obs_keys']) == ['ee_pose', 'gripper', 'joint_pos', 'joint_target', 'overhead/mask', 'overhead/rgb']
  for e, n in enumerate(lengths):
    for t in range(n):
      step = ds.step(e, t)
      assert step['overhead/rgb'].shape == (SIZE, SIZE, 3)
      assert tuple(step['overhead/rgb'][0, 0]) == (1, e, t)
      assert step['action'][0] == encoded(1, e, t)
      assert step['ee_pose'][3] == pytest.approx(encoded(1, e, t) + 0.3)
  # stats are those of all steps
  all_ee = np.concatenate([ep['ee_pose'] for ep in ds.episodes])
  np.testing.assert_allclose(ds.stats['ee_pose']['mean'], all_ee.mean(0), rtol=1e-5)
  np.testing.assert_allclose(ds.stats['action']['max'], np.concatenate([ep['action'] for ep in ds.episodes]).max(0))
  with pytest.raises(IndexError):
    ds.frame(0, 5)


def test_auxiliary_dataset_has_no_actions_or_proprio(tmp_path):
  write_synthetic(str(tmp_path / 'umi'), source=2, lengths=[4], has_actions=False, name='umi')
  ds = open_dataset(str(tmp_path / 'umi'))
  assert not ds.meta['has_actions'] and not ds.meta['has_proprio']
  assert set(ds.episodes[0]) == {'ee_pose', 'gripper'}


def test_interrupted_write_leaves_no_dataset(tmp_path):
  out = str(tmp_path / 'ds')
  ff = {'overhead/rgb': {'shape': (SIZE, SIZE, 3), 'dtype': 'uint8'}}
  with pytest.raises(RuntimeError, match='boom'):
    with DatasetWriter(out, ff, {'ee_pose': {'dim': 9, 'dtype': 'float32'}}) as w:
      w.add_episode({'ee_pose': np.zeros((3, 9))}, {'overhead/rgb': np.zeros((3, SIZE, SIZE, 3), np.uint8)})
      raise RuntimeError('boom')
  assert os.listdir(tmp_path) == []
  # A crash that kills the process leaves only the hidden sibling, which is not a dataset.
  w = DatasetWriter(out, ff, {'ee_pose': {'dim': 9, 'dtype': 'float32'}})
  w.add_episode({'ee_pose': np.zeros((3, 9))}, {'overhead/rgb': np.zeros((3, SIZE, SIZE, 3), np.uint8)})
  assert not os.path.exists(out)
  with pytest.raises(DatasetError, match='no such dataset'):
    open_dataset(out)
  with pytest.raises(DatasetError, match='meta.json: missing'):
    open_dataset(w.tmp_dir)
  w.abort()


def test_existing_dataset_is_not_overwritten_by_default(tmp_path):
  write_synthetic(str(tmp_path / 'ds'), 0, [3])
  with pytest.raises(FileExistsError):
    write_synthetic(str(tmp_path / 'ds'), 0, [3])


@pytest.mark.parametrize('damage', ['truncate', 'garble'])
def test_corrupt_shard_names_the_file(tmp_path, damage):
  write_synthetic(str(tmp_path / 'ds'), 0, [20, 20], records_per_shard=16)
  shard = tmp_path / 'ds' / 'frames-00001.array_record'
  data = bytearray(shard.read_bytes())
  if damage == 'truncate':
    shard.write_bytes(bytes(data[:len(data) // 2]))
    with pytest.raises(DatasetError, match='frames-00001.array_record.*truncated or corrupt'):
      open_dataset(str(tmp_path / 'ds'))
  else:
    for i in range(len(data) // 4, len(data) - 64):
      data[i] ^= 0x5A
    shard.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match='frames-00001.array_record'):
      ds = open_dataset(str(tmp_path / 'ds'))
      for e in range(2):
        for t in range(20):
          ds.frame(e, t)


def _edit_meta(path, fn):
  f = os.path.join(path, 'meta.json')
  with open(f) as fh:
    meta = json.load(fh)
  fn(meta)
  with open(f, 'w') as fh:
    json.dump(meta, fh)


@pytest.mark.parametrize('edit, message', [
    (lambda m: m.pop('task'), 'missing field "task"'),
    (lambda m: m.update(format_version=99), '"format_version" is 99'),
    (lambda m: m.update(num_steps='12'), '"num_steps" should be int'),
    (lambda m: m.update(num_steps=11), '"num_steps" is 11'),
    (lambda m: m['lowdim_fields']['action'].update(dim=7), 'field "action_dim" disagrees'),
    (lambda m: m['lowdim_fields']['action'].update(dim=7) or m.update(action_dim=7),
     r'episodes.array_record record 0: field "action" is float32\[6, 8\], meta.json says float32\[6, 7\]'),
    (lambda m: m['frame_fields']['overhead/rgb'].update(shape=[8, 8, 4]), 'record has'),
])
def test_bad_meta_names_file_and_field(tmp_path, edit, message):
  path = str(tmp_path / 'ds')
  write_synthetic(path, 0, [6, 6])
  _edit_meta(path, edit)
  with pytest.raises(DatasetError, match=message) as info:
    ds = open_dataset(path)
    ds.frame(0, 0)
  assert str(tmp_path) in str(info.value)


def test_missing_episode_field_is_named(tmp_path):
  path = str(tmp_path / 'ds')
  write_synthetic(path, 0, [4])
  _edit_meta(path, lambda m: m['lowdim_fields'].update(extra={'dim': 2, 'dtype': 'float32'}) or m.update(
      obs_keys=m['obs_keys'] + ['extra']))
  with pytest.raises(DatasetError, match='episodes.array_record record 0: missing field "extra"'):
    open_dataset(path)
