"""A batched closed-loop rollout of the simulator, with pictures: the quickstart's main job for now.

Runs `--num_envs` environments of one task with smoothly wandering random actions for a full episode in
jitted chunks, then writes a contact sheet (rows: environments, columns: time; both views) and a GIF of
the first environments, and prints throughput and success rate.

  python tools/sim_rollout.py --task=lift --embodiment=kinova --num_envs=64 --out_dir=runs/rollout
"""
from __future__ import annotations

import os
import time

import jax
import numpy as np
from absl import app, flags
from PIL import Image
from tqdm import tqdm

from glam_jax import compile_cache, viz
from glam_jax.sim import make_env
from glam_jax.sim.rollout import make_rollout_chunk, smooth_random_policy

_TASK = flags.DEFINE_string('task', 'lift', 'Task name.')
_EMBODIMENT = flags.DEFINE_string('embodiment', 'kinova', 'kinova, umi or ur5e.')
_NUM_ENVS = flags.DEFINE_integer('num_envs', 64, 'Environments stepped in parallel.')
_STEPS = flags.DEFINE_integer('steps', 0, 'Control steps (0: the task episode length).')
_CHUNK = flags.DEFINE_integer('chunk', 10, 'Steps per compiled call.')
_SHOW = flags.DEFINE_integer('show', 4, 'Environments drawn in the pictures.')
_SEED = flags.DEFINE_integer('seed', 0, 'Random seed.')
_IMAGE_SIZE = flags.DEFINE_integer('image_size', 64, 'Image height and width.')
_OUT_DIR = flags.DEFINE_string('out_dir', 'runs/rollout', 'Where pictures are written.')


def main(argv):
  del argv
  compile_cache.enable()
  env = make_env(_TASK.value, _EMBODIMENT.value, image_size=_IMAGE_SIZE.value)
  n, show = _NUM_ENVS.value, min(_SHOW.value, _NUM_ENVS.value)
  steps = _STEPS.value or env.episode_length
  chunk = min(_CHUNK.value, steps)
  if steps % chunk:
    raise ValueError(f'--steps ({steps}) must be a multiple of --chunk ({chunk})')
  views = env.config.cameras
  record = lambda s: {'success': s.info['success'], **{v: s.obs[f'{v}/rgb'] for v in views}}
  run = make_rollout_chunk(env, smooth_random_policy(env.action_size), chunk, record)
  k_reset, k_run = jax.random.split(jax.random.PRNGKey(_SEED.value))
  states = jax.jit(jax.vmap(env.reset))(jax.random.split(k_reset, n))
  carries = np.zeros((n, env.action_size), np.float32)
  keys = jax.random.split(k_run, n)
  frames = {v: [np.asarray(states.obs[f'{v}/rgb'][:show])] for v in views}
  ever = np.zeros(n, bool)
  t_compile = time.time()
  jax.block_until_ready(run(states, carries, keys))
  t_compile = time.time() - t_compile
  t0 = time.time()
  for _ in tqdm(range(steps // chunk), desc=f'{env.task.name}/{env.embodiment} x{n}', unit='chunk'):
    states, carries, keys, rec = run(states, carries, keys)
    ever |= np.asarray(rec['success']).any(axis=0)      # rec leaves: (time, env, ...)
    for v in views:
      frames[v].extend(np.asarray(rec[v][:, :show]))
  elapsed = time.time() - t0

  os.makedirs(_OUT_DIR.value, exist_ok=True)
  video = {v: np.stack(f) for v, f in frames.items()}          # (T + 1, show, H, W, 3)
  cols = np.linspace(0, steps, 8).astype(int)
  rows = [[video[v][t, e] for t in cols] for e in range(show) for v in views]
  sheet_path = os.path.join(_OUT_DIR.value, 'contact_sheet.png')
  viz.save_png(sheet_path, viz.grid(rows, scale=2, labels=[f'env {e} {v}' for e in range(show) for v in views]))
  gif = [viz.grid([[video[v][t, e] for v in views] for e in range(show)], scale=2) for t in range(steps + 1)]
  gif_path = os.path.join(_OUT_DIR.value, 'rollout.gif')
  Image.fromarray(gif[0]).save(gif_path, save_all=True, append_images=[Image.fromarray(g) for g in gif[1:]],
                               duration=int(1000 * env.dt), loop=0)
  print(f'{n} envs x {steps} steps in {elapsed:.1f} s ({n * steps / elapsed:.0f} env steps/s with both '
        f'{_IMAGE_SIZE.value}x{_IMAGE_SIZE.value} views rendered; compile {t_compile:.0f} s) on '
        f'{jax.devices()[0].platform}')
  print(f'random-policy success: {ever.mean():.1%} of episodes')
  print(f'wrote {sheet_path} and {gif_path}')


if __name__ == '__main__':
  app.run(main)
