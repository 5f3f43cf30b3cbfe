"""Alignment probe: how well a method's latent actions say what the end effector did, on the target and on
another source, measured on recorded data without a simulator.

The truth of a transition is the end effector's motion over one control step, per arm: the change of TCP
position (world frame, 3), the rotation from one step's orientation to the next as a rotation vector (world
frame, 3) and the change of gripper opening (1). In simulated data it comes from the simulator's pose
(`true_ee_pose`, which no model reads, where the recorded pose carries SLAM-like error; else the recorded
pose, which is then exact). On imported real data the only truth is the recorded pose, so the probe there is
a consistency measure, and says so (`truth`).

- Probe: a ridge map (inputs standardised, `ALPHA`) from the latent (the IDM's posterior mean) to the truth,
  fitted on target transitions (every episode but each `HELD_OUT_EVERY`-th). R² on the held-out target
  episodes and on every other source; the transfer gap is R²(target held out) - R²(source).
- R² here is variance-weighted over the outputs, each scaled by its standard deviation in the fitting set
  (outputs that barely move there are left out): 1 - sum of squared errors / sum of squared deviations from
  the evaluated set's own mean.
- Reference: the same probe on the *recorded* end-effector delta (the change of the recorded pose and
  gripper, what the IDMs read). A method's margin on a source is its R² minus the reference's: what the
  latent adds over reading the recorded pose, above all where that pose is noisy.
- Phase distance: latents whitened by the target's per-dimension spread, then the mean over scripted
  phases (weighted by the source's transitions) of the distance between the two sources' phase centroids,
  over the mean distance between the target's centroids of different phases: 0 when each phase's latents
  sit where the target's do, about 1 when they are as far off as another phase is.
"""
from __future__ import annotations

import json
import os

import numpy as np

from glam_jax.data.pipeline import NORM_KEYS
from glam_jax.data.reader import Dataset, at_rate
from glam_jax.data.stats import Normalizer

ALPHA = 1.0
HELD_OUT_EVERY = 5
MIN_OUTPUT_STD = 1e-6
MIN_PHASE_COUNT = 10           # transitions of a phase in each source for its centroids to count
TRUTH_SIMULATOR = 'simulator'
TRUTH_RECORDED = 'recorded pose (consistency measure)'


def _rotations(ee: np.ndarray) -> np.ndarray:
  """(N, 3, 3) rotation matrices from 9-wide poses (position, first two columns)."""
  c0, c1 = ee[:, 3:6], ee[:, 6:9]
  c0 = c0 / np.linalg.norm(c0, axis=-1, keepdims=True)
  c1 = c1 - np.sum(c0 * c1, -1, keepdims=True) * c0
  c1 = c1 / np.linalg.norm(c1, axis=-1, keepdims=True)
  return np.stack([c0, c1, np.cross(c0, c1)], axis=-1)


