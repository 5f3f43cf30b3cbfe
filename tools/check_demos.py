"""Measures the scripted demonstrators: success rate over N episodes for each (task, source), no rendering.

  python tools/check_demos.py [--tasks=lift,stack_two --sources=kinova,umi,ur5e --episodes=200 --json=FILE]

Prints one row per pair: successes / episodes, rate, mean and max episode length (control steps until
the demonstrator finished), and seconds (compile excluded). The target is >= 90 % for every pair.
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

import json  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402

from glam_jax import compile_cache  # noqa: E402
from glam_jax.demos import collect  # noqa: E402
from glam_jax.demos.generate import SOURCES  # noqa: E402
from glam_jax.sim import TASKS, make_env  # noqa: E402

_TASKS = flags.DEFINE_list('tasks', list(TASKS), 'Tasks.')
_SOURCES = flags.DEFINE_list('sources', list(SOURCES), 'Sources (embodiments).')
_EPISODES = flags.DEFINE_integer('episodes', 200, 'Episodes per pair.')
_SEED = flags.DEFINE_integer('seed', 1, 'Random seed.')
_JSON = flags.DEFINE_string('json', '', 'Optional path for the figures as JSON.')


def main(argv):
  del argv
  compile_cache.enable()
  mesh = Mesh(np.array(jax.devices()), ('data',))
  n = -(-_EPISODES.value // mesh.size) * mesh.size
  print(f'{n} episodes per pair on {mesh.size} x {jax.devices()[0].platform}')
  print(f'{"task":12s} {"source":7s} {"success":>9s} {"rate":>6s} {"mean len":>8s} {"max len":>7s} '
        f'{"limit":>5s} {"run s":>6s} {"compile s":>9s}')
  rows = []
  for task in _TASKS.value:
    for source in _SOURCES.value:
      env = make_env(task, source, render=False)
      run = collect.make_collector(env)
      keys = jax.device_put(jax.random.split(jax.random.PRNGKey(_SEED.value), n),
                            NamedSharding(mesh, PartitionSpec('data')))
      t = time.time()
      compiled = run.lower(keys).compile()
      compile_s = time.time() - t
      t = time.time()
      b = collect.to_batch(compiled(keys))
      run_s = time.time() - t
      row = dict(task=task, source=source, episodes=n, successes=int(b.success.sum()),
                 rate=float(b.success.mean()), mean_length=float(b.length.mean()), max_length=int(b.length.max()),
                 episode_limit=env.episode_length, run_s=run_s, compile_s=compile_s)
      rows.append(row)
      print(f'{task:12s} {source:7s} {row["successes"]:4d}/{n:<4d} {row["rate"]:6.1%} {row["mean_length"]:8.1f} '
            f'{row["max_length"]:7d} {env.episode_length:5d} {run_s:6.1f} {compile_s:9.0f}', flush=True)
  worst = min(rows, key=lambda r: r['rate'])
  print(f'lowest: {worst["task"]}/{worst["source"]} {worst["rate"]:.1%}')
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump(rows, f, indent=1)


if __name__ == '__main__':
  app.run(main)
