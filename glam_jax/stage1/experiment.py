"""From a world-model config to what the training loop runs, and back from a finished workdir.

`build(config)` opens the task's target dataset (`<data_dir>/<task>/<target>/`) to read the dimensions and
returns the config's latent-action learner (`config.learner`, a key of `LEARNERS`) with the train and
held-out pipeline configs. `load(workdir)` rebuilds the same learner from the run's saved `config.json` and
restores its latest parameters, for what uses a frozen world model (latent replay, relabelling).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import ml_collections

from glam_jax.data import pipeline, sources
from glam_jax.data.reader import Dataset
from glam_jax.stage1 import clam, glam, lapa
from glam_jax.train import loop

# learner name -> build(config, target Dataset) -> a `latent_action.LatentActionLearner`
LEARNERS = {'glam': glam.build, 'clam': clam.build, 'lapa': lapa.build}


def build(config):
  """(learner, train pipeline config, held-out pipeline config) of a world-model config."""
  name = config.get('learner', 'glam')           # runs saved before the registry were GLAM
  if name not in LEARNERS:
    raise ValueError(f'unknown learner {name!r}; valid: {", ".join(LEARNERS)}')
  train, held_out = sources.pipeline_configs(config)
  target = Dataset(sources.source_path(config, config.target))
  learner = LEARNERS[name](config, target)
  return learner, *(dataclasses.replace(p, frame_gap=learner.frame_gap) for p in (train, held_out))


def load(workdir: str):
  """(learner, params, config) of a trained world model: the latest checkpoint of `workdir`."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path}: missing; {workdir} is not a world-model run directory')
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  learner, train, _ = build(config)
  ds, _ = pipeline.make_dataset(dataclasses.replace(train, num_workers=0))
  return learner, loop.restore_params(workdir, learner, config, ds[0]), config


def fingerprint(workdir: str) -> str:
  """Names the trained model in `workdir`: a hash of its saved config and its latest checkpoint step, so
  what was derived from it (relabelled data) is recomputed when it is retrained."""
  with open(os.path.join(workdir, 'config.json'), 'rb') as f:
    digest = hashlib.sha256(f.read()).hexdigest()[:16]
  ckpt = os.path.join(workdir, 'checkpoints')
  steps = [int(d) for d in os.listdir(ckpt) if d.isdigit()] if os.path.isdir(ckpt) else []
  return f'{digest}@{max(steps, default=0)}'
