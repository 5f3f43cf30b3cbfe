"""The main job: data -> each method's world model -> relabelling -> policies -> closed-loop evaluation ->
report, for any subset of the methods of `glam_jax.methods`.

  python tools/run_pipeline.py [--config=experiments/configs/pipeline.py:lift[,smoke|paper]] \
      [--workdir=runs/pipeline_lift] [--config.methods=glam_o,clam_o,lapa_o,mip --config.trials=100 ...]

Stages, each with its own progress bar: generate the task's data recipe (100 target + 400 auxiliary
episodes); for every latent method, train its own world model (`world_models/<method>-<hash>/`, named by
a hash of its config, so another run of the same config reuses it) and relabel every transition with it;
pre-train the methods that pre-train their policy without labels (LAWM, `pretrained/<method>-<hash>/`);
replay unseen episodes of every source through it on the Kinova (latent replay, `replay_episodes` per
source; 0 skips); train each method's policy for every seed (`policies/<method>-seed<k>-<hash>/`);
evaluate each in closed loop on the same episodes; write into the workdir:
  report.md, results.json (per method: success rate, Wilson bounds, trials, smoothness; every pair of
  methods by Newcombe's interval), success.png (bars with Wilson error bars), rollouts_<method>.gif.
A rerun with the same workdir skips the stages whose inputs are unchanged (`stages.json` keeps a hash of
each stage's config), redoes those whose config changed, and resumes an interrupted training.
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from glam_jax import cli, compile_cache  # noqa: E402
from glam_jax.experiments import task_pipeline  # noqa: E402
from glam_jax.train import sharding  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file('config', 'experiments/configs/pipeline.py:lift',
                                          'Pipeline config file and argument.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory (default runs/pipeline_<task>).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)     # library INFO lines (Orbax) would drown the progress bars
  c = _CONFIG.value
  workdir = _WORKDIR.value or os.path.join('runs', f'pipeline_{c.task}')
  compile_cache.enable()
  sharding.maybe_initialize_distributed()
  task_pipeline.run(c, workdir)
  with open(os.path.join(workdir, 'report.md')) as f:
    print(f.read())
  print(f'wrote {workdir}/report.md, results.json, success.png' + (', rollouts_*.gif' if c.gifs else ''))


if __name__ == '__main__':
  cli.run(main)
