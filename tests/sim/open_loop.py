"""One compiled open-loop rollout for the sim tests: reset, then one given action per step, recording what
the tests check. The Kinova lift tests of env stepping, native agreement and position control all drive the
same program (same env, `BATCH` x `STEPS`), so it compiles once per run: each MJX program of that env costs
about a minute on the 2-core CPU, cold, and the persistent cache serves the other tests and workers."""
import functools

import jax

from glam_jax import opaque_scan

STEPS = 30
BATCH = 2


def open_loop(env, keys, actions):
  """(BATCH,) keys, (BATCH, STEPS, action size) actions -> (reset states, per-step records: qpos, qvel,
  ctrl, obs, success, done and step count, each stacked on axis 1)."""
  return _compiled(env)(keys, actions)


@functools.lru_cache(maxsize=None)
def _compiled(env):
  def episode(key, actions):
    def step(s, a):
      s = env.step(s, a)
      return s, {'qpos': s.data.qpos, 'qvel': s.data.qvel, 'ctrl': s.data.ctrl, 'obs': s.obs,
                 'success': s.info['success'], 'done': s.done, 'step': s.info['step']}
    first = env.reset(key)
    return first, opaque_scan.scan(step, first, actions)[1]     # compiles like one step (see opaque_scan)
  return jax.jit(jax.vmap(episode))
