"""What networks read of an observation: the end-effector state with and without the TCP's tilt."""
import numpy as np

from glam_jax.models import inputs


def test_ee_state_without_tilt_drops_the_rotation_columns_z_per_arm():
  pose = np.arange(18, dtype=np.float32)[None]          # two arms
  obs = {'ee_pose': pose, 'gripper': np.array([[100.0, 101.0]], np.float32)}
  full = np.asarray(inputs.ee_state(obs))
  assert full.shape == (1, 20) and inputs.ee_dim(18, 2) == 20
  flat = np.asarray(inputs.ee_state(obs, tilt=False))
  np.testing.assert_array_equal(flat[0], [0, 1, 2, 3, 4, 6, 7, 9, 10, 11, 12, 13, 15, 16, 100, 101])
  assert inputs.ee_dim(18, 2, tilt=False) == flat.shape[-1]
