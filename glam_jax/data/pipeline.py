"""The Grain input pipeline: a weighted mixture of heterogeneous sources, as stage-1 or stage-2 batches.

Per source: a table of transitions (episode, step) -> shuffle (reshuffled every epoch) -> repeat -> a loader
that reads the step(s) and shapes them into one common structure. Sources are mixed by weight, batched,
sliced by JAX process (each process its share of every global batch), and iterated with optional
multi-process prefetch. The iterator state (`get_state`/`set_state`) restores to exactly the same next batch.

Every element indexes a transition t -> t+1 (t from 0 to the episode's length - 2), in both stages:
- stage 1: `obs` and `next_obs` (the chosen image keys, `ee_pose`, `gripper`; `frame_gap` steps on, LAPA's
  option, held at the episode's last step), and the target-only fields
  `proprio`, `next_proprio`, `action` (zeros for auxiliary sources; `is_target` says which), the action in
  the representation `action_space` names (data/action_space.py);
- stage 2: `obs` at t, `proprio` (target only), and label chunks over t .. t+H-1: `actions` (target only)
  and `latents` (when relabelling labels are given), with `chunk_mask` false where t+i runs past the
  episode's last transition (padded entries repeat the last valid label); with `future_frames` n, also
  `future` (the image keys at t+k+1 .. t+k+n, stacked), `future_start` (at t+k), `future_offset` k and
  `future_mask` (false past the episode's last step), k = 0 or (`future_start='random'`) drawn uniformly from
  0 .. horizon - n, fixed per element by (seed, source, episode, step): LAWM trains every latent of the chunk.
`source` is the index of the element's source.

A source recorded at another rate than the target's (`ctrl_dt` in its meta) is read re-timed to the
target's (`reader.Resampled`: each step the recorded one nearest in time).

Sources may store different views (a UMI recording has only its wrist camera): the target must store every
image key read, any other source at least one. Where some source of the mixture lacks a key, its images are
zeros there and every element's `obs` carries `image_present` (one bool per image key), which the models
use to leave the missing views out of their inputs and losses.

Low-dimensional fields are standardised with the *target* dataset's statistics for every source, so a
given end-effector pose means the same numbers whichever source it came from. `proprio` is the target's
joint positions followed by its gripper opening. `delta` actions stay in the env's [-1, 1] scale.
"""
from __future__ import annotations

import dataclasses
import os

from glam_jax import quiet  # noqa: F401  (before MJX and Grain: drops two notices)
import grain
import jax
import numpy as np
from absl import flags

from glam_jax import parent_watch
from glam_jax.data import action_space
from glam_jax.data.reader import Dataset, at_rate
from glam_jax.data.schema import VIEW_MASK, DatasetError
from glam_jax.data.stats import Normalizer

SHARED_KEYS = ('ee_pose', 'gripper')
NORM_KEYS = SHARED_KEYS + ('joint_pos', 'joint_target')     # standardised with the target's statistics


@dataclasses.dataclass(frozen=True)
class Source:
  path: str
  weight: float = 1.0
  target: bool | None = None      # None: the first source with actions and proprioception is the target


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  sources: tuple                       # of Source
  image_keys: tuple = ('overhead/rgb', 'front/rgb')
  batch_size: int = 64                 # global batch, split over JAX processes
  stage: int = 1
  horizon: int = 20                    # stage 2 chunk length H
  seed: int = 0
  normalize: bool = True
  eval_episodes: int = 0               # the last N episodes of each source are held out
  split: str = 'train'                 # 'train', 'eval' (the held-out ones) or 'all'
  label_dir: str = ''                  # stage 2: latent labels `<label_dir>/<source dir name>.npy` (relabel)
  future_frames: int = 0               # stage 2: also the images of steps t+k+1 .. t+k+n (LAWM's world model)
  future_start: str = 'first'          # k = 0 ('first') or drawn per element ('random')
  frame_gap: int = 1                   # stage 1: `next_obs` this many steps on (held at the episode's last step)
  action_space: str = 'delta'          # 'delta' or 'joint_target' (data/action_space.py)
  num_workers: int = 0                 # Grain worker processes (0: read in the main process)
  prefetch: int = 2                    # batches buffered per worker / thread


