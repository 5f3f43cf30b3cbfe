"""robomimic HDF5 import: robosuite's names map by default (pose from x, y, z, w quaternions, the gripper
opening from its two finger joints), views can be renamed and resized, and bad input fails with a named
error and no output."""
import h5py
import numpy as np
import pytest

from glam_jax.data import open_dataset
from glam_jax.data.importers import ImportOptions, SourceError, import_dataset
from glam_jax.data.importers.common import square_mask, square_rgb
from tests.data import import_helpers as H

LENGTHS = [8, 11, 9]


@pytest.fixture(scope='module')
def source(tmp_path_factory):
  path = str(tmp_path_factory.mktemp('robomimic') / 'demo.hdf5')
  return path, H.write_robomimic(path, LENGTHS)


def _import(src, out, **kw):
  return import_dataset('robomimic', src, str(out), ImportOptions(progress=False, **kw))


def test_defaults_follow_robosuite_names(source, tmp_path):
  path, demos = source
  meta = _import(path, tmp_path / 'out', image_size=32)
  ds = open_dataset(str(tmp_path / 'out'))
  assert ds.meta == meta
  assert meta['views'] == ['agentview', 'robot0_eye_in_hand'] and 'agentview/mask' not in meta['frame_fields']
  assert (meta['task'], meta['embodiment'], meta['source'], meta['ctrl_dt']) == ('Lift', 'Panda', 'Panda', 0.05)
  assert (meta['action_dim'], meta['proprio_dim'], meta['num_arms']) == (7, 8, 1)
  assert meta['episode_lengths'] == LENGTHS
  for e, d in enumerate(demos):
    low = ds.episodes[e]
    np.testing.assert_allclose(low['ee_pose'], d['pose9'], atol=1e-6)
    np.testing.assert_allclose(low['gripper'][:, 0], d['fingers'][:, 0] - d['fingers'][:, 1], atol=1e-7)
    np.testing.assert_allclose(low['joint_pos'], d['joints'], rtol=1e-6)
    np.testing.assert_allclose(low['action'], d['actions'], rtol=1e-6)
    np.testing.assert_array_equal(H.episode_arrays(ds, e, 'agentview/rgb'), d['rgb'])     # same size: untouched
    np.testing.assert_array_equal(H.episode_arrays(ds, e, 'robot0_eye_in_hand/rgb'), d['rgb'][:, ::-1])


def test_renamed_resized_masked_and_auxiliary(source, tmp_path):
  path, demos = source
  meta = _import(path, tmp_path / 'out', image_size=16, masks='fn:tests.data.import_helpers:red_mask',
                 drop_actions=True, fields={'views': (('agentview_image', 'front'),), 'joint_pos': ()})
  ds = open_dataset(str(tmp_path / 'out'))
  assert list(meta['frame_fields']) == ['front/rgb', 'front/mask'] and meta['image_size'] == 16
  assert not meta['has_actions'] and not meta['has_proprio'] and set(meta['lowdim_fields']) == {'ee_pose', 'gripper'}
  for e, d in enumerate(demos):
    np.testing.assert_array_equal(H.episode_arrays(ds, e, 'front/rgb'), np.stack([square_rgb(x, 16) for x in d['rgb']]))
    np.testing.assert_array_equal(H.episode_arrays(ds, e, 'front/mask'),
                                  np.stack([square_mask(m, 16) for m in H.red_mask(d['rgb'], 'front')]))
    assert H.iou(H.episode_arrays(ds, e, 'front/mask'), np.stack([square_mask(m, 16) for m in d['mask']])) == 1.0


def test_bad_input_fails_with_a_named_error_and_no_output(tmp_path):
  out = tmp_path / 'out'
  path = str(tmp_path / 'bad.hdf5')
  H.write_robomimic(path, LENGTHS)
  with h5py.File(path, 'a') as f:                  # one observation a step short in the second demo
    obs = f['data/demo_1/obs']
    short = obs['robot0_eef_pos'][:-1]
    del obs['robot0_eef_pos']
    obs.create_dataset('robot0_eef_pos', data=short)
  with pytest.raises(SourceError, match=r'bad\.hdf5: data/demo_1/obs/robot0_eef_pos has 10 steps, expected 11 '
                                        r'\(its num_samples attribute\)'):
    _import(path, out)
  H.assert_no_output(str(tmp_path), 'out')
  with pytest.raises(SourceError, match=r'ee_rot: unknown key "robot0_eef_rotation"; the per-step keys are'):
    _import(path, out, fields={'ee_rot': ('robot0_eef_rotation',)})
  with pytest.raises(SourceError, match=r'views: unknown image key "sideview_image"; the image keys are '
                                        r"\['agentview_image', 'robot0_eye_in_hand_image'\]"):
    _import(path, out, fields={'views': (('sideview_image', 'side'),)})
  with pytest.raises(SourceError, match=r'ee_rot \(rot=axis_angle\): "robot0_eef_quat" has 4 values, expected 3'):
    _import(path, out, fields={'rot': 'axis_angle'})
  with pytest.raises(SourceError, match=r'missing\.hdf5: no such robomimic HDF5 file'):
    _import(str(tmp_path / 'missing.hdf5'), out)
  with open(tmp_path / 'text.hdf5', 'w') as f:
    f.write('not hdf5')
  with pytest.raises(SourceError, match=r'text\.hdf5: not an HDF5 file'):
    _import(str(tmp_path / 'text.hdf5'), out)
  H.assert_no_output(str(tmp_path), 'out')
  # a file without a control rate needs one given
  norate = str(tmp_path / 'norate.hdf5')
  H.write_robomimic(norate, [5, 6], control_freq=None)
  with pytest.raises(SourceError, match=r'norate\.hdf5: the source does not record its control rate; pass fps'):
    _import(norate, out)
  H.assert_no_output(str(tmp_path), 'out')
  assert _import(norate, out, fps=10.0)['ctrl_dt'] == pytest.approx(0.1)
