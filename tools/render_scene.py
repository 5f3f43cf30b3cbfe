"""Renders a random reset of a task for one embodiment: RGB, depth and mask of both views in one PNG.

  python tools/render_scene.py --task=lift --embodiment=kinova --out=scene.png [--seed=0 --image_size=64]
"""
from __future__ import annotations

import jax
import numpy as np
from absl import app, flags

from glam_jax import compile_cache, viz
from glam_jax.sim import camera, make_env

_TASK = flags.DEFINE_string('task', 'lift', 'Task name.')
_EMBODIMENT = flags.DEFINE_string('embodiment', 'kinova', 'kinova, umi or ur5e.')
_OUT = flags.DEFINE_string('out', 'scene.png', 'Output PNG path.')
_SEED = flags.DEFINE_integer('seed', 0, 'Reset seed.')
_SIZE = flags.DEFINE_integer('image_size', 64, 'Image height and width in pixels.')
_SCALE = flags.DEFINE_integer('scale', 4, 'Upscaling of the pictures in the PNG.')
_VIEWS = flags.DEFINE_list('views', ['overhead', 'front'], 'Cameras to draw (wrist: the gripper\'s own).')


def render_reset(task: str, embodiment: str, seed: int, image_size: int, views=('overhead', 'front')) -> dict:
  env = make_env(task, embodiment, image_size=image_size, cameras=tuple(views))
  state = jax.jit(env.reset)(jax.random.PRNGKey(seed))
  return {k: np.asarray(v) for k, v in state.obs.items()}, env


def scene_picture(obs: dict, views, scale: int) -> np.ndarray:
  rows = []
  for v in views:
    depth = obs[f'{v}/depth']
    far = float(depth[depth < camera.FAR].max(initial=1.0))   # background does not set the range
    rows.append([obs[f'{v}/rgb'], viz.depth_to_rgb(depth, far=far), viz.mask_to_rgb(obs[f'{v}/mask'])])
  return viz.grid(rows, scale=scale, labels=[f'{v}\nrgb|depth|mask' for v in views])


def main(argv):
  del argv
  compile_cache.enable()
  obs, env = render_reset(_TASK.value, _EMBODIMENT.value, _SEED.value, _SIZE.value, _VIEWS.value)
  viz.save_png(_OUT.value, scene_picture(obs, env.config.cameras, _SCALE.value))
  print(f'wrote {_OUT.value}: {_TASK.value}/{_EMBODIMENT.value}, seed {_SEED.value}, '
        f'mask pixels {[int(obs[f"{v}/mask"].sum()) for v in env.config.cameras]}')


if __name__ == '__main__':
  app.run(main)
