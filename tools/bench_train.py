"""Training throughput: steps/s, samples/s, achieved FLOP/s against peaks measured in the same run, and how
much of a step waits for data.

  python tools/bench_train.py [--config=experiments/configs/world_model.py:lift --data_dir=data --steps=20]
  python tools/bench_train.py --config=experiments/configs/policy.py:lift,mip,cpu
  python tools/bench_train.py --peer=clam|mip [--batches=64,256]

`--config` takes a world-model config or a policy config: one that regresses actions (mip), LAWM's
pre-training (`lift,lawm,cpu,pretrain`), or a latent one with `--config.world_model_dir` (a trained world
model of that method, to relabel `--data_dir` with first). Paper sizes by default (64x64 images from both
views, batch 256, Table 2 networks). Without --data_dir it first writes synthetic lift-sized datasets (random
images) to a temporary directory. In one run it measures (1) the compiled step alone, fed the same
on-device batch: the compute-bound baseline, its FLOPs (XLA's cost analysis) and their rate as a fraction of
a large matmul's and of the model's conv layers' (measured in the same run, on the same mesh); (2) the step
fed by the Grain pipeline at each worker count, timing the wait for each batch. The ratio (2)/(1) near 1
means the input pipeline is not the bottleneck. Batches are split over the devices training uses (on CPU
one device per process, `sharding.training_devices`; the step split over every virtual CPU device is
measured beside it).

`--peer` measures (1) at two peers' sizes, against what their own trainers do on the 2-core CPU machine:
`clam`, a CLAM-size convolutional latent action model (this stack's CLAM learner widened to 8.0 M
parameters, 64x64 images) at batch 64 and 256 (CLAM's trainer: 27.8 and 16.0 samples/s); `mip`, MIP's
plain MLP head (10 layers of width 256, state input only, lift's chunk of 20 x 8 actions) at batch 256
(MIP's trainer: 6.9k samples/s).
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

import dataclasses  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from glam_jax import cli, compile_cache, configs  # noqa: E402
from glam_jax.data import pipeline  # noqa: E402
from glam_jax.data.synthetic import write_synthetic_recipe  # noqa: E402
from glam_jax.models.policy import PolicyConfig  # noqa: E402
from glam_jax.stage1 import experiment as stage1  # noqa: E402
from glam_jax.stage2 import experiment as stage2  # noqa: E402
from glam_jax.stage2 import latent_bc  # noqa: E402
from glam_jax.train import loop, sharding  # noqa: E402
from glam_jax.train import state as state_lib  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file('config', 'experiments/configs/world_model.py:lift',
                                          'World-model or action-policy config.')
_DATA_DIR = flags.DEFINE_string('data_dir', '', 'Data root holding <task>/<source>/; empty: synthetic data.')
_STEPS = flags.DEFINE_integer('steps', 20, 'Timed steps per measurement window (the compute-only rate is the median of 3).')
_WORKERS = flags.DEFINE_list('workers', ['0', '2'], 'Grain worker counts to measure.')
_PEER = flags.DEFINE_enum('peer', '', ['', 'clam', 'mip'], "Measure at a peer's size instead of --config.")
_BATCHES = flags.DEFINE_list('batches', [], "Batch sizes for --peer (default: those the peer's figures are at).")

# what each peer's own trainer does on the 2-core CPU machine (samples/s by batch), and the goal against it
PEERS = {'clam': {64: 27.8, 256: 16.0}, 'mip': {256: 6900.0}}
GOAL = 1.5
CLAM_WIDTH = 512            # this stack's CLAM at width 512: 8.0 M parameters with the paper's convs


def _flops(lowered, compiled) -> float:
  """FLOPs of one call by XLA's cost analysis: of the lowered HLO where this jax gives it (every device
  together, before the backend turns convolutions and matmuls into library calls, whose FLOPs the compiled
  program's analysis leaves out on GPU), else of the compiled program (per device)."""
  for stage in (lowered, compiled):
    cost = stage.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost       # a list on older jax
    if cost and cost.get('flops', 0.0) > 0:
      return float(cost['flops'])
  return float('nan')


def _rate(fn, args, reps: int) -> tuple:
  """(FLOPs of one call, calls/s) of a jitted `fn`, compiled first and timed over `reps` calls."""
  lowered = fn.lower(*args)
  compiled = lowered.compile()
  jax.block_until_ready(compiled(*args))
  t = time.perf_counter()
  for _ in range(reps):
    out = compiled(*args)
  jax.block_until_ready(out)
  return _flops(lowered, compiled), reps / (time.perf_counter() - t)


