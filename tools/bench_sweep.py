"""Throughput of K runs stacked in one program (`--config.num_seeds=K`) against one run: samples/s per seed.

  python tools/bench_sweep.py [--config=experiments/configs/world_model.py:lift,cpu --seeds=1,2,4,8 --steps=10]
  python tools/bench_sweep.py --config=experiments/configs/policy.py:lift,mip --seeds=1,3

A world-model config measures stage 1; a policy config (an action-regressing one such as `mip`: no world
model to relabel with) measures stage 2, whose seeds the main job trains in one program.

Each K trains the real loop (Grain data of every member, the vmapped step, metrics; checkpoints only at the
end) on synthetic lift-sized data in a temporary directory, for 2 x --steps steps; the rate is read from the
second logging window, so compilation is not counted. "per seed" is the samples/s each member gets; the
ratio is against K = 1 measured in the same run: K separate runs in sequence would each get the K = 1 rate.
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

import tempfile  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from glam_jax import cli, compile_cache  # noqa: E402
from glam_jax.data.synthetic import write_synthetic_recipe  # noqa: E402
from glam_jax.stage2 import experiment as stage2  # noqa: E402
from glam_jax.stage1 import experiment  # noqa: E402
from glam_jax.train import loop, metrics  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file('config', 'experiments/configs/world_model.py:lift,cpu',
                                          'World-model or policy config.')
_SEEDS = flags.DEFINE_list('seeds', ['1', '2', '4', '8'], 'Stacked run counts K to measure.')
_STEPS = flags.DEFINE_integer('steps', 10, 'Steps per logging window (two windows per K; the second is timed).')


def main(argv):
  del argv
  compile_cache.enable()
  config = _CONFIG.value
  with tempfile.TemporaryDirectory() as tmp:
    write_synthetic_recipe(os.path.join(tmp, config.task))
    config.data_dir = tmp
    config.num_steps, config.log_every, config.eval_every = 2 * _STEPS.value, _STEPS.value, 10 ** 9
    config.checkpoint_every = config.num_steps
    policy = 'label' in config
    name = f'policy {config.method}' if policy else 'world model'
    print(f'{name} {config.task}; batch {config.batch_size} per seed; {len(jax.devices())} x '
          f'{jax.devices()[0].platform}; {_STEPS.value} timed steps per K')
    print(f'{"K":>3s} {"steps/s":>8s} {"samples/s per seed":>19s} {"all seeds":>10s} {"vs K=1 per seed":>16s} '
          f'{"wall (incl. compile)":>21s}', flush=True)
    base = None
    for k in map(int, _SEEDS.value):
      config.num_seeds = k
      workdir = os.path.join(tmp, f'run{k}')
      learner, train_data, _ = (stage2.prepare(config, workdir, progress=False) if policy
                                else experiment.build(config))
      t = time.perf_counter()
      loop.train(config, learner, train_data, workdir, progress=False)
      wall = time.perf_counter() - t
      first = os.path.join(workdir, 'seed0' if k > 1 else '', 'metrics.jsonl')
      rate = metrics.read_jsonl(first)[-1]['train/steps_per_s']
      per_seed = rate * config.batch_size
      base = base or per_seed
      print(f'{k:3d} {rate:8.3f} {per_seed:19.1f} {per_seed * k:10.1f} {per_seed / base:16.2f} {wall:20.0f}s',
            flush=True)


if __name__ == '__main__':
  cli.run(main)