def _episodes(ds: Dataset, eval_episodes: int, split: str) -> np.ndarray:
  n = ds.num_episodes
  if eval_episodes >= n:
    raise DatasetError(f'{ds.path}: eval_episodes ({eval_episodes}) leaves no training episodes of {n}')
  if split == 'train':
    return np.arange(n - eval_episodes)
  if split == 'eval':
    if eval_episodes <= 0:
      raise ValueError('split="eval" needs eval_episodes > 0')
    return np.arange(n - eval_episodes, n)
  if split == 'all':
    return np.arange(n)
  raise ValueError(f'unknown split {split!r}; valid: train, eval, all')


def transition_table(ds: Dataset, episodes: np.ndarray) -> np.ndarray:
  """(N, 2) int32 rows (episode, t) for every transition t -> t+1 of the given episodes."""
  rows = [np.stack([np.full(ds.lengths[e] - 1, e), np.arange(ds.lengths[e] - 1)], 1) for e in episodes]
  return np.concatenate(rows).astype(np.int32)


def _pick_target(datasets, sources) -> int:
  marked = [i for i, s in enumerate(sources) if s.target]
  if len(marked) > 1:
    raise ValueError(f'more than one source is marked as the target: {[sources[i].path for i in marked]}')
  if marked:
    i = marked[0]
  else:
    eligible = [i for i, d in enumerate(datasets) if d.meta['has_actions'] and d.meta['has_proprio']]
    if not eligible:
      raise DatasetError('no source has actions and proprioception; one must be the target robot')
    i = eligible[0]
  d = datasets[i]
  if not (d.meta['has_actions'] and d.meta['has_proprio']):
    raise DatasetError(f'{d.path}: the target source needs actions and proprioception '
                       f'(has_actions={d.meta["has_actions"]}, has_proprio={d.meta["has_proprio"]})')
  return i


def _check_compatible(datasets, target: int, image_keys) -> bool:
  """Image fields agree with the target's; the target stores every key, another source at least one (its
  missing views come as zeros, marked absent). Returns whether any source misses a view."""
  ref = datasets[target]
  missing = False
  for i, d in enumerate(datasets):
    have = [k for k in image_keys if k in d.meta['frame_fields']]
    if (i == target and len(have) < len(image_keys)) or (image_keys and not have):
      k = next(k for k in image_keys if k not in d.meta['frame_fields'])
      raise DatasetError(f'{d.path}: field "{k}" is not stored (has {list(d.meta["frame_fields"])}); '
                         + ('the target must store every view read' if i == target else
                            'a source must store at least one of the views read'))
    missing = missing or len(have) < len(image_keys)
    for k in have:
      if d.meta['frame_fields'][k] != ref.meta['frame_fields'][k]:
        raise DatasetError(f'{d.path}: field "{k}" is {d.meta["frame_fields"][k]}, the target has '
                           f'{ref.meta["frame_fields"][k]}')
    for k in SHARED_KEYS:
      if d.meta['lowdim_fields'][k]['dim'] != ref.meta['lowdim_fields'][k]['dim']:
        raise DatasetError(f'{d.path}: field "{k}" has dim {d.meta["lowdim_fields"][k]["dim"]}, the target '
                           f'has {ref.meta["lowdim_fields"][k]["dim"]} (same task and arm count needed)')
  return missing


def paired_steps(steps, gap: int, last: int):
  """The frame each transition's first frame pairs with: `gap` steps on (LAPA's frame gap; 1 for the other
  learners), held at the episode's `last` step. Training, relabelling and latent replay pair alike."""
  return np.minimum(np.asarray(steps) + gap, last)


