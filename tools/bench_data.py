"""Input-pipeline throughput: samples/s of stage-1 and stage-2 batches from the Grain mixture.

  python tools/bench_data.py [--data_dir=data/lift] [--batch_size=256 --workers=0,2 --batches=30]

With --data_dir, reads the recipe's datasets (<data_dir>/kinova weight 1, <data_dir>/umi weight 4, and
<data_dir>/ur5e if present); without it, first writes synthetic datasets of the recipe's size (100 + 400
episodes of 55 steps, two 64x64 views) to a temporary directory, so the figure does not depend on having
generated data. Reports, per stage and worker count, samples/s and ms per batch after a warm-up batch.
"""
from __future__ import annotations

import os
import tempfile
import time

from absl import app, flags

from glam_jax.data import pipeline
from glam_jax.data.synthetic import write_synthetic_recipe

_DATA_DIR = flags.DEFINE_string('data_dir', '', 'Recipe directory (<task> level); empty: synthetic data.')
_BATCH = flags.DEFINE_integer('batch_size', 256, 'Global batch size.')
_WORKERS = flags.DEFINE_list('workers', ['0', '2'], 'Grain worker process counts to measure.')
_BATCHES = flags.DEFINE_integer('batches', 30, 'Timed batches per measurement.')
_IMAGE_KEYS = flags.DEFINE_list('image_keys', ['overhead/rgb', 'front/rgb'], 'Image fields per element.')


def measure(config: pipeline.PipelineConfig, batches: int) -> tuple[float, float]:
  ds, _ = pipeline.make_dataset(config)
  it = pipeline.make_iterator(ds, config)
  next(it)                                    # warm-up: worker start, first reads
  t = time.perf_counter()
  for _ in range(batches):
    next(it)
  dt = time.perf_counter() - t
  return batches * config.batch_size / dt, 1000 * dt / batches


def main(argv):
  del argv
  with tempfile.TemporaryDirectory() as tmp:
    if _DATA_DIR.value:
      paths = {s: os.path.join(_DATA_DIR.value, s) for s in ('kinova', 'umi', 'ur5e')
               if os.path.exists(os.path.join(_DATA_DIR.value, s))}
      print(f'data: {_DATA_DIR.value} ({", ".join(paths)})')
    else:
      t = time.perf_counter()
      paths = write_synthetic_recipe(tmp)
      print(f'data: synthetic lift-sized recipe (100 + 400 episodes x 55 steps, 2 views 64x64), written in '
            f'{time.perf_counter() - t:.0f} s')
    weights = {'kinova': 1.0, 'umi': 4.0, 'ur5e': 1.0}
    sources = tuple(pipeline.Source(p, weights[s]) for s, p in paths.items())
    print(f'{"stage":>5s} {"workers":>7s} {"samples/s":>10s} {"ms/batch":>9s}   (batch {_BATCH.value}, '
          f'{os.cpu_count()} CPUs)')
    for stage in (1, 2):
      for workers in map(int, _WORKERS.value):
        cfg = pipeline.PipelineConfig(sources=sources, image_keys=tuple(_IMAGE_KEYS.value),
                                      batch_size=_BATCH.value, stage=stage, num_workers=workers)
        rate, ms = measure(cfg, _BATCHES.value)
        print(f'{stage:5d} {workers:7d} {rate:10.0f} {ms:9.1f}', flush=True)


if __name__ == '__main__':
  app.run(main)
