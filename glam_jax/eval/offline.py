"""Open-loop evaluation on recorded data, what a user with a real-robot dataset can run before touching
hardware: at every step of held-out episodes, the policy's action chunk from that step's observation against
the actions the episode recorded over the next H steps, in the units the policy commands (joint targets in
radians for `joint_target`, the env's actions for `delta`).

Reported: the mean absolute error per horizon step and per action dimension (and overall, with the RMSE),
over every (episode, step) whose next h steps exist; a figure per episode of each action dimension, recorded
against the policy's first predicted step and a few whole predicted chunks. Works on imported datasets: the
observation keys the policy reads must be in the dataset, at the policy's image size.
"""
from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image, ImageDraw

from glam_jax import viz
from glam_jax.data import action_space
from glam_jax.data.reader import Dataset
from glam_jax.data.schema import DatasetError
from glam_jax.eval import report

RECORDED, FIRST, CHUNK = (30, 30, 30), (31, 119, 180), (255, 127, 14)


def held_out(run_config: dict, num_episodes: int) -> list:
  """The run's held-out episodes of its target (the pipeline holds out the last `eval_episodes`)."""
  n = int(run_config.get('eval_episodes', 0))
  return list(range(max(0, num_episodes - n), num_episodes))


def episode_observations(ds: Dataset, episode: int, keys: dict, steps) -> dict:
  """The observations of `steps` of one episode as a batch, as the policy reads them."""
  low = ds.episodes[episode]
  out = {}
  for k, s in keys.items():
    if k in low:
      out[k] = np.asarray(low[k][steps], np.float32)
    else:
      out[k] = np.stack([ds.frame(episode, int(t))[k] for t in steps])
    if out[k].shape[1:] != tuple(s['shape']):
      raise DatasetError(f'{ds.path}: {k} has shape {out[k].shape[1:]}, the policy reads {tuple(s["shape"])}'
                         + ('; import the data at the policy\'s image size (--image_size)' if '/' in k else ''))
  return out


def evaluate(policy, data: str, episodes=None, stride: int = 1, figure: str = '', max_figure_episodes: int = 4) -> dict:
  """`policy`: a `serving.policy_api.LoadedPolicy` (or anything with `metadata`, `spec` and `infer`);
  `data`: a dataset directory; `episodes`: indices (default: the last 5)."""
  ds = Dataset(data)
  keys = policy.metadata['observation']
  missing = [k for k in keys if k not in ds.meta['frame_fields'] and k not in ds.meta['lowdim_fields']]
  if missing:
    raise DatasetError(f'{data}: no {missing[0]!r}, which the policy reads (it reads {sorted(keys)})')
  if 'action' not in ds.meta['lowdim_fields']:
    raise DatasetError(f'{data}: no recorded actions to compare with (an auxiliary source)')
  space, num_arms, horizon = policy.metadata['action_space'], policy.metadata['num_arms'], policy.metadata['horizon']
  episodes = list(range(max(0, ds.num_episodes - 5), ds.num_episodes)) if episodes is None else list(episodes)
  if not episodes or max(episodes) >= ds.num_episodes or min(episodes) < 0:
    raise ValueError(f'episodes {episodes} are not episodes of {data} (it has {ds.num_episodes})')
  abs_sum = np.zeros((horizon, int(policy.metadata['action_dim'])))
  sq_sum, counts, traces = np.zeros_like(abs_sum), np.zeros(horizon), []
  for e in episodes:
    recorded = action_space.recorded_commands(space, ds.episodes[e], num_arms)
    steps = np.arange(0, len(recorded), stride)
    chunks = np.asarray(policy.infer(episode_observations(ds, e, keys, steps)))          # (S, H, A)
    for h in range(horizon):
      valid = steps + h < len(recorded)
      err = chunks[valid, h] - recorded[steps[valid] + h]
      abs_sum[h] += np.abs(err).sum(0)
      sq_sum[h] += (err ** 2).sum(0)
      counts[h] += valid.sum()
    traces.append((e, steps, chunks, recorded))
  per = abs_sum / counts[:, None]
  out = {'data': os.path.abspath(data), 'episodes': episodes, 'stride': stride, 'action_space': space,
         'units': 'rad for joint entries, gripper command as recorded' if space == 'joint_target' else 'env actions in [-1, 1]',
         'horizon': horizon, 'mae_per_step': per.mean(1).tolist(), 'mae_per_dim': (abs_sum.sum(0) / counts.sum()).tolist(),
         'mae': float(abs_sum.sum() / (counts.sum() * per.shape[1])),
         'rmse': float(np.sqrt(sq_sum.sum() / (counts.sum() * per.shape[1]))), 'predictions': int(counts[0])}
  if figure:
    plot(traces[:max_figure_episodes], figure, space)
  return out


def plot(traces, path: str, space: str, panel: tuple = (170, 120)) -> np.ndarray:
  """One row per episode, one panel per action dimension, each on its own scale: recorded (dark), the first
  predicted step at every step (blue), and whole predicted chunks from four steps (orange)."""
  dims = traces[0][3].shape[1]
  pw, ph = panel
  img = Image.new('RGB', (pw * dims, ph * len(traces) + 24), (255, 255, 255))
  draw = ImageDraw.Draw(img)
  font = report.font(10)
  draw.text((4, 4), f'recorded (dark), first predicted step (blue), predicted chunks (orange); {space}',
            fill=report.TEXT_COLOUR, font=font)
  for row, (e, steps, chunks, recorded) in enumerate(traces):
    starts = np.linspace(0, len(steps) - 1, 4).astype(int)
    for d in range(dims):
      x0, y0 = d * pw, 24 + row * ph
      box = (x0 + 6, y0 + 14, x0 + pw - 6, y0 + ph - 6)
      values = np.concatenate([recorded[:, d], chunks[:, :, d].ravel()])
      lo, hi = float(values.min()), float(values.max())
      hi = hi if hi > lo else lo + 1e-6
      x_of = lambda t: box[0] + t / max(len(recorded) - 1, 1) * (box[2] - box[0])
      y_of = lambda v: box[3] - (v - lo) / (hi - lo) * (box[3] - box[1])
      draw.rectangle(box, outline=(200, 200, 200))
      draw.text((box[0], y0), f'ep {e}, dim {d}', fill=report.TEXT_COLOUR, font=font)
      draw.line([(x_of(t), y_of(v)) for t, v in enumerate(recorded[:, d])], fill=RECORDED, width=2)
      draw.line([(x_of(t), y_of(v)) for t, v in zip(steps, chunks[:, 0, d])], fill=FIRST, width=1)
      for i in starts:
        pts = [(x_of(steps[i] + h), y_of(v)) for h, v in enumerate(chunks[i, :, d]) if steps[i] + h < len(recorded)]
        if len(pts) > 1:
          draw.line(pts, fill=CHUNK, width=1)
  out = np.asarray(img)
  viz.save_png(path, out)
  return out


def write(results: dict, out_dir: str) -> None:
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, 'results.json'), 'w') as f:
    json.dump(results, f, indent=1)