class _Loader:
  """Reads one transition of one source into the common element structure (runs in Grain workers)."""

  def __init__(self, ds: Dataset, index: int, is_target: bool, target_meta: dict, norm: Normalizer,
               config: PipelineConfig, labels: np.ndarray | None, mark_views: bool = False):
    self.ds, self.index, self.is_target, self.norm, self.config = ds, index, is_target, norm, config
    stored = ds.meta['frame_fields']
    self.present = np.array([k in stored for k in config.image_keys])
    self.blank = {k: np.zeros(s['shape'], s['dtype']) for k, s in target_meta['frame_fields'].items()
                  if k in config.image_keys and k not in stored}
    self.mark_views = mark_views
    lf = target_meta['lowdim_fields']
    self.proprio_dim = lf['joint_pos']['dim'] + lf['gripper']['dim']
    self.action_dim = lf['action']['dim']
    self.num_arms = target_meta['num_arms']
    self.labels = labels

  def _images(self, ep: int, t: int) -> dict:
    """The image keys at step t; a view the source does not store is zeros."""
    frame = self.ds.frame(ep, t)
    return {k: frame[k] if k in frame else self.blank[k] for k in self.config.image_keys}

  def _obs(self, ep: int, t: int) -> dict:
    e = self.ds.episodes[ep]
    obs = self._images(ep, t)
    if self.mark_views:
      obs[VIEW_MASK] = self.present
    for k in SHARED_KEYS:
      obs[k] = self.norm.normalize(k, e[k][t]).astype(np.float32)
    return obs

  def _proprio(self, ep: int, t: int) -> np.ndarray:
    if not self.is_target:
      return np.zeros(self.proprio_dim, np.float32)
    e = self.ds.episodes[ep]
    return np.concatenate([self.norm.normalize(k, e[k][t]) for k in ('joint_pos', 'gripper')]).astype(np.float32)

  def _actions(self, ep: int, steps: np.ndarray) -> np.ndarray:
    e = self.ds.episodes[ep]
    fields = {k: e[k][steps] for k in ('action', 'joint_target') if k in e}
    return action_space.learning_actions(self.config.action_space, fields, self.num_arms, self.norm)

  def __call__(self, row) -> dict:
    ep, t = int(row[0]), int(row[1])
    out = {'obs': self._obs(ep, t), 'proprio': self._proprio(ep, t), 'is_target': np.bool_(self.is_target),
           'source': np.int32(self.index), 'episode': np.int32(ep), 'step': np.int32(t)}   # ids, for errors
    if self.config.stage == 1:
      nxt = int(paired_steps(t, self.config.frame_gap, int(self.ds.lengths[ep]) - 1))
      out['next_obs'] = self._obs(ep, nxt)
      out['next_proprio'] = self._proprio(ep, nxt)
      out['action'] = (self._actions(ep, np.array([t]))[0] if self.is_target
                       else np.zeros(self.action_dim, np.float32))
      return out
    last = int(self.ds.lengths[ep]) - 2            # last transition of the episode
    steps = t + np.arange(self.config.horizon)
    out['chunk_mask'] = steps <= last
    steps = np.minimum(steps, last)
    out['actions'] = (self._actions(ep, steps) if self.is_target
                      else np.zeros((self.config.horizon, self.action_dim), np.float32))
    if self.labels is not None:
      out['latents'] = self.labels[self.ds.offsets[ep] + steps].astype(np.float32)
    if self.config.future_frames:
      n = self.config.future_frames
      k = 0
      if self.config.future_start == 'random':
        k = int(np.random.default_rng((self.config.seed, self.index, ep, t)).integers(0, self.config.horizon - n + 1))
      ahead = t + k + np.arange(n + 1)                 # the start frame, then the n frames it predicts
      out['future_mask'] = ahead[1:] <= last + 1
      out['future_offset'] = np.int32(k)
      frames = [self._images(ep, int(s)) for s in np.minimum(ahead, last + 1)]
      stacked = {key: np.stack([f[key] for f in frames]) for key in self.config.image_keys}
      out['future_start'] = {key: v[0] for key, v in stacked.items()}
      out['future'] = {key: v[1:] for key, v in stacked.items()}
    return out


