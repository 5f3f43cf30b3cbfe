"""The native-MuJoCo env: under jit, vmap and loops, each control step hands back exactly what `mj_step` made
of the state it was given (every public mjx.Data field), whatever the batch shape or thread count, and the
C++ step (native_ffi) gives bitwise what the Python callback gives; bad input fails clearly. Agreement with MJX: tests/sim/test_native_agreement.py, tests/eval/test_closed_loop.py."""
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from mujoco import mjx

from glam_jax.sim import backends, native_ffi
from glam_jax.sim.native_env import OUTPUT_FIELDS, STATE_SPEC, NativeEnv, NativeSimulator
from tests.conftest import cached_env

BATCH = 4
STEPS = 3


@pytest.fixture(scope='module')
def native():
  return NativeEnv(cached_env('lift', 'kinova', render=False), threads=2)


def _rollout(env, key, actions):
  """(first state, stacked states after each action) of one episode."""
  first = env.reset(key)
  return first, jax.lax.scan(lambda s, a: (env.step(s, a),) * 2, first, actions)[1]


@pytest.fixture(scope='module')
def episodes(native):
  keys = jax.random.split(jax.random.PRNGKey(2), BATCH)
  actions = jax.random.uniform(jax.random.PRNGKey(3), (BATCH, STEPS, native.action_size), minval=-1, maxval=1)
  return keys, actions, jax.jit(jax.vmap(lambda k, a: _rollout(native, k, a)))(keys, actions)


def _mujoco_step(m, data, i, nstep):
  """Env i of a batched mjx.Data, set into a fresh MjData and stepped (forward when nstep is 0)."""
  d = mujoco.MjData(m)
  state = np.concatenate([np.ravel(np.asarray(getattr(data, f))[i]).astype(np.float64) for f in (
      'time', 'qpos', 'qvel', 'act', 'history', 'qacc_warmstart', 'ctrl', 'qfrc_applied', 'xfrc_applied',
      'eq_active', 'mocap_pos', 'mocap_quat', 'userdata', 'plugin_state')])
  mujoco.mj_setState(m, d, state, STATE_SPEC)
  if nstep:
    mujoco.mj_step(m, d, nstep)
  else:
    mujoco.mj_forward(m, d)
  return d


def _assert_fields_match(data, i, d):
  for f in OUTPUT_FIELDS:
    got = np.asarray(getattr(data, f))[i]
    want = np.asarray(getattr(d, f), np.float64).reshape(got.shape)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f)


def test_steps_are_mujoco_steps(native, episodes):
  m = native.mj_model
  _, _, (first, states) = episodes
  at = lambda t: jax.tree.map(lambda x: x[:, t], states)
  for i in range(BATCH):
    # reset: the env's placement, then mj_forward
    _assert_fields_match(first.data, i, _mujoco_step(m, first.data, i, 0))
    for t in range(STEPS):
      before = first if t == 0 else at(t - 1)
      ctrl_in = before.data.replace(ctrl=at(t).data.ctrl)       # the action only sets controls, in JAX
      _assert_fields_match(at(t).data, i, _mujoco_step(m, ctrl_in, i, native.n_substeps))
  # the env's own bookkeeping on top of native physics
  np.testing.assert_array_equal(states.info['step'][:, -1], STEPS)
  np.testing.assert_allclose(states.obs['ee_pose'][..., :3], states.data.site_xpos[..., 0, :], atol=0)
  assert np.abs(states.data.qpos[:, -1, :7] - first.data.qpos[:, :7]).max() > 0.01       # the arm moved


def test_batch_shape_and_threads_do_not_change_results(native, episodes):
  keys, actions, flat = episodes
  nested = jax.jit(jax.vmap(jax.vmap(lambda k, a: _rollout(native, k, a))))(
      keys.reshape(2, BATCH // 2, -1), actions.reshape((2, BATCH // 2) + actions.shape[1:]))
  nested = jax.tree.map(lambda x: x.reshape((BATCH,) + x.shape[2:]), nested)
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), flat, nested)
  states = np.asarray(jax.vmap(lambda d: mjx.get_state(native.mjx_model, d, STATE_SPEC))(flat[0].data))
  one_thread = NativeSimulator(native.mj_model, threads=1)
  np.testing.assert_array_equal(one_thread.run(native.n_substeps, states),
                                native.simulator.run(native.n_substeps, states))


