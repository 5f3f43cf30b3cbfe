"""The JAX ray caster against native MuJoCo's mj_ray, pixel by pixel; masks cover the object and nothing else."""
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

from glam_jax.sim import camera

SIZE = 32


def _native_cast(env, qpos, mocap_pos, mocap_quat):
  m = env.mj_model
  d = mujoco.MjData(m)
  d.qpos[:], d.mocap_pos[:], d.mocap_quat[:] = qpos, mocap_pos, mocap_quat
  mujoco.mj_forward(m, d)
  rig = env.rig
  dist = np.zeros(rig.dirs.shape[:2])
  gid = np.zeros(rig.dirs.shape[:2], int)
  out = np.zeros(1, np.int32)
  for c in range(len(rig.names)):
    for r, vec in enumerate(rig.dirs[c].astype(np.float64)):
      dist[c, r] = mujoco.mj_ray(m, d, rig.origins[c], vec, None, 1, -1, out)
      gid[c, r] = out[0]
  return dist, gid


def _state(env, seed):
  s = jax.jit(env.reset)(jax.random.PRNGKey(seed))
  return s, tuple(np.asarray(x, np.float64) for x in (s.data.qpos, s.data.mocap_pos, s.data.mocap_quat))


@pytest.mark.parametrize('task', ['lift', 'pick_place', 'knock_down'])
def test_caster_matches_native_mj_ray(task, get_env):
  env = get_env(task, 'kinova', image_size=SIZE)
  state, native_args = _state(env, 5)
  t, gid = jax.jit(lambda d: camera.cast(env.rig, d.geom_xpos, d.geom_xmat))(state.data)
  n_dist, n_gid = _native_cast(env, *native_args)
  n_gid = np.where(n_dist < 0, -1, n_gid)
  gid, t = np.asarray(gid), np.asarray(t)
  # Adjacent link capsules share end spheres: equal distances are ties, either id is right.
  tie = (gid >= 0) & (n_gid >= 0) & (np.abs(t - n_dist) < 1e-4)
  agree = (gid == n_gid) | tie
  assert agree.mean() > 0.995, f'geom ids agree on {agree.mean():.3f} of pixels'
  both = agree & (gid >= 0)
  np.testing.assert_allclose(t[both], n_dist[both], atol=2e-3)


@pytest.mark.parametrize('task', ['lift', 'pick_place', 'stack_two'])
def test_mask_covers_object_and_nothing_else(task, get_env):
  env = get_env(task, 'kinova', image_size=SIZE)
  state, native_args = _state(env, 2)
  obs = state.obs
  _, n_gid = _native_cast(env, *native_args)
  obj_ids = [env.mj_model.geom(g).id for g in env.mask_geoms]
  assert np.isin(n_gid, obj_ids).sum() > 0, 'objects hidden in every view'   # the arm may occlude one
  for c, view in enumerate(env.rig.names):
    expected = np.isin(n_gid[c], obj_ids).reshape(SIZE, SIZE)
    mask = np.asarray(obs[f'{view}/mask']).astype(bool)
    assert (mask == expected).mean() > 0.995, view
    # Every mask pixel back-projects onto a manipulated object.
    depth = np.asarray(obs[f'{view}/depth']).reshape(-1)
    cos = env.rig.dirs[c] @ env.rig.forward[c]
    points = env.rig.origins[c] + env.rig.dirs[c] * (depth / cos)[:, None]
    centres = np.stack([np.asarray(state.data.xpos[env.mj_model.body(o).id]) for o in env.task.manipulated])
    near = np.min(np.linalg.norm(points[:, None] - centres[None], axis=-1), axis=1)
    assert np.all(near[mask.reshape(-1)] < 0.04)
    rgb = np.asarray(obs[f'{view}/rgb']).reshape(-1, 3).astype(int)
    if task == 'lift':   # the red cube renders red
      assert np.all(rgb[mask.reshape(-1), 0] > rgb[mask.reshape(-1), 1:].max(-1))


def test_mask_empty_when_object_out_of_view(get_env):
  env = get_env('lift', 'kinova', image_size=SIZE)
  state = jax.jit(env.reset)(jax.random.PRNGKey(0))
  a = env._obj_qpos['cube_red']
  qpos = state.data.qpos.at[a:a + 3].set(jnp.array([3.0, 3.0, 0.02]))
  data = mjx.kinematics(env.mjx_model, state.data.replace(qpos=qpos))
  images = jax.jit(lambda d: camera.render(env.rig, d.geom_xpos, d.geom_xmat))(data)
  assert int(images['overhead/mask'].sum()) == 0 and int(images['front/mask'].sum()) == 0
  assert int(state.obs['overhead/mask'].sum()) > 0