def rotation_vectors(rot: np.ndarray) -> np.ndarray:
  """(N, 3) axis times angle of rotations (N, 3, 3) (the log map; angles below pi)."""
  cos = np.clip((np.trace(rot, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
  angle = np.arccos(cos)
  axis = np.stack([rot[:, 2, 1] - rot[:, 1, 2], rot[:, 0, 2] - rot[:, 2, 0], rot[:, 1, 0] - rot[:, 0, 1]], -1)
  scale = np.where(angle > 1e-6, angle / np.maximum(2 * np.sin(angle), 1e-12), 0.5)
  return axis * scale[:, None]


def ee_motion(ee_pose: np.ndarray, gripper: np.ndarray) -> np.ndarray:
  """(T-1, 7 A) motion of every transition of an episode: position change, rotation vector, gripper change."""
  out = []
  for a in range(gripper.shape[-1]):
    ee = ee_pose[:, 9 * a:9 * a + 9].astype(np.float64)
    rot = _rotations(ee)
    turn = rotation_vectors(rot[1:] @ np.swapaxes(rot[:-1], -1, -2))
    out += [np.diff(ee[:, :3], axis=0), turn, np.diff(gripper[:, a:a + 1].astype(np.float64), axis=0)]
  return np.concatenate(out, -1)


def recorded_delta(ee_pose: np.ndarray, gripper: np.ndarray) -> np.ndarray:
  """(T-1, 10 A) change of the recorded pose and gripper: the reference probe's input."""
  return np.diff(np.concatenate([ee_pose, gripper], -1).astype(np.float64), axis=0)


def fit_ridge(x: np.ndarray, y: np.ndarray, alpha: float = ALPHA) -> dict:
  mean_x, std_x = x.mean(0), np.maximum(x.std(0), 1e-8)
  mean_y = y.mean(0)
  z = (x - mean_x) / std_x
  w = np.linalg.solve(z.T @ z + alpha * np.eye(z.shape[1]), z.T @ (y - mean_y))
  return {'mean_x': mean_x, 'std_x': std_x, 'mean_y': mean_y, 'w': w, 'std_y': y.std(0)}


def predict(model: dict, x: np.ndarray) -> np.ndarray:
  return (x - model['mean_x']) / model['std_x'] @ model['w'] + model['mean_y']


def r2(model: dict, x: np.ndarray, y: np.ndarray) -> float:
  """Variance-weighted R² of the fitted map on (x, y), outputs scaled by their spread in the fitting set."""
  keep = model['std_y'] > MIN_OUTPUT_STD
  scale = model['std_y'][keep]
  err = (y - predict(model, x))[:, keep] / scale
  dev = (y[:, keep] - y[:, keep].mean(0)) / scale
  return float(1.0 - np.sum(err ** 2) / max(np.sum(dev ** 2), 1e-12))


def phase_distance(lat_target: np.ndarray, phase_target: np.ndarray, lat_other: np.ndarray,
                   phase_other: np.ndarray) -> dict:
  """The phase-matched centroid distance of the module's docstring, with its parts."""
  scale = np.maximum(lat_target.std(0), 1e-8)
  a, b = lat_target / scale, lat_other / scale
  common = [k for k in np.unique(phase_target)
            if (phase_target == k).sum() >= MIN_PHASE_COUNT and (phase_other == k).sum() >= MIN_PHASE_COUNT]
  if len(common) < 2:
    return {'ratio': None, 'distance': None, 'between_phases': None, 'phases': len(common)}
  ca = np.stack([a[phase_target == k].mean(0) for k in common])
  cb = np.stack([b[phase_other == k].mean(0) for k in common])
  weight = np.array([(phase_other == k).sum() for k in common], np.float64)
  distance = float(np.sum(weight * np.linalg.norm(ca - cb, axis=-1)) / weight.sum())
  pairs = np.linalg.norm(ca[:, None] - ca[None], axis=-1)
  between = float(pairs[~np.eye(len(common), dtype=bool)].mean())
  return {'ratio': distance / between, 'distance': distance, 'between_phases': between, 'phases': len(common)}


def transitions(ds: Dataset, episodes, latents: np.ndarray | None = None) -> dict:
  """Per-transition arrays of `episodes` of `ds`: truth (T-1, 7A), recorded delta, phase (or None) and,
  given per-step `latents` aligned with the dataset's steps, the latents of each transition."""
  out = {'truth': [], 'recorded': [], 'phase': [], 'latent': []}
  has_phase, has_truth = 'phase' in ds.meta['lowdim_fields'], 'true_ee_pose' in ds.meta['lowdim_fields']
  for ep in episodes:
    e = ds.episodes[ep]
    out['truth'].append(ee_motion(e['true_ee_pose'] if has_truth else e['ee_pose'], e['gripper']))
    out['recorded'].append(recorded_delta(e['ee_pose'], e['gripper']))
    n = int(ds.lengths[ep]) - 1
    if has_phase:
      out['phase'].append(np.asarray(e['phase'])[:n, 0])
    if latents is not None:
      start = int(ds.offsets[ep])
      out['latent'].append(latents[start:start + n])
  return {k: np.concatenate(v) if v else None for k, v in out.items()}


def truth_kind(ds: Dataset) -> str:
  """Simulated datasets (the generator writes `phase`) have the simulator's truth; imported ones do not."""
  return TRUTH_SIMULATOR if 'phase' in ds.meta['lowdim_fields'] else TRUTH_RECORDED


def probe(target: dict, others: dict) -> dict:
  """The probe on transitions (`transitions` output with latents): `target` split by episode beforehand
  into {'fit', 'held_out'}; `others` {source: transitions}. Returns R², gaps, the reference and margins."""
  fit, held = target['fit'], target['held_out']
  model = fit_ridge(fit['latent'], fit['truth'])
  ref = fit_ridge(fit['recorded'], fit['truth'])
  out = {'target_held_out': {'r2': r2(model, held['latent'], held['truth']),
                             'reference_r2': r2(ref, held['recorded'], held['truth'])}}
  out['target_held_out']['margin'] = out['target_held_out']['r2'] - out['target_held_out']['reference_r2']
  for source, t in others.items():
    row = {'r2': r2(model, t['latent'], t['truth']), 'reference_r2': r2(ref, t['recorded'], t['truth'])}
    row['gap'] = out['target_held_out']['r2'] - row['r2']
    row['margin'] = row['r2'] - row['reference_r2']
    if fit['phase'] is not None and t['phase'] is not None:
      row['phase_distance'] = phase_distance(np.concatenate([fit['latent'], held['latent']]),
                                             np.concatenate([fit['phase'], held['phase']]), t['latent'], t['phase'])
    out[source] = row
  return out


def run(workdir: str, other_sources, episodes: int = 100, progress: bool = True) -> dict:
  """The probe of the world model in `workdir` on its target and `other_sources` (datasets beside the
  target's in the run's data directory), at most `episodes` episodes each; writes
  `<workdir>/alignment/results.json` and returns it."""
  from glam_jax.data import sources
  from glam_jax.stage1 import experiment as stage1
  from glam_jax.stage2.relabel import idm_labels

  learner, params, config = stage1.load(workdir)
  target_ds = Dataset(sources.source_path(config, config.target))
  norm = Normalizer(target_ds.stats, NORM_KEYS)

  def of(ds, eps):
    return transitions(ds, eps, idm_labels(learner, params, ds, norm, progress=progress, episodes=eps))

  eps = list(range(min(episodes, target_ds.num_episodes)))
  held = eps[HELD_OUT_EVERY - 1::HELD_OUT_EVERY]
  target = {'fit': of(target_ds, [e for e in eps if e not in held]), 'held_out': of(target_ds, held)}
  others, kinds = {}, {config.target: truth_kind(target_ds)}
  for name in other_sources:     # at the target's control rate: the truth is one target step's motion
    ds = at_rate(Dataset(sources.source_path(config, name)), float(target_ds.meta['ctrl_dt']))
    others[name] = of(ds, list(range(min(episodes, ds.num_episodes))))
    kinds[name] = truth_kind(ds)
  out = {'workdir': os.path.abspath(workdir), 'method': config.get('method', ''), 'truth': kinds,
         'metric': 'variance-weighted R² of a ridge map latent -> end-effector motion fitted on target transitions',
         'episodes': {config.target: len(eps), **{n: min(episodes, Dataset(sources.source_path(config, n)).num_episodes)
                                                  for n in other_sources}},
         'results': probe(target, others)}
  os.makedirs(os.path.join(workdir, 'alignment'), exist_ok=True)
  with open(os.path.join(workdir, 'alignment', 'results.json'), 'w') as f:
    json.dump(out, f, indent=1)
  return out
