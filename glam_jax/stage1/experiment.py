"""From a world-model config to what the training loop runs, and back from a finished workdir.

`build(config)` opens the task's datasets (`<data_dir>/<task>/<source>/`) to read the dimensions, and
returns the learner with the train and held-out pipeline configs. `load(workdir)` rebuilds the same model
from the run's saved `config.json` and restores its latest parameters, for the tools that use a frozen
world model (latent replay, relabelling).
"""
from __future__ import annotations

import dataclasses
import json
import os

import ml_collections

from glam_jax.data import action_space, pipeline
from glam_jax.data.reader import Dataset
from glam_jax.models import inputs
from glam_jax.models.world_model import WorldModelConfig
from glam_jax.stage1.glam import GlamLearner, LossConfig
from glam_jax.train import loop


def source_path(config, source: str) -> str:
  return os.path.join(config.data_dir, config.task, source)


def pipeline_configs(config, stage: int = 1) -> tuple[pipeline.PipelineConfig, pipeline.PipelineConfig]:
  """(train, held-out) pipeline configs over the config's weighted sources."""
  if config.target not in config.sources:
    raise ValueError(f'the target source {config.target!r} is not among the sources {list(config.sources)}')
  sources = tuple(pipeline.Source(source_path(config, name), float(w), target=name == config.target)
                  for name, w in config.sources.items())
  train = pipeline.PipelineConfig(
      sources=sources, image_keys=tuple(config.image_keys), batch_size=config.batch_size, stage=stage,
      seed=config.seed, eval_episodes=config.eval_episodes, split='train', num_workers=config.num_workers,
      prefetch=config.prefetch, action_space=action_space.of(config))
  held_out = dataclasses.replace(train, split='eval', num_workers=0, seed=config.seed + 1)
  return train, held_out


def model_config(config, target: Dataset) -> WorldModelConfig:
  frames, low = target.meta['frame_fields'], target.meta['lowdim_fields']
  for k in config.image_keys:
    if k not in frames:
      raise ValueError(f'{target.path}: image key {k!r} is not stored (has {sorted(frames)})')
  h, w = frames[config.image_keys[0]]['shape'][:2]
  return WorldModelConfig(
      image_shape=(h, w, inputs.image_channels(config.image_keys)),
      ee_dim=inputs.ee_dim(low['ee_pose']['dim'], low['gripper']['dim'], config.get('ee_tilt', True)),
      proprio_dim=low['joint_pos']['dim'] + low['gripper']['dim'], action_dim=low['action']['dim'],
      **{k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in config.model.items()})


def build(config) -> tuple[GlamLearner, pipeline.PipelineConfig, pipeline.PipelineConfig]:
  train, held_out = pipeline_configs(config)
  target = Dataset(source_path(config, config.target))
  learner = GlamLearner(model_config(config, target), LossConfig(**config.loss), config.image_keys,
                        config.get('ee_tilt', True))
  return learner, train, held_out


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
