"""Relabelling: every transition of every source (target and auxiliary) gets the frozen IDM's posterior
mean as its latent action label (DESIGN.md §2, stage 2).

Labels are standardised per dimension with statistics over all sources' transitions, so the policy
regresses unit-scale targets; the policy's own action decoder reads that standardised space, so nothing
downstream needs the statistics. Labels are stored one row per dataset step, aligned with the dataset's
steps; an episode's last step has no transition and repeats the label before it (the pipeline never reads
it). Written to `<dir>/<source>.npy` with `stats.json`; a finished relabelling of the same model is reused.
"""
from __future__ import annotations

import json
import os

import jax
import numpy as np
from tqdm import tqdm

from glam_jax.data import schema
from glam_jax.data.pipeline import SHARED_KEYS, paired_steps
from glam_jax.data.reader import Dataset
from glam_jax.data.stats import MIN_STD, Normalizer
from glam_jax.train import sharding

STATS_FILE = 'stats.json'


def _episode_obs(ds: Dataset, ep: int, image_keys, normalizer: Normalizer) -> dict:
  """An episode's observations; a view the source does not store is zeros, as the pipeline gives it."""
  frames = [ds.frame(ep, t) for t in range(int(ds.lengths[ep]))]
  obs = {k: np.stack([f[k] for f in frames]) if k in frames[0] else
         np.zeros((len(frames),) + schema.image_shape(k, ds.meta['image_size']), np.uint8) for k in image_keys}
  for k in SHARED_KEYS:
    obs[k] = normalizer.normalize(k, ds.episodes[ep][k]).astype(np.float32)
  return obs


def idm_labels(learner, params, ds: Dataset, normalizer: Normalizer, batch: int = 256,
               progress: bool = True, episodes=None) -> np.ndarray:
  """(num_steps, latent_dim) float32 IDM posterior means of every transition of `ds` (not standardised);
  with `episodes`, of those episodes only (the other rows stay zero)."""
  # several processes: each labels everything itself, on its own training devices (on CPU: one)
  mesh = sharding.make_mesh([d for d in sharding.training_devices() if d.process_index == jax.process_index()])
  params = jax.device_get(params)
  batch = -(-batch // mesh.size) * mesh.size
  fn = jax.jit(learner.encode, in_shardings=(sharding.replicated(mesh), sharding.batch_sharding(mesh),
                                               sharding.batch_sharding(mesh)))
  out = np.zeros((int(ds.meta['num_steps']), learner.latent_dim), np.float32)
  pending, rows = [], []           # transitions waiting for a full batch, and their output rows

  def flush():
    idx = np.concatenate(rows)
    cat = lambda i: {k: np.concatenate([p[i][k] for p in pending]) for k in pending[0][i]}
    obs, nxt = cat(0), cat(1)
    pad = lambda x: np.concatenate([x, np.repeat(x[-1:], batch - len(x), 0)]) if len(x) < batch else x
    means = np.asarray(fn(params, jax.tree.map(pad, obs), jax.tree.map(pad, nxt)))
    out[idx] = means[:len(idx)]
    pending.clear()
    rows.clear()

  episodes = range(ds.num_episodes) if episodes is None else episodes
  gap = learner.frame_gap                          # LAPA's frame gap: each transition's second frame
  for ep in tqdm(episodes, desc=f'relabel {os.path.basename(ds.path)}', disable=not progress):
    obs = _episode_obs(ds, ep, learner.image_keys, normalizer)
    n = int(ds.lengths[ep]) - 1
    start = int(ds.offsets[ep])
    for s in range(0, n, batch):
      e = min(n, s + batch)
      if sum(len(r) for r in rows) + (e - s) > batch:
        flush()
      nxt = paired_steps(np.arange(s, e), gap, n)
      pending.append(({k: v[s:e] for k, v in obs.items()}, {k: v[nxt] for k, v in obs.items()}))
      rows.append(np.arange(start + s, start + e))
  if rows:
    flush()
  last = ds.offsets[1:] - 1
  out[last] = out[last - 1]
  return out


def relabel(learner, params, datasets: dict, normalizer: Normalizer, out_dir: str, progress: bool = True,
            fingerprint: str = '') -> dict:
  """Standardised labels {path: (num_steps, d)} for `datasets` {name: Dataset}; cached in `out_dir` and
  reused only for the same sources and the same model `fingerprint` (`stage1.experiment.fingerprint`:
  a retrained or reconfigured world model relabels)."""
  stats_path = os.path.join(out_dir, STATS_FILE)
  paths = {name: os.path.join(out_dir, f'{name}.npy') for name in datasets}
  key = {'sources': {n: ds.path for n, ds in datasets.items()}, 'fingerprint': fingerprint}
  if os.path.exists(stats_path) and all(os.path.exists(p) for p in paths.values()):
    with open(stats_path) as f:
      stats = json.load(f)
    if {k: stats.get(k, '') for k in key} == key:
      return {datasets[n].path: np.load(p) for n, p in paths.items()}
  raw = {n: idm_labels(learner, params, ds, normalizer, progress=progress) for n, ds in datasets.items()}
  rows = np.concatenate([np.delete(raw[n], ds.offsets[1:] - 1, 0) for n, ds in datasets.items()])
  mean, std = rows.mean(0), np.maximum(rows.std(0), MIN_STD)
  os.makedirs(out_dir, exist_ok=True)
  labels = {}
  tag = f'.{jax.process_index()}.tmp'        # several training processes each write the same files
  for n, ds in datasets.items():
    labels[ds.path] = ((raw[n] - mean) / std).astype(np.float32)
    tmp = paths[n] + tag + '.npy'
    np.save(tmp, labels[ds.path])
    os.replace(tmp, paths[n])
  with open(stats_path + tag, 'w') as f:
    json.dump({'mean': mean.tolist(), 'std': std.tolist(), **key}, f, indent=1)
  os.replace(stats_path + tag, stats_path)
  return labels
