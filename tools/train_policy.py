"""Trains a stage-2 policy with the shared training loop: the GLAM(-O) latent-chunk policy or the MIP baseline.

  python tools/train_policy.py --config=experiments/configs/policy.py:lift,glam_o --workdir=runs/policy \
      --config.world_model_dir=runs/wm [--config.num_steps=20000 --config.batch_size=256 ...]
  python tools/train_policy.py --config=experiments/configs/policy.py:lift,mip --workdir=runs/mip

A latent method first relabels every transition of every source with the frozen world model's IDM (cached
in `<world_model_dir>/labels/`). Writes `policy.json` (what acting needs), `config.json`, metrics and Orbax
checkpoints into the workdir; a rerun resumes. Evaluate with tools/evaluate.py --workdir=W. Several processes:
the flags and variables of tools/train_world_model.py (docs/multihost.md).
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from glam_jax import cli, compile_cache, config_rules  # noqa: E402
from glam_jax.stage2 import experiment  # noqa: E402
from glam_jax.train import loop, sharding  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file('config', 'experiments/configs/policy.py:lift,glam_o',
                                          'Policy config file and argument.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory (created; resumed when it has checkpoints).',
                               required=True)
sharding.define_flags()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  compile_cache.enable()                 # before the first compilation
  sharding.maybe_initialize_distributed()
  config = _CONFIG.value
  config_rules.check_stage(config, 'policy', 'the config')      # bad values fail here, before any work
  learner, train_data, eval_data = experiment.prepare(config, _WORKDIR.value)
  out = loop.train(config, learner, train_data, _WORKDIR.value, eval_data)
  summary = {k: round(v, 5) for k, v in out['eval'].items()}
  print(f'step {out["step"]}: held-out {summary}')


if __name__ == '__main__':
  cli.run(main)
