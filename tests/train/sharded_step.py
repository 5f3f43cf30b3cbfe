"""Run as a script with 8 virtual CPU devices: one train step on a mesh of 8 devices vs on 1 device.
Prints the largest parameter and metric differences as JSON (tests/train/test_loop.py reads it)."""
import os

os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=8'

import json  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from glam_jax.train import loop, sharding  # noqa: E402
from glam_jax.train import state as state_lib  # noqa: E402
from tests.stage1 import helpers  # noqa: E402


def run(devices, batches, learner, tx):
  mesh = sharding.make_mesh(devices)
  repl, data = sharding.replicated(mesh), sharding.batch_sharding(mesh)
  params = learner.init(jax.random.PRNGKey(0), batches[0])
  state = jax.device_put(state_lib.create(params, tx), repl)
  step = jax.jit(loop.make_train_step(learner, tx, jax.random.PRNGKey(1)), in_shardings=(repl, data),
                 out_shardings=(repl, repl))
  outs = []
  for b in batches:
    gb = sharding.global_batch(b, mesh)
    assert len(gb['action'].sharding.device_set) == len(devices)
    state, m = step(state, gb)
    outs.append(jax.device_get(m))
  return jax.device_get(state.params), outs


def main():
  assert jax.device_count() == 8, jax.devices()
  learner = helpers.learner()
  tx = state_lib.make_optimizer(1e-3, 10, warmup_steps=0, weight_decay=1e-4, grad_clip=1.0)
  batches = [helpers.random_batch(seed=s, n=16, num_target=8) for s in range(3)]
  p8, m8 = run(jax.devices(), batches, learner, tx)
  p1, m1 = run(jax.devices()[:1], batches, learner, tx)
  param_diff = max(float(np.max(np.abs(a - b))) for a, b in zip(jax.tree.leaves(p8), jax.tree.leaves(p1)))
  metric_diff = max(abs(float(a[k]) - float(b[k])) / (1e-6 + abs(float(b[k])))
                    for a, b in zip(m8, m1) for k in a)
  moved = max(float(np.max(np.abs(a - b))) for a, b in zip(
      jax.tree.leaves(p1), jax.tree.leaves(learner.init(jax.random.PRNGKey(0), batches[0]))))
  print(json.dumps({'param_diff': param_diff, 'metric_rel_diff': metric_diff, 'moved': moved}))


if __name__ == '__main__':
  main()
