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


def test_cached_source_episodes_are_made_again_on_another_scene(tmp_path, monkeypatch):
  """The cache of source episodes is keyed by the settings and the scene version: a scene change (a new
  gripper) makes the episodes again instead of replaying the old scene's."""
  from glam_jax.sim import scene
  made = []
  monkeypatch.setattr(lr, 'source_episodes', lambda *a: made.append(a) or {
      'keys': np.zeros((1, 2), np.uint32) + len(made), 'images': {'overhead/rgb': np.zeros((1, 2, 4, 4, 3), np.uint8)}})
  cfg = lr.ReplayConfig(episodes=1, backend='native')
  first = lr.cached_source_episodes('lift', 'kinova', cfg, ('overhead',), 4, str(tmp_path))
  again = lr.cached_source_episodes('lift', 'kinova', cfg, ('overhead',), 4, str(tmp_path))
  assert len(made) == 1 and np.array_equal(again['keys'], first['keys']) and again['images'].keys() == {'overhead/rgb'}
  monkeypatch.setattr(scene, 'SCENE_VERSION', scene.SCENE_VERSION + 1)
  other = lr.cached_source_episodes('lift', 'kinova', cfg, ('overhead',), 4, str(tmp_path))
  assert len(made) == 2 and other['keys'][0, 0] == 2


@pytest.mark.slow
def test_replaying_recorded_actions_reproduces_the_source_episode(get_env):
  """The replay starts from the source's placement and pose: a Kinova episode's own actions, replayed, redo it."""
  cfg = lr.ReplayConfig(episodes=4, batch=4, seed=5, backend='mjx')      # replayed on MJX below
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


class _ActionLearner:
  """A learner whose latent is the action itself and whose decoder reads the state (as LAPA's probe):
  `offset` x the normalised proprioception is added, so the decoded actions follow the robot's state."""
  reads_state = True

  def __init__(self, action_dim, offset):
    import types
    self.model_config = types.SimpleNamespace(action_dim=action_dim)
    self.offset = offset

  def decode_action(self, params, z, proprio):
    return z + self.offset * params * proprio[:z.shape[-1]]


def test_state_replay_decodes_from_the_replaying_robot_and_holds_after_the_end(get_env):
  from glam_jax.sim import backends
  env = backends.with_backend(get_env('lift', 'kinova', render=False), 'native')
  identity = Normalizer({}, ())
  space = 'joint_target'
  convert = action_space.env_converter(space, env, identity)
  n, t = 2, 6
  home = np.asarray(env.reset(jax.random.PRNGKey(0)).obs['joint_target'])
  actions = np.tile(np.concatenate([home, [0.0]]), (n, t - 1, 1)).astype(np.float32)
  actions[:, :, 0] += np.linspace(0.0, 0.3, t - 1)                         # sweep the first joint
  lengths = np.array([4, 6])
  keys = jax.random.split(jax.random.PRNGKey(3), n)
  held = lr.hold_after_end(actions, lengths, space, num_arms=1)
  expected = jax.device_get(lr.make_replayer(env, convert)(keys, held))
  # without the state term: the same replay as decoding first and holding after the end
  learner = _ActionLearner(actions.shape[-1], offset=1.0)
  replay = lr.make_state_replayer(env, convert, learner, identity, space)
  got = jax.device_get(replay(jax.numpy.float32(0.0), keys, actions, lengths))
  np.testing.assert_allclose(got[0], expected[0], atol=1e-5)
  # with it: the decoder sees the replaying robot's own joints, so the replay moves differently
  moved = jax.device_get(replay(jax.numpy.float32(0.5), keys, actions, lengths))
  assert np.abs(moved[0] - expected[0]).max() > 1e-3
