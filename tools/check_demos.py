"""Measures the scripted demonstrators: success rate over N episodes for each (task, source), no rendering.

  python tools/check_demos.py [--tasks=lift,stack_two --sources=kinova,umi,ur5e --levels=0,1,2
                               --episodes=200 --backend=mjx --json=FILE --record --markdown=FILE]

Prints one row per (task, source, heterogeneity level): successes / episodes, rate, mean and max episode
length (control steps until the demonstrator finished), mean and peak TCP speed, and seconds (compile
excluded). The target is >= 90 % for every row; a level only changes the sources without action labels
(glam_jax/demos/heterogeneity.py), so other sources are measured at level 0 only.
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
from glam_jax.demos import collect, heterogeneity  # noqa: E402
from glam_jax.demos.generate import SOURCES, source_env  # noqa: E402
from glam_jax.sim import TASKS, backends  # noqa: E402

_TASKS = flags.DEFINE_list('tasks', list(TASKS), 'Tasks.')
_SOURCES = flags.DEFINE_list('sources', list(SOURCES), 'Sources (embodiments).')
_EPISODES = flags.DEFINE_integer('episodes', 200, 'Episodes per pair.')
_LEVELS = flags.DEFINE_list('levels', ['0'], 'Heterogeneity levels.')
_BACKEND = flags.DEFINE_enum('backend', 'auto', backends.CHOICES, 'Physics: mjx, native or auto (native on the CPU).')
_SEED = flags.DEFINE_integer('seed', 1, 'Random seed.')
_JSON = flags.DEFINE_string('json', '', 'Optional path for the figures as JSON.')
_MARKDOWN = flags.DEFINE_string('markdown', '', 'Write the whole committed table as markdown to this path '
                                '(after --record, with this run\'s rows); no episodes are run when --tasks is empty.')
_RECORD = flags.DEFINE_bool('record', False, 'Add the rows to the committed table of scripted success '
                            '(glam_jax/demos/scripted_success.json) that planning checks styles against.')


def table_markdown(rows: list) -> str:
  """The scripted-success table as markdown, one row per (task, source, physics, level)."""
  lines = ['| task | source | physics | scene | level | success | rate | mean length | max length | limit | '
           'mean TCP speed (m/s) | peak | still |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
  for r in rows:
    lines.append(f"| {r['task']} | {r['source']} | {r['backend']} | {r.get('scene_version', 1)} | {r['level']} | "
                 f"{r['successes']}/{r['episodes']} | "
                 f"{r['rate']:.3f} | {r['mean_length']:.1f} | {r['max_length']} | {r['episode_limit']} | "
                 f"{r['speed_mean']:.3f} | {r['speed_peak']:.3f} | {r.get('still', float('nan')):.3f} |")
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  if _MARKDOWN.value and not _TASKS.value:
    with open(_MARKDOWN.value, 'w') as f:
      f.write(table_markdown(heterogeneity.read_success_table()))
    print(f'wrote {_MARKDOWN.value}')
    return
  compile_cache.enable()
  backend = backends.resolve(_BACKEND.value)
  mesh = Mesh(np.array(jax.devices()), ('data',))
  n = -(-_EPISODES.value // mesh.size) * mesh.size
  print(f'{n} episodes per pair on {mesh.size} x {jax.devices()[0].platform}')
  levels = [heterogeneity.check_level(int(v)) for v in _LEVELS.value]
  print(f'{"task":12s} {"source":7s} {"level":>5s} {"success":>9s} {"rate":>6s} {"mean len":>8s} {"max len":>7s} '
        f'{"limit":>5s} {"v mean":>6s} {"v peak":>6s} {"run s":>6s} {"compile s":>9s}')
  rows = []
  for task, source, level in [(t, s, lv) for t in _TASKS.value for s in _SOURCES.value for lv in levels
                              if lv == 0 or not SOURCES[s]]:
      style = heterogeneity.resolve(SOURCES, level)[source]
      env = source_env(task, source, style, backend)
      run = collect.make_collector(env, motion=style.motion)
      keys = jax.device_put(jax.random.split(jax.random.PRNGKey(_SEED.value), n),
                            NamedSharding(mesh, PartitionSpec('data')))
      t = time.time()
      compiled = run.lower(keys).compile()
      compile_s = time.time() - t
      t = time.time()
      b = collect.to_batch(compiled(keys))
      run_s = time.time() - t
      speed = collect.tcp_speeds(b, env.dt)
      row = dict(task=task, source=source, level=level, backend=backend,
                 motion_key=heterogeneity.motion_key(style), seed=_SEED.value, episodes=n,
                 successes=int(b.success.sum()), rate=float(b.success.mean()), mean_length=float(b.length.mean()),
                 max_length=int(b.length.max()), episode_limit=env.episode_length,
                 speed_mean=speed["mean"], speed_peak=speed["peak"], still=speed["still"], run_s=run_s, compile_s=compile_s)
      rows.append(row)
      print(f'{task:12s} {source:7s} {level:5d} {row["successes"]:4d}/{n:<4d} {row["rate"]:6.1%} '
            f'{row["mean_length"]:8.1f} {row["max_length"]:7d} {env.episode_length:5d} {speed["mean"]:6.3f} '
            f'{speed["peak"]:6.3f} {run_s:6.1f} {compile_s:9.0f}', flush=True)
  worst = min(rows, key=lambda r: r['rate'])
  print(f'lowest: {worst["task"]}/{worst["source"]} level {worst["level"]} {worst["rate"]:.1%}')
  if _RECORD.value:
    heterogeneity.record_success(rows)
    print(f'recorded in {heterogeneity.SUCCESS_TABLE}')
  if _MARKDOWN.value:
    with open(_MARKDOWN.value, 'w') as f:
      f.write(table_markdown(heterogeneity.read_success_table()))
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump(rows, f, indent=1)


if __name__ == '__main__':
  app.run(main)
