"""The batched closed-loop evaluator: the scripted demonstrator wrapped as a controller succeeds, random
actions do not, the replanning period is honoured across chunks, and the native-MuJoCo backend runs the
same episodes as MJX."""
import jax.numpy as jnp
import numpy as np
import pytest

from glam_jax.eval import closed_loop
from glam_jax.eval.controllers import RandomController, ScriptedController
from glam_jax.sim import make_env


@pytest.fixture(scope='module')
def env():
  return make_env('lift', 'kinova', render=False)


@pytest.fixture(scope='module')
def scripted(env):
  """The scripted demonstrator on MJX, 16 trials, with every episode's geometry poses."""
  return closed_loop.evaluate(env, ScriptedController(env), None, trials=16, seed=3, chunk=16, keep_frames=16,
                              progress=False, backend='mjx')


def test_scripted_demonstrator_succeeds_and_random_fails(env, scripted):
  assert scripted['success'].mean() >= 0.9, scripted['success']
  first = scripted['first_success'][scripted['success']]
  assert np.all((first > 10) & (first < env.episode_length))        # it takes a real movement to lift
  # the evaluator's own logic from here on: native physics, which compiles in seconds (an MJX program per
  # controller took about 70 s cold on the 2-core CPU)
  rand = closed_loop.evaluate(env, RandomController(env), None, trials=16, seed=3, chunk=16, progress=False,
                              backend='native')
  assert rand['success'].mean() <= 0.1, rand['success']
  assert rand['tcp'].shape == (16, env.episode_length, 1, 3)
  assert np.ptp(rand['tcp'][:, :, 0, 2]) > 0.01          # the random arm did move


class HoldThenPlan:
  """Zero actions except a joint-1 delta of +1 on the first step after each plan."""
  period = 3

  def init(self, params, state, rng):
    return jnp.zeros((), jnp.int32)

  def plan(self, params, carry, state, rng):
    return carry + 1

  def act(self, carry, state, i):
    a = jnp.zeros(8).at[0].set(jnp.where(i == 0, 1.0, 0.0))
    return carry, a


def test_plans_run_every_period_over_padded_chunks(env):
  out = closed_loop.evaluate(env, HoldThenPlan(), None, trials=3, seed=5, chunk=2, num_steps=7, keep_frames=3,
                             progress=False, backend='native')
  assert out['tcp'].shape == (3, 7, 1, 3) and out['geom_xpos'].shape[:2] == (3, 7)
  assert not np.allclose(out['tcp'][0], out['tcp'][1])              # trials reset differently
  np.testing.assert_array_equal(out['action'][:, :, 0], [[1, 0, 0, 1, 0, 0, 1]] * 3)   # a plan every 3 steps


def test_native_backend_runs_the_same_episodes(env, scripted):
  native = closed_loop.evaluate(env, ScriptedController(env), None, trials=16, seed=3, chunk=16, keep_frames=16,
                                progress=False, backend='native')
  # the same outcome, at about the same step: float64 C and float32 JAX part only in the grasp's details
  np.testing.assert_array_equal(native['success'], scripted['success'])
  assert np.abs(native['first_success'] - scripted['first_success']).max() <= 3
  # the approach (before the gripper closes on the cube) is the same motion: TCP, commands, cube and pads
  early = slice(0, 20)
  np.testing.assert_allclose(native['tcp'][:, early], scripted['tcp'][:, early], atol=1e-4)
  np.testing.assert_allclose(native['action'][:, early], scripted['action'][:, early], atol=1e-3)
  np.testing.assert_allclose(native['geom_xpos'][:, early], scripted['geom_xpos'][:, early], atol=2e-3)
  # and the whole episode stays close
  np.testing.assert_allclose(native['tcp'], scripted['tcp'], atol=1e-2)
  with pytest.raises(ValueError, match="unknown physics backend 'warp'"):
    closed_loop.evaluate(env, ScriptedController(env), None, trials=1, backend='warp')
