"""The two learning representations of target actions and their way back to env actions."""
import jax.numpy as jnp
import numpy as np
import pytest

from glam_jax.data import action_space
from glam_jax.data.schema import DatasetError
from glam_jax.data.stats import Normalizer

MAX_DELTA = np.array([0.1, 0.2, 0.05], np.float32)


def _normalizer():
  return Normalizer({'joint_target': {'mean': [1.0, -1.0, 0.5], 'std': [0.5, 2.0, 1.0]}}, ('joint_target',))


def test_joint_columns_skip_each_arms_gripper():
  np.testing.assert_array_equal(action_space.joint_columns(8, 1), np.arange(7))
  np.testing.assert_array_equal(action_space.joint_columns(8, 2), [0, 1, 2, 4, 5, 6])


def test_unknown_space_lists_the_valid_ones():
  with pytest.raises(ValueError, match='delta, joint_target'):
    action_space.check('absolute')


def test_learning_actions_put_standardised_targets_in_the_joint_columns():
  rng = np.random.default_rng(0)
  episode = {'action': rng.uniform(-1, 1, (5, 4)).astype(np.float32),
             'joint_target': rng.normal(size=(5, 3)).astype(np.float32)}
  norm = _normalizer()
  np.testing.assert_array_equal(action_space.learning_actions('delta', episode, 1, norm), episode['action'])
  out = action_space.learning_actions('joint_target', episode, 1, norm)
  np.testing.assert_allclose(out[:, :3], (episode['joint_target'] - [1.0, -1.0, 0.5]) / [0.5, 2.0, 1.0], rtol=1e-6)
  np.testing.assert_array_equal(out[:, 3], episode['action'][:, 3])          # the gripper command stays
  with pytest.raises(DatasetError, match='joint_target'):
    action_space.learning_actions('joint_target', {'action': episode['action']}, 1, norm)


def test_absolute_targets_go_back_to_the_delta_that_set_them():
  norm = _normalizer()
  current = np.array([0.9, -1.2, 0.4], np.float32)
  delta = np.array([0.5, -0.25, 1.0, -0.7], np.float32)                   # 3 joints + gripper
  reached = current + delta[:3] * MAX_DELTA
  learned = action_space.learning_actions(
      'joint_target', {'action': delta[None], 'joint_target': reached[None]}, 1, norm)[0]
  env_action = action_space.to_env_action('joint_target', jnp.asarray(learned), jnp.asarray(current),
                                          jnp.asarray(MAX_DELTA), norm, 1)
  np.testing.assert_allclose(env_action, delta, atol=1e-5)
  # a target further than one step away is approached at the largest step, not jumped to
  far = learned.copy()
  far[0] = norm.normalize('joint_target', np.array([3.0, -1.2, 0.4]))[0]
  env_action = action_space.to_env_action('joint_target', jnp.asarray(far), jnp.asarray(current),
                                          jnp.asarray(MAX_DELTA), norm, 1)
  assert float(env_action[0]) == 1.0
  # deltas are passed through, clipped to the env's range
  np.testing.assert_allclose(action_space.to_env_action('delta', jnp.array([2.0, -0.5, 0.1, -3.0]), None,
                                                        jnp.asarray(MAX_DELTA), norm, 1), [1.0, -0.5, 0.1, -1.0])
