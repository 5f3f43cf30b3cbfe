"""Success predicates hold on constructed success states, not on near misses, and never at reset."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from mujoco import mjx

from glam_jax.sim import TASKS, backends, objects

H = objects.CUBE_HALF
_X90 = np.array([np.cos(np.pi / 4), np.sin(np.pi / 4), 0, 0])
_X30 = np.array([np.cos(np.pi / 12), np.sin(np.pi / 12), 0, 0])
_UP = np.array([1.0, 0, 0, 0])


def _cases(task):
  """(name, {object: (position, quaternion)}, gripper closed?, expected success) relative to the bowl/
  bottom cube at p = (0.5, 0.05)."""
  p = np.array([0.5, 0.05, 0.0])
  up = lambda z, dx=0.0: (p + [dx, 0, z], _UP)
  return {
      'lift': [('lifted', {'cube_red': up(0.15)}, True, True),
               ('low', {'cube_red': up(0.06)}, True, False)],
      'pick_place': [('in_bowl', {'cube_red': up(H)}, False, True),
                     ('beside_bowl', {'cube_red': up(H, 0.12)}, False, False),
                     ('still_held', {'cube_red': up(H)}, True, False)],
      'knock_down': [('toppled', {'bottle': (p + [0, 0, 0.02], _X90)}, False, True),
                     ('tilted_30deg', {'bottle': (p + [0, 0, 0.075], _X30)}, False, False)],
      'stack_two': [('stacked', {'cube_green': up(H), 'cube_red': up(3 * H)}, False, True),
                    ('offset', {'cube_green': up(H), 'cube_red': up(3 * H, 0.03)}, False, False),
                    ('held', {'cube_green': up(H), 'cube_red': up(3 * H)}, True, False)],
      'stack_three': [('tower', {'cube_blue': up(H), 'cube_green': up(3 * H), 'cube_red': up(5 * H)}, False,
                       True),
                      ('two_only', {'cube_blue': up(H), 'cube_green': up(3 * H),
                                    'cube_red': (p + [0, 0.15, H], _UP)}, False, False)],
  }[task]


@pytest.mark.parametrize('task', list(TASKS))
def test_success_predicates(task, get_env):
  env = get_env(task, 'kinova', render=False)
  keys = jax.random.split(jax.random.PRNGKey(11), 16)
  # reset on native physics: the same placements and kinematics, and it compiles in seconds (MJX's reset,
  # with its collision pass, took 25-35 s per task cold on the 2-core CPU)
  resets = jax.jit(jax.vmap(backends.with_backend(env, 'native').reset))(keys)
  assert not np.any(resets.info['success']), 'success at reset'

  state = jax.tree.map(lambda x: x[0], resets)

  @jax.jit
  def success_of(qpos, mocap_pos):
    data = env._template.replace(qpos=qpos, mocap_pos=mocap_pos, mocap_quat=state.data.mocap_quat)
    return env.success(mjx.kinematics(env.mjx_model, data))

  for name, poses, closed, expected in _cases(task):
    qpos = np.array(state.data.qpos)
    mocap = np.array(state.data.mocap_pos)
    if 'bowl' in env._obj_mocap:
      mocap[env._obj_mocap['bowl']] = [0.5, 0.05, 0.0]
    for obj, (pos, quat) in poses.items():
      a = env._obj_qpos[obj]
      qpos[a:a + 7] = np.concatenate([pos, quat])
    for idx in env.arm_index:
      qpos[idx.finger_qpos] = 0.0 if closed else 0.04
    assert bool(success_of(jnp.asarray(qpos), jnp.asarray(mocap))) == expected, f'{task}/{name}'
