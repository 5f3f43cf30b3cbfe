"""Trains a method's latent-action world model (stage 1) with the shared training loop: GLAM, GLAM-O, the
ablations, CLAM(-O) or LAPA(-O) (glam_jax/methods.py).

  python tools/train_world_model.py --config=experiments/configs/world_model.py:lift,glam_o --workdir=runs/wm \
      [--config.data_dir=data --config.num_steps=20000 --config.batch_size=256 ...]
  python tools/train_world_model.py --config=experiments/configs/world_model.py:lift,clam_o,cpu --workdir=runs/clam

Expects the task's datasets under `<data_dir>/<task>/<source>/` (tools/generate_demos.py --recipe).
Writes `config.json`, `metrics.jsonl`, TensorBoard events and Orbax checkpoints into the workdir; rerunning
with the same workdir resumes from the latest checkpoint. Ctrl-C saves a checkpoint before exiting.
The global batch is split over every device (on CPU: one virtual device per core) and every process. Several
processes: --coordinator_address=HOST:PORT --num_processes=N --process_id=I (or JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES, JAX_PROCESS_ID), detected under srun; GLAM_DISTRIBUTED=1 on a TPU pod slice (docs/multihost.md).
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from glam_jax import cli, compile_cache, config_rules  # noqa: E402
from glam_jax.stage1 import experiment  # noqa: E402
from glam_jax.train import loop, sharding  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file('config', 'experiments/configs/world_model.py:lift',
                                          'World-model config file and argument.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory (created; resumed when it has checkpoints).',
                               required=True)
sharding.define_flags()


def main(argv):
  del argv
  compile_cache.enable()                 # before the first compilation
  sharding.maybe_initialize_distributed()
  config = _CONFIG.value
  config_rules.check_stage(config, 'world_model', 'the config')      # bad values fail here, before any work
  learner, train_data, eval_data = experiment.build(config)
  out = loop.train(config, learner, train_data, _WORKDIR.value, eval_data)
  summary = {k: round(v, 5) for k, v in out['eval'].items()}
  print(f'step {out["step"]}: held-out {summary}')


if __name__ == '__main__':
  cli.run(main)
