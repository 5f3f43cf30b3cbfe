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

`--remote=ws://HOST:PORT` evaluates the policy a server serves (tools/serve_policy.py) instead, and
`--host_loop` the run's policy called the same way in this process (glam_jax/eval/host_loop.py): the
simulator batched and jitted, each plan a call from the host. Both write `results.json` and `commands.npy`
(the commands the policy gave, bitwise the same for the same policy and placements) to `--out_dir`.
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

import json  # noqa: E402

from absl import app, flags  # noqa: E402

import numpy as np  # noqa: E402

from glam_jax import cli, compile_cache  # noqa: E402
from glam_jax.configs import ConfigError  # noqa: E402
from glam_jax.eval import host_loop, policy_eval, stats  # noqa: E402
from glam_jax.serving import client as client_lib  # noqa: E402
from glam_jax.serving import policy_api  # noqa: E402
from glam_jax.sim import backends, make_env  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'A policy run directory (tools/train_policy.py).')
_REMOTE = flags.DEFINE_string('remote', '', 'ws://HOST:PORT of a policy server: evaluate the policy it serves.')
_HOST_LOOP = flags.DEFINE_bool('host_loop', False, 'Call the run\'s policy from the host each plan, as --remote does.')
_TRIALS = flags.DEFINE_integer('trials', 50, 'Episodes to roll out.')
_SEED = flags.DEFINE_integer('seed', 1000, 'Seed of the episodes\' initial placements.')
_CHUNK = flags.DEFINE_integer('chunk', 64, 'Episodes per compiled call (lower it if memory runs out).')
_EXECUTE = flags.DEFINE_integer('execute_steps', 0, 'Actions executed per plan (0: the policy config\'s).')
_GIFS = flags.DEFINE_integer('gifs', 4, 'Episodes drawn in rollouts.gif (0: none).')
_OUT = flags.DEFINE_string('out_dir', '', 'Where results go (default <workdir>/eval).')
_BACKEND = flags.DEFINE_enum('backend', 'auto', backends.CHOICES,
                             'Physics: mjx (MuJoCo in JAX), native (C MuJoCo on host threads; faster on CPU) or '
                             'auto (native on the CPU, mjx on accelerators).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  compile_cache.enable()
  if _REMOTE.value or _HOST_LOOP.value:
    return served(_OUT.value or os.path.join(_WORKDIR.value or 'runs', 'eval_remote' if _REMOTE.value else 'eval_host_loop'))
  if not _WORKDIR.value:
    raise ConfigError('--workdir is required (or --remote)')
  out = policy_eval.evaluate_policy(_WORKDIR.value, _TRIALS.value, seed=_SEED.value, chunk=_CHUNK.value,
                                    execute_steps=_EXECUTE.value, gifs=_GIFS.value, out_dir=_OUT.value,
                                    backend=_BACKEND.value)
  print(json.dumps({k: out[k] for k in ('success', 'smoothness', 'env_steps_per_s')}, indent=1))


def served(out_dir: str) -> None:
  if _TRIALS.value < 1:
    raise ConfigError(f'--trials must be positive, got {_TRIALS.value}')
  if _REMOTE.value:
    client = client_lib.PolicyClient(_REMOTE.value)
    metadata, infer = client.metadata, client.infer
  else:
    if not _WORKDIR.value:
      raise ConfigError('--host_loop needs --workdir')
    policy = policy_api.load_policy(_WORKDIR.value)
    metadata, infer = policy.metadata, policy.infer
  env = make_env(metadata['task'], 'kinova', render=False)
  result = host_loop.evaluate(env, infer, metadata, _TRIALS.value, _SEED.value, execute_steps=_EXECUTE.value,
                              backend=_BACKEND.value)
  os.makedirs(out_dir, exist_ok=True)
  np.save(os.path.join(out_dir, 'commands.npy'), result['command'])
  success = result['success']
  out = {'policy': _REMOTE.value or os.path.abspath(_WORKDIR.value), 'method': metadata['method'],
         'success': stats.rate_summary(int(success.sum()), len(success)), 'seed': _SEED.value,
         'backend': backends.resolve(_BACKEND.value), 'episode_steps': result['num_steps']}
  with open(os.path.join(out_dir, 'results.json'), 'w') as f:
    json.dump(out, f, indent=1)
  print(json.dumps(out['success'], indent=1))
  print(f'wrote {out_dir}/results.json and commands.npy')


if __name__ == '__main__':
  cli.run(main)
