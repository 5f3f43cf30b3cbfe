"""Training throughput of the world model: steps/s and samples/s, and how much of a step waits for data.

  python tools/bench_train.py [--config=experiments/configs/world_model.py:lift --data_dir=data --steps=20]

Paper sizes by default (64x64 images from both views, batch 256, Table 2 networks). Without --data_dir it
first writes synthetic lift-sized datasets (random images) to a temporary directory. In one run it measures
(1) the compiled step alone, fed the same on-device batch: the compute-bound baseline; (2) the step fed by
the Grain pipeline at each worker count, timing the wait for each batch. The ratio (2)/(1) near 1 means the
input pipeline is not the bottleneck. Batches are split over one virtual device per CPU core, as in training.
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

import dataclasses  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from glam_jax import cli, compile_cache  # noqa: E402
from glam_jax.data import pipeline  # noqa: E402
from glam_jax.data.synthetic import write_synthetic_recipe  # noqa: E402
from glam_jax.stage1 import experiment  # noqa: E402
from glam_jax.train import loop, sharding  # noqa: E402
from glam_jax.train import state as state_lib  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file('config', 'experiments/configs/world_model.py:lift', 'World-model config.')
_DATA_DIR = flags.DEFINE_string('data_dir', '', 'Data root holding <task>/<source>/; empty: synthetic data.')
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed steps per measurement.')
_WORKERS = flags.DEFINE_list('workers', ['0', '2'], 'Grain worker counts to measure.')


def _flops(compiled) -> float:
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost       # a list on older jax
  return float(cost.get('flops', 0.0))


def _rate(fn, args, reps: int) -> tuple:
  """(FLOPs of one call, calls/s) of a jitted `fn`, compiled first and timed over `reps` calls."""
  compiled = fn.lower(*args).compile()
  jax.block_until_ready(compiled(*args))
  t = time.perf_counter()
  for _ in range(reps):
    out = compiled(*args)
  jax.block_until_ready(out)
  return _flops(compiled), reps / (time.perf_counter() - t)


def peaks(mesh, data, batch: int, image_shape, conv_features) -> dict:
  """FLOP/s of a large matmul and of each encoder conv layer (kernel 4, stride 2) at the training batch."""
  n = mesh.size
  x = jax.device_put(jnp.ones((1024 * n, 2048), jnp.float32), data)
  w = jnp.ones((2048, 2048), jnp.float32)
  flops, rate = _rate(jax.jit(lambda a, b: a @ b, out_shardings=data), (x, w), 10)
  out = {'matmul 1024x2048 @ 2048x2048 per device': flops * rate}
  h, wd, c = image_shape
  for i, f in enumerate(conv_features):
    img = jax.device_put(jnp.ones((batch, h, wd, c), jnp.float32), data)
    k = jnp.ones((4, 4, c, f), jnp.float32) * 0.01
    conv = lambda a, b: jax.lax.conv_general_dilated(a, b, (2, 2), ((1, 1), (1, 1)),
                                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    flops, rate = _rate(jax.jit(conv, out_shardings=data), (img, k), 10)
    out[f'conv {i + 1} ({h}x{wd}x{c} -> {f})'] = flops * rate
    h, wd, c = h // 2, wd // 2, f
  return out


def main(argv):
  del argv
  compile_cache.enable()
  config = _CONFIG.value
  with tempfile.TemporaryDirectory() as tmp:
    if _DATA_DIR.value:
      config.data_dir = _DATA_DIR.value
    else:
      write_synthetic_recipe(os.path.join(tmp, config.task))
      config.data_dir = tmp
    learner, train_data, _ = experiment.build(config)
    mesh = sharding.make_mesh()
    repl, data = sharding.replicated(mesh), sharding.batch_sharding(mesh)
    tx = loop.make_optimizer(config)
    ds, _ = pipeline.make_dataset(dataclasses.replace(train_data, num_workers=0))
    batch = sharding.global_batch(ds[0], mesh)
    state = jax.jit(lambda k, b: state_lib.create(learner.init(k, b), tx), out_shardings=repl)(
        jax.random.PRNGKey(0), batch)
    step = jax.jit(loop.make_train_step(learner, tx, jax.random.PRNGKey(1)), in_shardings=(repl, data),
                   out_shardings=(repl, repl), donate_argnums=0)
    t = time.perf_counter()
    state, out = step(state, batch)
    jax.block_until_ready(out)
    print(f'{state_lib.num_params(state.params):,} parameters; batch {train_data.batch_size}; images '
          f'{learner.model_config.image_shape}; {mesh.size} x {jax.devices()[0].platform}; first step (compile) '
          f'{time.perf_counter() - t:.0f} s')
    print(f'{"feed":22s} {"steps/s":>8s} {"samples/s":>10s} {"data wait":>10s} {"vs compute":>10s}')

    t = time.perf_counter()
    for _ in range(_STEPS.value):
      state, out = step(state, batch)
    jax.block_until_ready(out)
    base = _STEPS.value / (time.perf_counter() - t)
    print(f'{"same batch (compute)":22s} {base:8.2f} {base * train_data.batch_size:10.0f} {0:10.1%} {1:10.2f}',
          flush=True)

    step_flops = _flops(step.lower(state, batch).compile())
    achieved = step_flops * base
    print(f'\ncompute-only step: {step_flops / 1e9:.2f} GFLOP per step (XLA cost analysis), '
          f'{achieved / 1e9:.2f} GFLOP/s achieved', flush=True)
    measured = peaks(mesh, data, train_data.batch_size, learner.model_config.image_shape,
                     learner.model_config.conv_features)
    for name, value in measured.items():
      print(f'  peak {name:40s} {value / 1e9:8.2f} GFLOP/s; the step reaches {achieved / value:6.1%}', flush=True)
    print(f'  vs the best peak: {achieved / max(measured.values()):.1%}\n', flush=True)

    for workers in map(int, _WORKERS.value):
      cfg = dataclasses.replace(train_data, num_workers=workers)
      it = pipeline.make_iterator(pipeline.make_dataset(cfg)[0], cfg)
      state, out = step(state, sharding.global_batch(next(it), mesh))     # warm-up: workers start
      jax.block_until_ready(out)
      wait, t = 0.0, time.perf_counter()
      for _ in range(_STEPS.value):
        t0 = time.perf_counter()
        b = sharding.global_batch(next(it), mesh)
        wait += time.perf_counter() - t0
        state, out = step(state, b)
      jax.block_until_ready(out)
      total = time.perf_counter() - t
      rate = _STEPS.value / total
      print(f'{f"pipeline, {workers} workers":22s} {rate:8.2f} {rate * train_data.batch_size:10.0f} '
            f'{wait / total:10.1%} {rate / base:10.2f}', flush=True)


if __name__ == '__main__':
  cli.run(main)
