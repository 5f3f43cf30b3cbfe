"""Evaluates a trained policy run directory in closed loop on the target robot and writes what it found:
`results.json` (success with a 95 % Wilson interval, each episode's outcome, smoothness of the end-effector
speed profile) and a GIF of the first rollouts.

`episodes` keeps every episode's outcome, entry i for placement i (reset key `fold_in(PRNGKey(seed), i)`, the
same placement for every method evaluated with that seed): `success` (0/1) and `first_success` (the first
successful control step, -1 where none). Comparisons paired over placements need them.

Smoothness is scored on the TCP speed profile of each episode from its start up to its first successful
step (the whole episode when it never succeeds): the movement that did the task, not the idling after it.
"""
from __future__ import annotations

import json
import os
import time

import jax
import numpy as np

from glam_jax import viz
from glam_jax.data import action_space
from glam_jax.demos import collect
from glam_jax.eval import closed_loop, smoothness, stats
from glam_jax.eval.controllers import ChunkPolicyController
from glam_jax.sim import backends, camera, make_env
from glam_jax.stage2 import experiment as stage2

TARGET = 'kinova'


def smoothness_summary(result: dict, dt: float) -> dict:
  """Mean LDLJ / SPARC / FFT over episodes and arms, each episode cut at its first success."""
  tcp, first = result['tcp'], result['first_success']
  n, t, arms, _ = tcp.shape
  lengths = np.where(first >= 0, first + 1, t)
  positions = tcp.transpose(0, 2, 1, 3).reshape(n * arms, t, 3)
  return smoothness.summarize(positions, np.repeat(lengths, arms), dt)


def episode_outcomes(result: dict) -> dict:
  """Each episode's outcome, in placement order: what a paired comparison over placements reads."""
  return {'success': [int(v) for v in result['success']],
          'first_success': [int(v) for v in result['first_success']]}


def rollout_gif(env, result: dict, path: str, views, image_size: int, fps: float) -> None:
  """Renders the kept episodes' frames (views side by side) and writes them as one GIF, episodes in a row."""
  pos, mat = result['geom_xpos'], result['geom_xmat']
  k, t = pos.shape[:2]
  rig = camera.make_rig(env.mj_model, views, image_size, image_size, env.mask_geoms)
  keys = [f'{v}/rgb' for v in views]
  frames = collect.render_frames(collect.make_renderer(rig), pos.reshape((k * t,) + pos.shape[2:]),
                                 mat.reshape((k * t,) + mat.shape[2:]), 256, keys)
  per_episode = [np.concatenate([frames[key].reshape(k, t, image_size, image_size, 3)[e] for key in keys], 2)
                 for e in range(k)]
  viz.save_gif(path, per_episode, fps=fps)


def evaluate_policy(workdir: str, trials: int, seed: int = 1000, chunk: int = 64, execute_steps: int = 0,
                    gifs: int = 4, out_dir: str = '', progress: bool = True, backend: str = 'auto') -> dict:
  """Rolls out the policy of `workdir` for `trials` episodes on the `backend` physics (`sim.backends`);
  writes `<out_dir>/results.json` and `rollouts.gif` (out_dir defaults to `<workdir>/eval`) and returns the
  results."""
  backend = backends.resolve(backend)
  learner, params, spec, _ = stage2.load(workdir)
  execute_steps = execute_steps or spec['execute_steps']
  env = make_env(spec['task'], TARGET, render=False)
  controller = ChunkPolicyController(learner, env, stage2.normalizer(spec), execute_steps,
                                     action_space.of(spec))
  t0 = time.time()
  result = closed_loop.evaluate(env, controller, params, trials, seed, chunk, keep_frames=gifs, progress=progress,
                                backend=backend)
  seconds = time.time() - t0
  success = result['success']
  out = {'workdir': os.path.abspath(workdir), 'task': spec['task'], 'method': spec['method'],
         'success': stats.rate_summary(int(success.sum()), len(success)),
         'smoothness': smoothness_summary(result, env.dt),
         'mean_steps_to_success': float(result['first_success'][success].mean() + 1) if success.any() else None,
         'episodes': episode_outcomes(result),
         'trials': trials, 'seed': seed, 'execute_steps': execute_steps,
         'action_space': action_space.of(spec), 'episode_steps': result['num_steps'],
         'backend': backend, 'seconds': seconds, 'env_steps_per_s': trials * result['num_steps'] / seconds,
         'device': f'{jax.device_count()} x {jax.devices()[0].device_kind}'}
  out_dir = out_dir or os.path.join(workdir, 'eval')
  os.makedirs(out_dir, exist_ok=True)
  if gifs:
    views = tuple(dict.fromkeys(k.split('/')[0] for k in spec['image_keys']))
    rollout_gif(env, result, os.path.join(out_dir, 'rollouts.gif'), views, spec['policy']['image_shape'][0],
                fps=1.0 / env.dt)
  with open(os.path.join(out_dir, 'results.json'), 'w') as f:
    json.dump(out, f, indent=1)
  return out
