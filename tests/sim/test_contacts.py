"""The cap on collision pairs per geom-type group (`max_geom_pairs`) drops no contact that touches."""
import jax
import numpy as np
import pytest
from mujoco import mjx

from glam_jax.sim import backends, make_env, objects


def _contact(data):
  """MJX's contact arrays, wherever this mujoco-mjx version keeps them."""
  return data._impl.contact if hasattr(data, '_impl') else data.contact


def _contacts(env, qpos):
  """Penetrating contacts as {(geom1, geom2): depth}, from MJX collision at `qpos`."""
  data = env._template.replace(qpos=qpos)
  data = jax.jit(lambda d: mjx.collision(env.mjx_model, mjx.kinematics(env.mjx_model, d)))(data)
  geom, dist = np.asarray(_contact(data).geom), np.asarray(_contact(data).dist)
  touching = {}
  for (g1, g2), d in zip(geom[dist < 0], dist[dist < 0]):
    touching[(int(g1), int(g2))] = min(float(d), touching.get((int(g1), int(g2)), 0.0))
  return touching


def _crowded_tower(env):
  """Three cubes stacked under the left gripper, whose pads squeeze the top one: 7 box pairs with overlapping
  bounding spheres, as many as the scripted stack_three demonstrations ever have at once."""
  state = jax.jit(backends.with_backend(env, 'native').reset)(jax.random.PRNGKey(0))
  qpos = np.array(state.data.qpos)
  idx = env.arm_index[0]
  tcp = np.asarray(state.data.site_xpos[idx.tcp_site])
  for k, name in enumerate(('cube_red', 'cube_green', 'cube_blue')):
    a = env._obj_qpos[name]
    qpos[a:a + 7] = np.concatenate([tcp - [0, 0, k * (2 * objects.CUBE_HALF - 0.002)], [1, 0, 0, 0]])   # 2 mm overlap
  qpos[idx.finger_qpos] = objects.CUBE_HALF - 0.002      # pads 2 mm into the top cube's sides
  return qpos


def test_capped_pairs_keep_every_touching_contact(get_env):
  capped = get_env('stack_three', 'kinova', render=False)
  full = get_env('stack_three', 'kinova', render=False, max_geom_pairs=0)
  assert capped.config.max_geom_pairs == 12
  n = lambda env: len(_contact(env._template).dist)
  assert n(capped) < n(full)           # 9 box-plane + 12 of 21 box-box pairs, 4 points each: 84 vs 120
  qpos = _crowded_tower(capped)
  expected = _contacts(full, qpos)
  pads = {int(g) for g in capped.arm_index[0].pad_geoms}
  cubes = {capped.mj_model.geom(c).id for c in ('cube_red', 'cube_green', 'cube_blue')}
  assert any(g1 in pads or g2 in pads for g1, g2 in expected), 'the pads do not touch the top cube'
  assert sum(g1 in cubes and g2 in cubes for g1, g2 in expected) == 2, 'the tower is not stacked'
  got = _contacts(capped, qpos)
  assert got.keys() == expected.keys()
  np.testing.assert_allclose([got[k] for k in expected], list(expected.values()), atol=1e-6)
  # A cap below the number of touching pairs does drop contacts (so the comparison above can fail).
  assert _contacts(get_env('stack_three', 'kinova', render=False, max_geom_pairs=2), qpos).keys() != expected.keys()


def test_negative_cap_is_rejected():
  with pytest.raises(ValueError, match='max_geom_pairs'):
    make_env('lift', 'kinova', render=False, max_geom_pairs=-1)
