"""Scripted demonstrators succeed; generated datasets hold what each source should store.

Each MJX program compiles for minutes on a 2-core CPU, so the default run covers every source on `lift`
(through the dataset generator: the target on MJX, the others on native MuJoCo, which compiles in seconds) and
the bimanual `stack_three`; the other (task, source) pairs are `slow`.
`tools/check_demos.py` measures all pairs over 200 episodes.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from glam_jax.data import open_dataset
from glam_jax.demos import collect, generate, ik, plans
from glam_jax.sim import TASKS, make_env

BATCH = 4


def _success(get_env, task, source, batch=BATCH, seed=0):
  env = get_env(task, source, render=False)
  run = collect.make_collector(env)
  b = collect.to_batch(run(jax.random.split(jax.random.PRNGKey(seed), batch)))
  return b, env


@pytest.mark.parametrize('source, action_dim, proprio_dim, backend',
                         [('kinova', 8, 8, 'mjx'), ('umi', 0, 0, 'native'), ('ur5e', 7, 7, 'native')])
def test_generate_lift_dataset(tmp_path, source, action_dim, proprio_dim, backend):
  out = str(tmp_path / source)
  cfg = generate.GenerateConfig(task='lift', source=source, episodes=3, out=out, seed=3, image_size=16,
                                batch=BATCH, render_chunk=64, progress=False, backend=backend)
  meta = generate.generate(cfg)
  ds = open_dataset(out)
  assert ds.meta == meta and meta['backend'] == backend
  assert generate.dataset_complete(out, cfg)
  other = 'mjx' if backend == 'native' else 'native'     # data of the other physics is not reused
  assert not generate.dataset_complete(out, dataclasses.replace(cfg, backend=other))
  assert meta['num_episodes'] == 3 and meta['attempts'] % BATCH == 0
  assert meta['scripted_success_rate'] >= 0.75
  assert meta['action_dim'] == action_dim and meta['proprio_dim'] == proprio_dim
  assert meta['has_actions'] == (source != 'umi') and meta['has_proprio'] == (source != 'umi')
  expected_low = {'ee_pose', 'gripper', 'phase'} | ({'joint_pos', 'joint_target', 'action'} if source != 'umi' else set())
  assert set(ds.episodes[0]) == expected_low
  assert meta['views'] == ['overhead', 'front'] and meta['image_size'] == 16
  for e in range(3):
    n = ds.lengths[e]
    assert 10 < n < 100
    ep = ds.episodes[e]
    # the TCP goes down to the cube and comes back up higher than it started
    z = ep['ee_pose'][:, 2]
    assert z.min() < 0.04 and z[-1] > 0.12
    # the gripper closes on the cube (opening ~ cube width) at the end
    assert 0.03 < ep['gripper'][-1, 0] < 0.045
    if source != 'umi':
      assert np.all(np.abs(ep['action']) <= 1.0)
      # each step's joint targets are the previous ones moved by its action (limits are not reached here)
      max_delta = np.asarray(make_env('lift', source, render=False).arms[0].max_delta)
      steps = np.diff(ep['joint_target'], axis=0) / max_delta
      np.testing.assert_allclose(steps, ep['action'][1:, :-1], atol=1e-4)
    first, last = ds.frame(e, 0), ds.frame(e, n - 1)
    assert first['overhead/mask'].sum() > 0 and first['front/rgb'].std() > 5
    assert first['overhead/rgb'].dtype == np.uint8 and first['overhead/rgb'].shape == (16, 16, 3)
    assert not np.array_equal(first['front/rgb'], last['front/rgb'])


def test_bimanual_stack_three(get_env):
  b, env = _success(get_env, 'stack_three', 'kinova')
  assert b.success.mean() >= 0.75, b.success
  assert b.steps['action'].shape[-1] == env.action_size == 16
  assert np.all(b.length <= env.episode_length)


@pytest.mark.slow
@pytest.mark.parametrize('task, source', [(t, s) for t in TASKS for s in generate.SOURCES
                                          if (t, s) not in {('stack_three', 'kinova')}])
def test_demonstrator_succeeds(get_env, task, source):
  b, _ = _success(get_env, task, source, batch=8)
  assert b.success.mean() >= 0.75, b.success


def test_down_rotation_and_errors():
  for yaw in (0.0, 0.7, -2.0):
    r = ik.down_rotation(jnp.asarray(yaw))
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-6)
    assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(r[:, 2], [0, 0, -1], atol=1e-7)
    assert float(ik.tcp_yaw(r)) == pytest.approx(yaw, abs=1e-6)
    np.testing.assert_allclose(ik.rotation_error(r, r), 0, atol=1e-7)
  # a small yaw error is reported as that rotation about world z (the TCP points down: negative z axis)
  err = ik.rotation_error(ik.down_rotation(jnp.asarray(0.0)), ik.down_rotation(jnp.asarray(0.01)))
  np.testing.assert_allclose(err, [0, 0, 0.01], atol=1e-5)


def test_grasp_yaw_turns_fingers_away_from_neighbours():
  rot = jnp.eye(3)
  pos = jnp.array([0.4, 0.0, 0.02])
  for neighbour in ([0.4, 0.08, 0.02], [0.48, 0.0, 0.02]):
    yaw = plans._grasp_yaw(rot, pos, [jnp.array(neighbour)])
    finger_axis = np.array([-np.sin(yaw), np.cos(yaw)])
    direction = np.array(neighbour[:2]) - np.array(pos[:2])
    assert abs(finger_axis @ direction) < 1e-6
    assert abs(float(yaw)) <= np.pi / 2 + 1e-6


def test_unknown_source():
  with pytest.raises(ValueError, match='valid sources: kinova, umi, ur5e'):
    generate.generate(generate.GenerateConfig(task='lift', source='spot', episodes=1, out='/tmp/none'))
