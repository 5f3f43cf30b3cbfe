"""The alignment probe of a trained world model: how well its latent actions say what the end effector did,
on the target and on every other source, without a simulator (glam_jax/eval/alignment.py).

  python tools/alignment_probe.py --workdir=runs/wm [--sources=umi,ur5e --episodes=100]

Works for the world model of any latent method. Per source: R² of a ridge map latent -> end-effector motion
fitted on target transitions (held-out target episodes for the target), the gap to the target, the same
probe on the recorded pose change (the reference) and the latent's margin over it, and the phase distance
between the sources' latents. `--sources` defaults to every dataset beside the target in the world model's
data directory. Writes `<workdir>/alignment/results.json`.
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

from absl import app, flags  # noqa: E402

from glam_jax import cli, compile_cache  # noqa: E402
from glam_jax.data import schema, sources  # noqa: E402
from glam_jax.eval import alignment, report  # noqa: E402
from glam_jax.stage1 import experiment as stage1  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'World-model run directory.', required=True)
_SOURCES = flags.DEFINE_list('sources', None, 'Sources beside the target (default: every dataset there).')
_EPISODES = flags.DEFINE_integer('episodes', 100, 'Episodes per source.', lower_bound=2)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not os.path.exists(os.path.join(_WORKDIR.value, 'config.json')):
    raise app.UsageError(f'{_WORKDIR.value}: no world-model run here (no config.json)')
  compile_cache.enable()
  _, _, config = stage1.load(_WORKDIR.value)
  task_dir = os.path.dirname(sources.source_path(config, config.target))
  others = _SOURCES.value
  if others is None:
    others = sorted(n for n in os.listdir(task_dir) if n != config.target
                    and os.path.exists(os.path.join(task_dir, n, schema.META_FILE)))
  missing = [n for n in others if not os.path.exists(os.path.join(task_dir, n, schema.META_FILE))]
  if missing:
    raise app.UsageError(f'no dataset {os.path.join(task_dir, missing[0])}')
  out = alignment.run(_WORKDIR.value, others, _EPISODES.value)
  print('\n'.join(report.alignment_lines({config.get('method', 'world model'): {'alignment': out}})[5:]))
  print(f'truth: {out["truth"]}; wrote {os.path.join(_WORKDIR.value, "alignment", "results.json")}')


if __name__ == '__main__':
  cli.run(main)