def peaks(mesh, data, batch: int, image_shape, conv_features) -> dict:
  """FLOP/s of a large matmul and of each encoder conv layer (kernel 4, stride 2) at the training batch."""
  n = mesh.size
  x = jax.device_put(jnp.ones((1024 * n, 2048), jnp.float32), data)
  w = jnp.ones((2048, 2048), jnp.float32)
  flops, rate = _rate(jax.jit(lambda a, b: a @ b, out_shardings=data), (x, w), 10)
  out = {f'matmul {1024 * n}x2048 @ 2048x2048': flops * rate}
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


def build(config, tmp: str):
  """(learner, train pipeline config) of a world-model config or of a policy config (a latent one relabels its
  data with `world_model_dir` first)."""
  if 'learner' in config:
    learner, train, _ = stage1.build(config)
    return learner, train
  if config.label == 'latents' and not config.world_model_dir:
    raise ValueError(f'the {config.method} policy regresses latents, which first needs a trained world model to '
                     'relabel the data: give --config.world_model_dir and --data_dir, or bench a policy config of '
                     'mip (same network, actions directly)')
  learner, train, _ = stage2.prepare(config, os.path.join(tmp, 'policy'), progress=False)
  return learner, train


def compile_step(learner, tx, batch, mesh):
  """(initial state, the compiled train step, compile seconds, its FLOPs), the batch split over `mesh` as in
  training."""
  repl, data = sharding.replicated(mesh), sharding.batch_sharding(mesh)
  state = jax.jit(lambda k, b: state_lib.create(learner.init(k, b), tx), out_shardings=repl)(
      jax.random.PRNGKey(0), batch)
  step = jax.jit(loop.make_train_step(learner, tx, jax.random.PRNGKey(1)), in_shardings=(repl, data),
                 out_shardings=(repl, repl), donate_argnums=0)
  t = time.perf_counter()
  lowered = step.lower(state, batch)
  compiled = lowered.compile()
  state, out = compiled(state, batch)
  jax.block_until_ready(out)
  return state, compiled, time.perf_counter() - t, _flops(lowered, compiled)


def compute_rate(compiled, state, batch, steps: int, windows: int = 3) -> tuple:
  """(state, steps/s) of the compiled step fed the same on-device batch: the compute-bound rate, the median
  of `windows` windows of `steps` steps (robust to other work briefly sharing the machine)."""
  rates = []
  for _ in range(windows):
    t = time.perf_counter()
    for _ in range(steps):
      state, out = compiled(state, batch)
    jax.block_until_ready(out)
    rates.append(steps / (time.perf_counter() - t))
  return state, float(np.median(rates))


def print_flops(step_flops: float, rate: float, measured: dict) -> None:
  achieved = step_flops * rate
  print(f'  {step_flops / 1e9:.3f} GFLOP per step (XLA cost analysis) -> {achieved / 1e9:.2f} GFLOP/s achieved',
        flush=True)
  for name, value in measured.items():
    print(f'  peak {name:40s} {value / 1e9:8.2f} GFLOP/s; the step reaches {achieved / value:6.1%}', flush=True)
  print(f'  vs the best peak: {achieved / max(measured.values()):.1%}', flush=True)


def conv_peaks(mesh, learner, batch: int) -> dict:
  """The matmul peak and, for a model with a conv encoder, its conv layers' peaks at this batch."""
  data = sharding.batch_sharding(mesh)
  mc = (getattr(learner, 'model_config', None) or getattr(learner, 'config', None)
        or learner.policy_config)          # LAWM's pre-training: the policy's encoder (its frame model beside it)
  features = getattr(mc, 'conv_features', None) or getattr(mc, 'encoder_features', ())
  if getattr(mc, 'num_views', 1) == 0:          # a state-only policy: no conv runs
    features = ()
  return peaks(mesh, data, batch, mc.image_shape, features)