def test_bad_input_fails_clearly(native, get_env):
  env = get_env('lift', 'kinova', render=False)
  with pytest.raises(ValueError, match="unknown physics backend 'bullet'; valid: auto, mjx, native"):
    backends.with_backend(env, 'bullet')
  assert isinstance(backends.with_backend(env, 'auto'), NativeEnv)      # auto: native on the CPU
  with pytest.raises(ValueError, match="runs on native MuJoCo"):
    backends.with_backend(native, 'mjx')
  assert backends.with_backend(env, 'mjx') is env and backends.with_backend(native, 'native') is native
  with pytest.raises(TypeError, match='already runs on native MuJoCo'):
    NativeEnv(native)
  with pytest.raises(ValueError, match='threads must be at least 1'):
    NativeEnv(env, threads=-1)
  state = jax.jit(native.reset)(jax.random.PRNGKey(0))
  with pytest.raises(ValueError, match='requires JAX backend'):      # no stale MJX internals to step from
    mjx.forward(native.mjx_model, state.data)
  with pytest.raises(ValueError, match=r'expects \(8,\)'):
    native.step(state, jnp.zeros(7))
  with pytest.raises(ValueError, match=r'expected \(n, '):
    native.simulator.run(1, np.zeros((2, 3)))


def test_the_cxx_step_is_the_python_callback_step(native, episodes):
  assert native.simulator.ffi_key is not None, 'native_step.cc did not build: is a C++ compiler installed?'
  keys, actions, flat = episodes
  callback = NativeEnv(cached_env('lift', 'kinova', render=False), threads=2, ffi=False)
  assert callback.simulator.ffi_key is None
  slow = jax.jit(jax.vmap(lambda k, a: _rollout(callback, k, a)))(keys, actions)
  jax.tree.map(lambda x, y: np.testing.assert_array_equal(np.asarray(x), np.asarray(y)), flat, slow)


def test_compiled_programs_name_the_model_not_an_address(native):
  """The key in the compiled program is a hash of the model and layout, the same in a fresh process: a
  program from the persistent compilation cache finds that process's own simulator of the model."""
  again = NativeEnv(cached_env('lift', 'kinova', render=False), threads=2)
  assert again.simulator.ffi_key == native.simulator.ffi_key
  assert NativeEnv(cached_env('lift', 'kinova', render=False), threads=1).simulator.ffi_key != native.simulator.ffi_key
  code = ('from glam_jax.sim import make_env; from glam_jax.sim.native_env import NativeEnv; '
          "print(NativeEnv(make_env('lift', 'kinova', render=False), threads=2).simulator.ffi_key)")
  out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300,
                       env={**os.environ, 'JAX_PLATFORMS': 'cpu'}, check=True).stdout.split()[-1]
  assert int(out) == native.simulator.ffi_key
  hlo = jax.jit(native.step).lower(jax.jit(native.reset)(jax.random.PRNGKey(0)), jnp.zeros(8)).as_text()
  assert str(native.simulator.ffi_key) in hlo


POOL_CHECK = """
import itertools, jax, jax.numpy as jnp, numpy as np
from mujoco import mjx
from glam_jax.sim import make_env, native_ffi
from glam_jax.sim.native_env import NativeEnv, STATE_SPEC
env = make_env('lift', 'kinova', render=False)
keys = jax.random.split(jax.random.PRNGKey(4), 8)
states = jax.jit(jax.vmap(lambda k: mjx.get_state(env.mjx_model, env.reset(k).data, STATE_SPEC)))(keys)
sims = {t: NativeEnv(env, threads=t).simulator for t in (1, 2, 3)}
step = jax.jit(native_ffi.step, static_argnums=(0, 1, 3))
for repeat, n, t in itertools.product(range(10), (1, 2, 3, 5, 8), (3, 2)):
  want = step(sims[1].ffi_key, env.n_substeps, states[:n], sims[1].output_size)
  got = step(sims[t].ffi_key, env.n_substeps, states[:n], sims[t].output_size)
  np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
print('pool ok')
"""


def test_helper_threads_give_one_thread_results_and_never_stall():
  """The FFI calls' persistent helper threads (native_pool.h): with more helpers than slices, fewer, as many,
  on the first call (helpers started by it) and on many calls in a row, bitwise the one-thread results; in a
  child process with a deadline, so a call that waits forever fails the test instead of hanging it."""
  out = subprocess.run([sys.executable, '-c', POOL_CHECK], capture_output=True, text=True, timeout=240,
                       env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert out.returncode == 0 and 'pool ok' in out.stdout, out.stderr[-3000:]


def test_without_a_compiler_the_python_callback_steps(tmp_path, monkeypatch, native):
  monkeypatch.setenv('CXX', 'false')
  with pytest.raises(RuntimeError, match='failed'):
    native_ffi.build(str(tmp_path / 'step.so'))
  assert os.listdir(tmp_path) == []                      # no half-built library left behind
  monkeypatch.setattr(native_ffi, 'library', lambda: None)
  assert NativeSimulator(native.mj_model, threads=1).ffi_key is None


def test_auto_is_native_on_the_cpu_and_mjx_on_accelerators(monkeypatch):
  assert backends.resolve('auto') == 'native' and backends.resolve('mjx') == 'mjx'
  monkeypatch.setattr(jax, 'default_backend', lambda: 'gpu')
  assert backends.resolve('auto') == 'mjx' and backends.resolve('native') == 'native'
