"""UMI zarr replay-buffer import (zarr format 2, a directory or a .zarr.zip): an auxiliary source with the pose
from axis-angle rotations, one or two grippers, subsampling, and named errors (an image codec that is not
installed, arrays that disagree with the episode ends) with no output."""
import importlib.util
import json
import os

import numpy as np
import pytest

from glam_jax.data import open_dataset
from glam_jax.data.importers import ImportOptions, SourceError, import_dataset
from glam_jax.data.importers.umi_zarr import UMI_FPS
from tests.data import import_helpers as H

LENGTHS = [10, 12, 9]


def _import(src, out, **kw):
  return import_dataset('umi_zarr', src, str(out), ImportOptions(progress=False, **kw))


@pytest.mark.parametrize('zip_store', [False, True])
def test_an_auxiliary_source_with_every_step(tmp_path, zip_store):
  src = str(tmp_path / ('umi.zarr.zip' if zip_store else 'umi.zarr'))
  truth = H.write_umi(src, LENGTHS, zip_store=zip_store)
  meta = _import(src, tmp_path / 'out', image_size=32)
  ds = open_dataset(str(tmp_path / 'out'))
  assert (meta['has_actions'], meta['has_proprio'], meta['embodiment'], meta['task']) == (False, False, 'umi', 'umi')
  assert meta['views'] == ['camera0'] and meta['episode_lengths'] == LENGTHS
  assert meta['ctrl_dt'] == pytest.approx(1 / UMI_FPS) and set(meta['lowdim_fields']) == {'ee_pose', 'gripper'}
  starts = np.concatenate([[0], np.cumsum(LENGTHS)])
  for e in range(len(LENGTHS)):
    rows = slice(starts[e], starts[e + 1])
    np.testing.assert_allclose(ds.episodes[e]['ee_pose'], truth['pose9'][0][rows], atol=2e-6)
    np.testing.assert_array_equal(ds.episodes[e]['gripper'], truth['arrays']['robot0_gripper_width'][rows])
    np.testing.assert_array_equal(H.episode_arrays(ds, e, 'camera0/rgb'), truth['arrays']['camera0_rgb'][rows])


def test_two_grippers_and_a_stride(tmp_path):
  src = str(tmp_path / 'bimanual.zarr')
  truth = H.write_umi(src, LENGTHS, arms=2)
  meta = _import(src, tmp_path / 'out', image_size=16, stride=3, task='stack_three')
  ds = open_dataset(str(tmp_path / 'out'))
  assert meta['num_arms'] == 2 and meta['lowdim_fields']['ee_pose']['dim'] == 18 and meta['task'] == 'stack_three'
  assert meta['episode_lengths'] == [4, 4, 3] and meta['ctrl_dt'] == pytest.approx(3 / UMI_FPS)
  starts = np.concatenate([[0], np.cumsum(LENGTHS)])
  for e in range(len(LENGTHS)):
    rows = np.arange(starts[e], starts[e + 1])[::3]
    want = np.concatenate([truth['pose9'][0][rows], truth['pose9'][1][rows]], -1)
    np.testing.assert_allclose(ds.episodes[e]['ee_pose'], want, atol=2e-6)
    np.testing.assert_array_equal(ds.episodes[e]['gripper'][:, 1], truth['arrays']['robot1_gripper_width'][rows, 0])


def test_bad_input_fails_with_a_named_error_and_no_output(tmp_path):
  out = tmp_path / 'out'
  # the image array compressed with UMI's JPEG XL codec, which is not installed here
  src = str(tmp_path / 'jxl.zarr')
  H.write_umi(src, LENGTHS)
  zarray = os.path.join(src, 'data', 'camera0_rgb', '.zarray')
  meta = json.load(open(zarray))
  meta['compressor'] = {'id': 'imagecodecs_jpegxl', 'level': 99, 'numthreads': 1}
  json.dump(meta, open(zarray, 'w'))
  if importlib.util.find_spec('imagecodecs'):
    pytest.skip('imagecodecs is installed: the codec would be found')
  with pytest.raises(SourceError, match=r'views: unknown image key "camera0_rgb" \(data/camera0_rgb is compressed '
                                        r"with codec 'imagecodecs_jpegxl', not available here; pip install "
                                        r'imagecodecs'):
    _import(src, out)
  H.assert_no_output(str(tmp_path), 'out')
  # an array shorter than the episode ends say
  src = str(tmp_path / 'short.zarr')
  H.write_umi(src, LENGTHS)
  import zarr
  root = zarr.open_group(src, mode='a')
  root['meta']['episode_ends'][:] = np.cumsum(LENGTHS) + 1
  with pytest.raises(SourceError, match=r'short\.zarr: data/camera0_rgb has 31 rows, meta/episode_ends ends at 32'):
    _import(src, out)
  # not a replay buffer, a wrong rotation size, a missing path
  os.makedirs(tmp_path / 'empty.zarr')
  zarr.open_group(str(tmp_path / 'empty.zarr'), mode='w', zarr_format=2).require_group('data')
  with pytest.raises(SourceError, match=r'empty\.zarr: no group "meta"; not a replay buffer'):
    _import(str(tmp_path / 'empty.zarr'), out)
  H.write_umi(str(tmp_path / 'ok.zarr'), LENGTHS)
  with pytest.raises(SourceError, match=r'ee_rot \(rot=quat_xyzw\): "robot0_eef_rot_axis_angle" has 3 values, '
                                        r'expected 4'):
    _import(str(tmp_path / 'ok.zarr'), out, fields={'rot': 'quat_xyzw'})
  with pytest.raises(SourceError, match=r'nowhere\.zarr: no such zarr replay buffer'):
    _import(str(tmp_path / 'nowhere.zarr'), out)
  H.assert_no_output(str(tmp_path), 'out')
