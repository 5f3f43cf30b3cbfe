"""Kinova model: the published geometry, MJX forward kinematics against native MuJoCo, and position control
that reaches a commanded joint configuration."""
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

from glam_jax.sim import backends, kinova
from tests.sim.open_loop import BATCH, STEPS, open_loop


def _native_fk(model, qpos):
  data = mujoco.MjData(model)
  data.qpos[:] = qpos
  mujoco.mj_kinematics(model, data)
  return data


def test_published_geometry(get_env):
  env = get_env('lift', 'kinova', render=False)
  m = env.mj_model
  idx = env.arm_index[0]
  flange = m.body('flange').id
  q = m.qpos0.copy()
  q[idx.qpos] = 0.0
  d = _native_fk(m, q)
  assert d.xpos[flange][2] == pytest.approx(1.187385, abs=1e-5)       # vertical arm at q = 0
  q[idx.qpos] = kinova.HOME
  d = _native_fk(m, q)
  assert d.xpos[flange][2] == pytest.approx(0.434, abs=0.01)         # Kinova home: ~0.43 m high,
  assert d.xpos[flange][0] > 0.4                                     # in front of the base
  np.testing.assert_allclose(d.site_xpos[idx.tcp_site] - d.xpos[flange], [0.12, 0, 0], atol=2e-3)
  assert m.jnt_range[m.joint('joint_2').id][1] == pytest.approx(2.24)
  assert m.jnt_range[m.joint('joint_4').id][1] == pytest.approx(2.57)
  assert m.jnt_range[m.joint('joint_6').id][1] == pytest.approx(2.09)
  assert not m.jnt_limited[m.joint('joint_1').id]


@pytest.mark.parametrize('embodiment', ['kinova', 'ur5e'])
def test_mjx_forward_kinematics_matches_native(embodiment, get_env):
  env = get_env('lift', embodiment, render=False)
  m, idx = env.mj_model, env.arm_index[0]
  rng = np.random.default_rng(0)
  qs = np.tile(m.qpos0, (16, 1))
  qs[:, idx.qpos] = rng.uniform(-2.0, 2.0, (16, len(idx.qpos)))
  fk = jax.jit(jax.vmap(lambda q: mjx.kinematics(env.mjx_model, env._template.replace(qpos=q))))
  out = fk(jnp.asarray(qs, jnp.float32))
  for i, q in enumerate(qs):
    ref = _native_fk(m, q)
    np.testing.assert_allclose(out.site_xpos[i, idx.tcp_site], ref.site_xpos[idx.tcp_site], atol=2e-5)
    np.testing.assert_allclose(out.site_xmat[i, idx.tcp_site].ravel(), ref.site_xmat[idx.tcp_site], atol=2e-5)
    np.testing.assert_allclose(out.xpos[i], ref.xpos, atol=2e-5)


def test_end_effector_reaches_commanded_configuration(get_env):
  env = get_env('lift', 'kinova', render=False)
  spec, idx = env.arms[0], env.arm_index[0]
  keys = jax.random.split(jax.random.PRNGKey(3), BATCH)
  offsets = np.array([[0.4, -0.3, 0.2, 0.35, -0.3, 0.3, -0.5], [-0.3, 0.25, -0.4, -0.2, 0.35, -0.25, 0.4]])
  targets = np.array(spec.home) + offsets[:BATCH]
  # The control law moves the targets by at most max_delta a step whatever the joints do, so the actions
  # that walk them to `targets` follow from the reset controls (native reset: the same state, no MJX compile).
  ctrl = np.asarray(jax.jit(jax.vmap(backends.with_backend(env, 'native').reset))(keys).data.ctrl[:, idx.ctrl])
  max_delta, actions = np.array(spec.max_delta), []
  for _ in range(STEPS):
    a = np.clip((targets - ctrl) / max_delta, -1, 1)
    ctrl = np.clip(ctrl + a * max_delta, spec.lower, spec.upper)
    actions.append(np.concatenate([a, np.ones((BATCH, 1))], 1))
  _, rec = open_loop(env, keys, jnp.asarray(np.stack(actions, 1), jnp.float32))   # the program test_env runs
  final = jax.tree.map(lambda x: np.asarray(x[:, -1]), rec['obs'])
  np.testing.assert_allclose(final['joint_target'], targets, atol=1e-5)
  np.testing.assert_allclose(final['joint_pos'], targets, atol=0.01)
  for b, target in enumerate(targets):
    q = env.mj_model.qpos0.copy()
    q[idx.qpos] = target
    ref = _native_fk(env.mj_model, q)
    np.testing.assert_allclose(final['ee_pose'][b, :3], ref.site_xpos[idx.tcp_site], atol=5e-3)
    rot = ref.site_xmat[idx.tcp_site].reshape(3, 3)
    np.testing.assert_allclose(final['ee_pose'][b, 3:], np.concatenate([rot[:, 0], rot[:, 1]]), atol=0.02)
