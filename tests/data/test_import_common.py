"""The pieces every importer shares: key specs, rotation formats to the project's 9-number pose, square crops,
colour masks."""
import numpy as np
import pytest

from glam_jax.data.importers import common, masks
from tests.data.import_helpers import rot_x, rot_z


def rot_y(a):
  c, s = np.cos(a), np.sin(a)
  return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def test_specs_select_values():
  arrays = {'state': np.arange(12.0).reshape(3, 4), 'grip-qpos': np.array([[0.03, -0.03], [0.02, -0.02], [0, 0]])}
  np.testing.assert_array_equal(common.select('state', arrays), arrays['state'])
  np.testing.assert_array_equal(common.select('state[1:3]', arrays), arrays['state'][:, 1:3])
  np.testing.assert_array_equal(common.select('state[-1]', arrays), arrays['state'][:, 3:])
  np.testing.assert_array_equal(common.select('state[:2]', arrays), arrays['state'][:, :2])
  np.testing.assert_allclose(common.select('grip-qpos[0]-grip-qpos[1]', arrays)[:, 0], [0.06, 0.04, 0])
  info = common.SourceInfo('src', 'test', {'state': 4, 'grip-qpos': 2}, {}, 1, common.Fields())
  assert common.spec_dim('state[1:3]', info, 'x') == 2 and common.spec_dim('grip-qpos[0]-grip-qpos[1]', info, 'x') == 1
  with pytest.raises(common.SourceError, match='selects nothing'):
    common.spec_dim('state[4:]', info, 'joint_pos')
  with pytest.raises(common.SourceError, match='bad key spec'):
    common.spec_dim('state[1', info, 'joint_pos')
  with pytest.raises(common.SourceError, match='bad key spec'):      # differences are of single values only
    common.spec_dim('state[0:2]-state[1]', info, 'gripper')
  with pytest.raises(common.SourceError, match=r"unknown key \"qpos\"; the per-step keys are \['grip-qpos', 'state'\]"):
    common.spec_dim('qpos[0]', info, 'gripper')


def test_rotation_formats_give_the_same_pose():
  a, b, c = 0.4, -0.7, 1.1
  r = rot_z(c) @ rot_y(b) @ rot_x(a)
  pos = np.array([[0.1, 0.2, 0.3]])
  want = np.concatenate([pos[0], r[:, 0], r[:, 1]])[None]
  # the quaternion and rotation vector of r, from its axis and angle
  angle = np.arccos((np.trace(r) - 1) / 2)
  axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / (2 * np.sin(angle))
  xyzw = np.concatenate([axis * np.sin(angle / 2), [np.cos(angle / 2)]])
  for fmt, rot in (('euler_xyz', [a, b, c]), ('matrix', r.reshape(-1)), ('rot6d', np.concatenate([r[:, 0], r[:, 1]])),
                   ('axis_angle', axis * angle), ('quat_xyzw', xyzw), ('quat_wxyz', np.roll(xyzw, 1)),
                   ('quat_xyzw', -3 * xyzw)):          # any scale or sign of a quaternion
    np.testing.assert_allclose(common.pose9(pos, np.asarray(rot)[None], fmt), want, atol=1e-12, err_msg=fmt)
  np.testing.assert_allclose(common.rotation_matrix(np.zeros((1, 3)), 'axis_angle')[0], np.eye(3))


def test_images_are_centre_cropped_squares():
  img = np.zeros((48, 64, 3), np.uint8)
  img[:, 8:56] = 200                                      # the centre square of a wide image
  np.testing.assert_array_equal(common.square_rgb(img, 48), np.full((48, 48, 3), 200, np.uint8))
  assert common.square_rgb(img, 16).shape == (16, 16, 3) and common.square_rgb(img[..., 0], 16).shape == (16, 16, 3)
  m = np.zeros((64, 48), bool)
  m[8:56, :24] = True                                     # the left half of the centre square of a tall image
  got = common.square_mask(m, 4)
  np.testing.assert_array_equal(got, [[1, 1, 0, 0]] * 4)
  assert common.square_depth(np.ones((10, 20), np.float32), 4).dtype == np.float32


def test_colour_ranges():
  px = np.array([[[220, 30, 30], [30, 220, 30], [250, 10, 60], [120, 110, 100]]], np.uint8)
  np.testing.assert_allclose(masks.rgb_to_hsv(px)[0, :2], [[0, 190 / 220, 220 / 255], [120, 190 / 220, 220 / 255]])
  red = masks.parse('hsv:340,20,0.6,1,0.5,1', ['v'], {})
  np.testing.assert_array_equal(red(px)[0], [True, False, True, False])     # hue wraps through 0
  green = masks.parse('rgb:0,100,150,255,0,100', ['v'], {})
  np.testing.assert_array_equal(green(px)[0], [False, True, False, False])
  with pytest.raises(ValueError, match='6 numbers'):
    masks.parse('hsv:1,2', ['v'], {})
  with pytest.raises(ValueError, match='unknown masks spec'):
    masks.parse('colour:red', ['v'], {})
  with pytest.raises(ValueError, match='has no function'):
    masks.parse('fn:tests.data.import_helpers:no_such_fn', ['v'], {})
