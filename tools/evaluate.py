"""Evaluates a trained policy in closed loop: policy inference, rendering and physics of many episodes in one
jitted, vmapped `lax.scan` on the Kinova, its physics in MJX or native MuJoCo (`--backend`).

  python tools/evaluate.py --workdir=runs/policy --trials=500 [--execute_steps=10 --chunk=64 --seed=1000
                            --backend=native]

Each policy plan predicts H actions; `--execute_steps` of them run before the next plan (receding horizon;
default: the policy config's). Episodes run in compiled chunks of `--chunk` environments sharded over every
device. Writes `<workdir>/eval/results.json` (success with a 95 % Wilson interval, LDLJ / SPARC / FFT
smoothness of the end-effector speed profile, throughput) and `rollouts.gif` (the first `--gifs` episodes).
The same `--seed` gives every policy the same initial placements. `--backend=native` steps the physics with
C MuJoCo on the host instead of MJX: several times faster on CPU, same observations and success test
(tools/bench_eval.py measures both).
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

import json  # noqa: E402

from absl import app, flags  # noqa: E402

from glam_jax import compile_cache  # noqa: E402
from glam_jax.eval import policy_eval  # noqa: E402
from glam_jax.sim import backends  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'A policy run directory (tools/train_policy.py).', required=True)
_TRIALS = flags.DEFINE_integer('trials', 50, 'Episodes to roll out.')
_SEED = flags.DEFINE_integer('seed', 1000, 'Seed of the episodes\' initial placements.')
_CHUNK = flags.DEFINE_integer('chunk', 64, 'Episodes per compiled call (lower it if memory runs out).')
_EXECUTE = flags.DEFINE_integer('execute_steps', 0, 'Actions executed per plan (0: the policy config\'s).')
_GIFS = flags.DEFINE_integer('gifs', 4, 'Episodes drawn in rollouts.gif (0: none).')
_OUT = flags.DEFINE_string('out_dir', '', 'Where results go (default <workdir>/eval).')
_BACKEND = flags.DEFINE_enum('backend', 'mjx', backends.BACKENDS,
                             'Physics: mjx (MuJoCo in JAX) or native (C MuJoCo on host threads; faster on CPU).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  compile_cache.enable()
  out = policy_eval.evaluate_policy(_WORKDIR.value, _TRIALS.value, seed=_SEED.value, chunk=_CHUNK.value,
                                    execute_steps=_EXECUTE.value, gifs=_GIFS.value, out_dir=_OUT.value,
                                    backend=_BACKEND.value)
  print(json.dumps({k: out[k] for k in ('success', 'smoothness', 'env_steps_per_s')}, indent=1))


if __name__ == '__main__':
  app.run(main)