def make_dataset(config: PipelineConfig, labels: dict | None = None, process_index: int | None = None,
                 process_count: int | None = None) -> tuple[grain.MapDataset, dict]:
  """The batched, mixed MapDataset for this process, and a description (datasets, target, lengths).

  `labels` maps a source path to per-step latent labels (num_steps, d) aligned with the dataset's steps;
  without it, stage 2 reads them from `config.label_dir` when that is set.
  """
  if not config.sources:
    raise ValueError('the pipeline needs at least one source')
  if config.stage not in (1, 2):
    raise ValueError(f'stage must be 1 or 2, got {config.stage}')
  if config.future_start not in ('first', 'random'):
    raise ValueError(f"future_start {config.future_start!r}; valid: first, random")
  if config.future_frames > config.horizon:
    raise ValueError(f'future_frames ({config.future_frames}) must not exceed the horizon ({config.horizon})')
  process_index = jax.process_index() if process_index is None else process_index
  process_count = jax.process_count() if process_count is None else process_count
  if config.batch_size % process_count:
    raise ValueError(f'batch_size {config.batch_size} is not divisible by {process_count} processes')
  weights = [float(s.weight) for s in config.sources]
  if any(w < 0 for w in weights) or sum(weights) <= 0:
    raise ValueError(f'source weights must be non-negative with a positive sum, got {weights}')
  datasets = [Dataset(s.path) for s in config.sources]
  target = _pick_target(datasets, config.sources)
  # a source recorded at its own rate is read at the target's: a transition and H count target steps
  datasets = [at_rate(d, float(datasets[target].meta['ctrl_dt'])) for d in datasets]
  mark_views = _check_compatible(datasets, target, config.image_keys)
  tmeta = datasets[target].meta
  if action_space.check(config.action_space) == 'joint_target' and 'joint_target' not in tmeta['lowdim_fields']:
    raise DatasetError(f'{datasets[target].path}: no "joint_target" field, which action_space="joint_target" '
                       'needs; regenerate the data (tools/generate_demos.py) or use action_space="delta"')
  keys = NORM_KEYS if config.normalize else ()
  norm = Normalizer(datasets[target].stats, keys)
  if labels is None and config.label_dir:
    labels = {}
    for src in config.sources:
      f = os.path.join(config.label_dir, os.path.basename(os.path.normpath(src.path)) + '.npy')
      if not os.path.exists(f):
        raise DatasetError(f'{f}: missing latent labels for {src.path} (relabel with the world model first)')
      labels[os.path.abspath(src.path)] = np.load(f)
  labels = labels or {}
  parts, used, sizes = [], [], []
  for i, (src, ds) in enumerate(zip(config.sources, datasets)):
    if src.weight == 0:
      continue
    table = transition_table(ds, _episodes(ds, config.eval_episodes, config.split))
    lab = labels.get(ds.path, labels.get(src.path))
    if lab is not None and len(lab) != ds.meta['num_steps']:
      raise DatasetError(f'{src.path}: labels have {len(lab)} rows, the dataset has {ds.meta["num_steps"]} steps')
    if config.stage == 2 and labels and lab is None:
      raise ValueError(f'labels given for some sources but not for {src.path}')
    loader = _Loader(ds, i, i == target, tmeta, norm, config, lab, mark_views)
    part = grain.MapDataset.source(table).shuffle(seed=config.seed + 7919 * i).repeat().map(loader)
    parts.append(part)
    used.append(src.weight)
    sizes.append(len(table))
  mixed = grain.MapDataset.mix(parts, used) if len(parts) > 1 else parts[0]
  # Process p's k-th batch is rows p*b .. (p+1)*b - 1 of the one-process k-th batch (b = batch/processes):
  # the global batch is the same, in the same order, whatever the process count (per-row random draws too).
  batched = mixed.batch(config.batch_size // process_count, drop_remainder=True)[process_index::process_count]
  info = {'datasets': datasets, 'target': target, 'transitions': sizes,
          'action_dim': tmeta['action_dim'], 'proprio_dim': tmeta['lowdim_fields']['joint_pos']['dim']
          + tmeta['lowdim_fields']['gripper']['dim'], 'normalizer': norm}
  return batched, info


def held_out_iterator(dataset: grain.MapDataset, num_batches: int):
  """A fresh iterator from the dataset's first batch that reads ahead no more than the `num_batches` an
  evaluation takes. Grain's default read-ahead (500 batches on 16 threads) decoded hundreds of batches per
  evaluation that were never used, and starved training and tracing of the CPU meanwhile (a 6-step stacked
  test run: 44 s, of which 21 s in its first evaluation)."""
  return iter(dataset.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=max(1, num_batches))))


def make_iterator(dataset: grain.MapDataset, config: PipelineConfig):
  """A checkpointable iterator (`get_state`/`set_state`), with `config.num_workers` prefetch processes that
  end by themselves when this process dies (`parent_watch`)."""
  it = dataset.to_iter_dataset(grain.ReadOptions(num_threads=max(1, config.prefetch),
                                                 prefetch_buffer_size=config.prefetch))
  if config.num_workers > 0:
    if not flags.FLAGS.is_parsed():      # Grain workers read absl flags; libraries and tests run without app.run
      flags.FLAGS.mark_as_parsed()
    it = it.mp_prefetch(grain.MultiprocessingOptions(num_workers=config.num_workers,
                                                     per_worker_buffer_size=config.prefetch),
                        worker_init_fn=parent_watch.grain_worker_init(os.getpid()))
  return iter(it)
