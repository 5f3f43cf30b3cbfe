"""A short open-loop rollout agrees between MJX (float32, JAX) and native MuJoCo (float64, C)."""
import jax
import jax.numpy as jnp
import mujoco
import numpy as np

STEPS = 25


def test_open_loop_rollout_matches_native(get_env):
  env = get_env('lift', 'kinova', render=False)
  idx = env.arm_index[0]
  state = jax.jit(env.reset)(jax.random.PRNGKey(4))
  t = np.arange(STEPS)[:, None] * env.dt
  actions = np.concatenate([0.8 * np.sin(2 * np.pi * 0.5 * t + np.arange(7)), np.cos(t)], axis=1)

  def step(s, a):
    s = env.step(s, a)
    return s, (s.data.ctrl, s.data.qpos)

  _, (ctrls, qposes) = jax.jit(lambda s, a: jax.lax.scan(step, s, a))(state, jnp.asarray(actions, jnp.float32))

  m = env.mj_model
  d = mujoco.MjData(m)
  d.qpos[:] = np.asarray(state.data.qpos)
  d.ctrl[:] = np.asarray(state.data.ctrl)
  mujoco.mj_forward(m, d)
  native = []
  for ctrl in np.asarray(ctrls):
    d.ctrl[:] = ctrl
    for _ in range(env.n_substeps):
      mujoco.mj_step(m, d)
    native.append(d.qpos.copy())
  native = np.array(native)
  qposes = np.asarray(qposes)
  np.testing.assert_allclose(qposes[:, idx.qpos], native[:, idx.qpos], atol=5e-3)
  np.testing.assert_allclose(qposes[:, idx.finger_qpos], native[:, idx.finger_qpos], atol=2e-3)
  cube = env._obj_qpos['cube_red']
  np.testing.assert_allclose(qposes[:, cube:cube + 3], native[:, cube:cube + 3], atol=2e-3)
  # The arm actually moved, so the comparison is not trivially between two resting states.
  assert np.abs(native[-1, idx.qpos] - native[0, idx.qpos]).max() > 0.3
