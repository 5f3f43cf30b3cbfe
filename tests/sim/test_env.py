"""Every (task, embodiment) resets and steps under jit + vmap; bad input fails with clear errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from glam_jax.sim import EMBODIMENTS, TASKS, backends, make_env
from tests.sim.open_loop import BATCH, STEPS, open_loop

# Each (task, embodiment) compiles its own MJX program (120-500 s each on the 2-core CPU, cold). The default
# run covers the target on lift and a source on the bimanual task; every task's scene is also checked by
# test_success and test_camera, and the UR5e and bimanual Kinova by tests/demos. The rest are `slow`.
_DEFAULT = {('lift', 'kinova'), ('stack_three', 'umi')}
COMBOS = [pytest.param(t, e, marks=() if (t, e) in _DEFAULT else pytest.mark.slow)
          for t in TASKS for e in EMBODIMENTS]
# Kinova lift without cameras: the program the native-agreement and kinematics tests run too (one compile);
# rendering inside the MJX step is checked on the other combinations.
_NO_CAMERAS = {('lift', 'kinova')}


@pytest.mark.parametrize('task,embodiment', COMBOS)
def test_reset_and_step_batched(task, embodiment, get_env):
  env = (get_env(task, embodiment, render=False) if (task, embodiment) in _NO_CAMERAS
         else get_env(task, embodiment, image_size=16))
  arms = 2 if TASKS[task].bimanual else 1
  assert env.action_size == arms * {'kinova': 8, 'ur5e': 7, 'umi': 7}[embodiment]
  keys = jax.random.split(jax.random.PRNGKey(7), BATCH)
  actions = jax.random.uniform(jax.random.PRNGKey(1), (BATCH, STEPS, env.action_size), minval=-1, maxval=1)
  first, rec = open_loop(env, keys, actions)

  for leaf in jax.tree.leaves((first, rec)):
    if jnp.issubdtype(leaf.dtype, jnp.floating):
      assert np.all(np.isfinite(leaf)), 'non-finite state'
  obs = jax.tree.map(lambda x: x[:, -1], rec['obs'])
  assert obs['ee_pose'].shape == (BATCH, 9 * arms)
  assert obs['gripper'].shape == (BATCH, arms)
  assert ('joint_pos' in obs) == ('joint_target' in obs) == (embodiment != 'umi')
  if embodiment != 'umi':            # reset holds the arm where it stands
    np.testing.assert_allclose(first.obs['joint_target'], first.obs['joint_pos'], atol=1e-6)
  views = ('overhead', 'front') if (task, embodiment) not in _NO_CAMERAS else ()
  assert {k.split('/')[0] for k in obs if '/' in k} == set(views)
  for view in views:
    assert obs[f'{view}/rgb'].shape == (BATCH, 16, 16, 3) and obs[f'{view}/rgb'].dtype == jnp.uint8
    assert obs[f'{view}/depth'].shape == (BATCH, 16, 16) and obs[f'{view}/depth'].dtype == jnp.float32
    assert obs[f'{view}/mask'].shape == (BATCH, 16, 16)
  np.testing.assert_array_equal(rec['step'], np.broadcast_to(np.arange(1, STEPS + 1), (BATCH, STEPS)))
  assert not np.any(first.info['success'])
  assert np.all(np.abs(rec['qvel']) < 50), 'simulation blew up'
  # Seeded placements differ between episodes and are reproducible.
  obj = env.scene.objects[-1].name
  body = env.mj_model.body(obj).id
  xy = np.asarray(first.data.xpos[:, body, :2])
  assert np.min(np.linalg.norm(xy[0] - xy[1:], axis=-1)) > 1e-3
  again, _ = open_loop(env, keys, actions)
  np.testing.assert_array_equal(again.data.qpos, first.data.qpos)


def test_unknown_names_list_valid_ones():
  with pytest.raises(ValueError, match='valid tasks: lift, pick_place, knock_down, stack_two, stack_three'):
    make_env('lifting', 'kinova')
  with pytest.raises(ValueError, match='valid embodiments: kinova, umi, ur5e'):
    make_env('lift', 'franka')
  with pytest.raises(ValueError, match='valid options'):
    make_env('lift', 'kinova', frame_rate=3)
  with pytest.raises(ValueError, match='multiple of sim_dt'):
    make_env('lift', 'kinova', ctrl_dt=0.0123)


def test_wrong_action_shape_fails_at_trace_time(get_env):
  env = get_env('lift', 'kinova', render=False)
  state = jax.jit(backends.with_backend(env, 'native').reset)(jax.random.PRNGKey(0))   # no MJX reset to compile
  with pytest.raises(ValueError, match=r'expects \(8,\)'):
    jax.jit(env.step).lower(state, jnp.zeros(7))
  with pytest.raises(ValueError, match=r'shape \(4, 8\)'):
    env.step(state, jnp.zeros((4, 8)))
