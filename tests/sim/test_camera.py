"""The JAX ray caster against native MuJoCo's mj_ray, pixel by pixel; masks cover the object and nothing else."""
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

from glam_jax.sim import backends, camera

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
  # native physics for the reset (the same placements; MJX's reset compiled ~20 s per scene cold)
  s = jax.jit(backends.with_backend(env, 'native').reset)(jax.random.PRNGKey(seed))
  return s, tuple(np.asarray(x, np.float64) for x in (s.data.qpos, s.data.mocap_pos, s.data.mocap_quat))


@pytest.mark.parametrize('task,embodiment', [('lift', 'kinova'), ('pick_place', 'kinova'), ('knock_down', 'kinova'),
                                            ('stack_three', 'kinova'), ('stack_three', 'umi')])
def test_caster_matches_native_mj_ray(task, embodiment, get_env):
  env = get_env(task, embodiment, image_size=SIZE)
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
  state = jax.jit(backends.with_backend(env, 'native').reset)(jax.random.PRNGKey(0))
  a = env._obj_qpos['cube_red']
  qpos = state.data.qpos.at[a:a + 3].set(jnp.array([3.0, 3.0, 0.02]))
  data = mjx.kinematics(env.mjx_model, state.data.replace(qpos=qpos))
  images = jax.jit(lambda d: camera.render(env.rig, d.geom_xpos, d.geom_xmat))(data)
  assert int(images['overhead/mask'].sum()) == 0 and int(images['front/mask'].sum()) == 0
  assert int(state.obs['overhead/mask'].sum()) > 0


_PRIMITIVES_XML = """
<mujoco>
  <worldbody>
    <camera name="top" pos="0 0 1.5" xyaxes="1 0 0 0 1 0" fovy="50"/>
    <camera name="side" pos="1.2 -1.2 0.6" xyaxes="1 1 0 -0.2 0.2 1" fovy="60"/>
    <geom type="plane" size="1 1 0.1" rgba="0.8 0.8 0.8 1"/>
    <geom name="upright" type="capsule" pos="0 0 0.3" size="0.05 0.2" rgba="1 0 0 1"/>
    <geom name="tilted" type="capsule" pos="0.3 0.2 0.2" euler="0.7 0.3 0" size="0.04 0.15" rgba="0 1 0 1"/>
    <geom name="lying" type="capsule" pos="-0.3 0.1 0.06" euler="0 1.5708 0.4" size="0.05 0.12" rgba="0 0 1 1"/>
    <geom name="box" type="box" pos="-0.2 -0.3 0.1" euler="0.3 0.5 0.9" size="0.08 0.05 0.1" rgba="1 1 0 1"/>
    <geom name="ball" type="sphere" pos="0.25 -0.25 0.1" size="0.07" rgba="0 1 1 1"/>
  </worldbody>
</mujoco>
"""


def test_caster_matches_mj_ray_on_every_primitive():
  """Capsules seen end-on (the ray along the axis), tilted and lying; a rotated box; a sphere; the plane."""
  m = mujoco.MjModel.from_xml_string(_PRIMITIVES_XML)
  d = mujoco.MjData(m)
  mujoco.mj_forward(m, d)
  rig = camera.make_rig(m, ('top', 'side'), 48, 48)
  t, gid = map(np.asarray, jax.jit(lambda p, r: camera.cast(rig, p, r))(d.geom_xpos, d.geom_xmat))
  out = np.zeros(1, np.int32)
  for c in range(2):
    for r, vec in enumerate(rig.dirs[c].astype(np.float64)):
      dist = mujoco.mj_ray(m, d, rig.origins[c], vec, None, 1, -1, out)
      assert gid[c, r] == (out[0] if dist >= 0 else -1), (c, r)
      if dist >= 0:
        assert abs(t[c, r] - dist) < 1e-4 * max(1.0, dist), (c, r)
  for name in ('upright', 'tilted', 'lying', 'box', 'ball'):
    assert (gid == m.geom(name).id).sum() > 20, f'{name} barely in view'
