"""Simulator throughput: MJX physics and env steps/s, with and without rendering, against native MuJoCo.

For each task and batch size this measures, in one run:
  - env steps/s of `env.step` without rendering, and physics steps/s (= env steps x substeps);
  - env steps/s with both camera views rendered (`--image_size`, default 64x64);
  - native MuJoCo physics steps/s on the same model via `mujoco.rollout` (the baseline), and the ratio.
The batch is sharded over all host CPU devices (one per core, `jax.sharding`), as training and evaluation
run it. Compile time is excluded and printed separately. Each rate is the fastest of `--repeats` timed
windows, MJX and native alike.

  python tools/bench_sim.py [--tasks=lift,stack_two --batches=1,64,512 --embodiment=kinova --json=out.json]
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

import json  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import mujoco  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from jax.sharding import Mesh, NamedSharding, PartitionSpec  # noqa: E402
from mujoco import rollout as mj_rollout  # noqa: E402

from glam_jax import compile_cache  # noqa: E402
from glam_jax.sim import TASKS, make_env  # noqa: E402

_TASKS = flags.DEFINE_list('tasks', list(TASKS), 'Tasks to measure.')
_EMBODIMENT = flags.DEFINE_string('embodiment', 'kinova', 'Embodiment.')
_BATCHES = flags.DEFINE_list('batches', ['1', '64', '512'], 'Batch sizes.')
_STEPS = flags.DEFINE_integer('steps', 10, 'Control steps per timed call.')
_IMAGE_SIZE = flags.DEFINE_integer('image_size', 64, 'Rendered image size.')
_MIN_TIME = flags.DEFINE_float('min_time', 3.0, 'Seconds of timed calls per measurement.')
_REPEATS = flags.DEFINE_integer('repeats', 3, 'Timed windows per measurement; the fastest counts.')
_JSON = flags.DEFINE_string('json', '', 'Optional path for the figures as JSON.')


def _seconds_per_call(call):
  """`--repeats` windows of calls, each >= min_time / repeats; the fastest window counts (a stall from
  another process spoils one window, not the figure)."""
  best = float('inf')
  for _ in range(_REPEATS.value):
    calls, t = 0, time.perf_counter()
    while True:
      call()
      calls += 1
      if time.perf_counter() - t >= _MIN_TIME.value / _REPEATS.value:
        break
    best = min(best, (time.perf_counter() - t) / calls)
  return best


def _timed(fn, *args):
  """(seconds per call, compile seconds): the first call compiles, the rest are timed."""
  t = time.perf_counter()
  jax.block_until_ready(fn(*args))
  compile_s = time.perf_counter() - t
  return _seconds_per_call(lambda: jax.block_until_ready(fn(*args))), compile_s


def _env_rate(env, batch, steps, mesh):
  keys = jax.random.split(jax.random.PRNGKey(0), batch)
  sharding = NamedSharding(mesh, PartitionSpec('data')) if batch % mesh.size == 0 else None
  if sharding is not None:
    keys = jax.device_put(keys, sharding)
  states = jax.jit(jax.vmap(env.reset))(keys)
  actions = jnp.zeros((batch, env.action_size))

  @jax.jit
  def run(s):
    return jax.lax.scan(lambda c, _: (jax.vmap(env.step)(c, actions), None), s, None, length=steps)[0]

  per_call, compile_s = _timed(run, states)
  return batch * steps / per_call, compile_s, states


def _native_rate(env, states, batch, steps):
  m = env.mj_model
  d = mujoco.MjData(m)
  d.qpos[:] = np.asarray(states.data.qpos[0])
  d.ctrl[:] = np.asarray(states.data.ctrl[0])
  d.mocap_pos[:] = np.asarray(states.data.mocap_pos[0])
  d.mocap_quat[:] = np.asarray(states.data.mocap_quat[0])
  mujoco.mj_forward(m, d)
  spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
  state = np.zeros(mujoco.mj_stateSize(m, spec))
  mujoco.mj_getState(m, d, state, spec)
  nstep = steps * env.n_substeps
  init = np.tile(state, (batch, 1))
  control = np.tile(d.ctrl, (batch, nstep, 1))
  datas = [mujoco.MjData(m) for _ in range(os.cpu_count() or 1)]
  return batch * nstep / _seconds_per_call(lambda: mj_rollout.rollout(m, datas, init, control, nstep=nstep))


def main(argv):
  del argv
  compile_cache.enable()
  mesh = Mesh(np.array(jax.devices()), ('data',))
  print(f'devices: {len(jax.devices())} x {jax.devices()[0].platform}, jax {jax.__version__}, '
        f'mujoco {mujoco.__version__}, embodiment {_EMBODIMENT.value}, {_STEPS.value} control steps per call')
  header = (f'{"task":12s} {"batch":>5s} {"physics/s":>10s} {"env/s":>8s} {"env+render/s":>12s} '
            f'{"native phys/s":>13s} {"MJX/native":>10s} {"compile s":>9s}')
  print(header)
  rows = []
  for task in _TASKS.value:
    plain = make_env(task, _EMBODIMENT.value, render=False)
    rendered = make_env(task, _EMBODIMENT.value, image_size=_IMAGE_SIZE.value)
    for batch in map(int, _BATCHES.value):
      env_rate, c1, states = _env_rate(plain, batch, _STEPS.value, mesh)
      render_rate, c2, _ = _env_rate(rendered, batch, _STEPS.value, mesh)
      physics = env_rate * plain.n_substeps
      native = _native_rate(plain, states, batch, _STEPS.value)
      row = dict(task=task, batch=batch, physics_steps_per_s=physics, env_steps_per_s=env_rate,
                 render_env_steps_per_s=render_rate, native_physics_steps_per_s=native,
                 mjx_over_native=physics / native, compile_s=c1 + c2)
      rows.append(row)
      print(f'{task:12s} {batch:5d} {physics:10.0f} {env_rate:8.0f} {render_rate:12.0f} {native:13.0f} '
            f'{physics / native:10.2f} {c1 + c2:9.0f}', flush=True)
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump({'devices': len(jax.devices()), 'platform': jax.devices()[0].platform, 'rows': rows}, f,
                indent=1)


if __name__ == '__main__':
  app.run(main)