def bench_config(config, tmp: str) -> None:
  """--config: compute-only rate and FLOP/s, then the step fed by the Grain pipeline per worker count."""
  if _DATA_DIR.value:
    config.data_dir = _DATA_DIR.value
  else:
    write_synthetic_recipe(os.path.join(tmp, config.task))
    config.data_dir = tmp
  learner, train_data = build(config, tmp)
  mesh = sharding.make_mesh(sharding.training_devices())
  tx = loop.make_optimizer(config)
  ds, _ = pipeline.make_dataset(dataclasses.replace(train_data, num_workers=0))
  batch = sharding.global_batch(ds[0], mesh)
  state, step, compile_s, step_flops = compile_step(learner, tx, batch, mesh)
  print(f'{state_lib.num_params(state.params):,} parameters; batch {train_data.batch_size}; training on '
        f'{mesh.size} of {jax.device_count()} x {jax.devices()[0].platform}; compile + first step {compile_s:.0f} s')
  print(f'{"feed":22s} {"steps/s":>8s} {"samples/s":>10s} {"data wait":>10s} {"vs compute":>10s}')
  state, base = compute_rate(step, state, batch, _STEPS.value)
  print(f'{"same batch (compute)":22s} {base:8.2f} {base * train_data.batch_size:10.0f} {0:10.1%} {1:10.2f}',
        flush=True)
  if jax.device_count() > mesh.size:      # CPU: what splitting the batch over every virtual device gives
    every = sharding.make_mesh()
    b = sharding.global_batch(ds[0], every)
    s, split_step, _, _ = compile_step(learner, tx, b, every)
    _, split = compute_rate(split_step, s, b, _STEPS.value)
    print(f'{f"  split over {every.size} devices":22s} {split:8.2f} {split * train_data.batch_size:10.0f} '
          f'{0:10.1%} {split / base:10.2f}', flush=True)
  print('\ncompute-only step:')
  print_flops(step_flops, base, conv_peaks(mesh, learner, train_data.batch_size))
  print()
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


def peer_problem(peer: str, batch: int, tmp: str) -> tuple:
  """(learner, optimiser config, one host batch) of a peer-size model at `batch`."""
  if peer == 'clam':
    config = configs.load('world_model', 'lift,clam')
    config.model.width, config.batch_size, config.data_dir = CLAM_WIDTH, batch, tmp
    if not os.path.isdir(os.path.join(tmp, 'lift')):
      write_synthetic_recipe(os.path.join(tmp, 'lift'))
    learner, train = build(config, tmp)
    return learner, config, pipeline.make_dataset(dataclasses.replace(train, num_workers=0))[0][0]
  config = configs.load('policy', 'lift,mip')
  horizon, action_dim, proprio_dim = config.horizon, 8, 8          # lift on the Kinova: 7 joints + gripper
  policy = PolicyConfig(image_shape=(64, 64, 3), num_views=0, horizon=horizon, output_dim=action_dim,
                        state_dim=latent_bc.state_dim('ee_proprio', 10, proprio_dim), head_layers=10,
                        head_width=256)
  learner = latent_bc.PolicyLearner(policy, (), 'ee_proprio', 'actions')
  k = jax.random.split(jax.random.PRNGKey(2), 4)
  normal = lambda key, shape: jax.random.normal(key, shape, jnp.float32)
  host = {'obs': {'ee_pose': normal(k[0], (batch, 9)), 'gripper': normal(k[1], (batch, 1))},
          'proprio': normal(k[2], (batch, proprio_dim)), 'actions': normal(k[3], (batch, horizon, action_dim)),
          'chunk_mask': jnp.ones((batch, horizon), bool)}
  return learner, config, jax.tree.map(np.asarray, host)


def bench_peer(peer: str, tmp: str) -> None:
  reference = PEERS[peer]
  batches = [int(b) for b in _BATCHES.value] or sorted(reference)
  mesh = sharding.make_mesh(sharding.training_devices())
  print(f'{peer} at its peer size; {mesh.size} x {jax.devices()[0].platform}; compute-only steps (same batch)')
  rows = []
  for b in batches:
    learner, config, host = peer_problem(peer, b, tmp)
    batch = sharding.global_batch(host, mesh)
    state, step, compile_s, step_flops = compile_step(learner, loop.make_optimizer(config), batch, mesh)
    state, rate = compute_rate(step, state, batch, _STEPS.value)
    print(f'\nbatch {b}: {state_lib.num_params(state.params):,} parameters; compile + first step {compile_s:.0f} s; '
          f'{rate:.2f} steps/s, {rate * b:.1f} samples/s', flush=True)
    print_flops(step_flops, rate, conv_peaks(mesh, learner, b))
    rows.append((b, rate * b))
  print(f'\n{"batch":>6s} {"samples/s":>10s} {"peer trainer":>13s} {"ratio":>7s} {"goal":>6s}')
  for b, samples in rows:
    ref = reference.get(b)
    cells = (f'{ref:13.1f} {samples / ref:7.2f} {GOAL:5.1f}x {"met" if samples / ref >= GOAL else "not met"}'
             if ref else f'{"-":>13s}')
    print(f'{b:6d} {samples:10.1f} {cells}')


def main(argv):
  del argv
  compile_cache.enable()
  with tempfile.TemporaryDirectory() as tmp:
    if _PEER.value:
      bench_peer(_PEER.value, tmp)
    else:
      bench_config(_CONFIG.value, tmp)


if __name__ == '__main__':
  cli.run(main)
