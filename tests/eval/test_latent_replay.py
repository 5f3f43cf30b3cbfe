"""Latent replay's bookkeeping: holding after the source episode ends, the tracking error, and (slow) that
replaying a source episode's own actions reproduces it."""
import jax
import numpy as np
import pytest

from glam_jax.data import action_space
from glam_jax.data.stats import Normalizer
from glam_jax.demos import collect
from glam_jax.eval import latent_replay as lr


def test_hold_after_end_keeps_the_last_gripper_command():
  actions = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)      # (N, T-1, A): 2 joints + gripper
  held = lr.hold_after_end(actions, np.array([3, 6]), 'delta', num_arms=1)
  # episode 0 has 3 steps, so 2 valid actions; from the third on: zero deltas, the last gripper command
  np.testing.assert_array_equal(held[0, :2], actions[0, :2])
  np.testing.assert_array_equal(held[0, 2:, :2], 0.0)
  np.testing.assert_array_equal(held[0, 2:, 2], actions[0, 1, 2])
  np.testing.assert_array_equal(held[1], actions[1])                       # full length: untouched
  assert not np.shares_memory(held, actions)


def test_hold_after_end_keeps_the_last_absolute_targets():
  actions = np.arange(2 * 5 * 6, dtype=np.float32).reshape(2, 5, 6)      # two arms of 2 joints + gripper
  held = lr.hold_after_end(actions, np.array([3, 6]), 'joint_target', num_arms=2)
  np.testing.assert_array_equal(held[0, :2], actions[0, :2])
  np.testing.assert_array_equal(held[0, 2:], np.broadcast_to(actions[0, 1], (3, 6)))
  np.testing.assert_array_equal(held[1], actions[1])


def test_tracking_error_counts_only_the_source_steps():
  src = np.zeros((2, 4, 9))
  rep = np.zeros((2, 4, 3))
  rep[0, 1:3, 0] = 0.1          # 10 cm off on the two compared steps of episode 0
  rep[0, 3, 0] = 5.0            # beyond its length: ignored
  rep[1, :, 2] = 0.02
  err = lr.tracking_error(rep, src, np.array([3, 4]))
  np.testing.assert_allclose(err, [0.1, 0.02])


@pytest.mark.slow
def test_replaying_recorded_actions_reproduces_the_source_episode(get_env):
  """The replay starts from the source's placement and pose: a Kinova episode's own actions, replayed, redo it."""
  cfg = lr.ReplayConfig(episodes=4, batch=4, seed=5)
  eps = lr.source_episodes('lift', 'kinova', cfg, ('overhead',), 16)
  env = get_env('lift', 'kinova', render=False)
  run = collect.make_collector(env)
  rec = collect.to_batch(run(jax.numpy.asarray(eps['keys'])))
  assert rec.success.all()
  identity = Normalizer({}, ())
  for space in action_space.SPACES:
    episodes = [rec.episode(i) for i in range(len(eps['keys']))]
    learned = [action_space.learning_actions(space, e, 1, identity) for e in episodes]
    actions = np.stack([np.pad(a, ((0, rec.steps['action'].shape[1] - len(a)), (0, 0)), mode='edge')
                        for a in learned])[:, :-1]
    actions = lr.hold_after_end(actions, eps['lengths'], space, num_arms=1)
    replay = lr.make_replayer(env, action_space.env_converter(space, env, identity))
    tcp, success, _, _ = jax.device_get(replay(eps['keys'], actions))
    assert success[:, -1].all(), space
    assert lr.tracking_error(tcp, eps['ee_pose'], eps['lengths']).max() < 1e-3, space
