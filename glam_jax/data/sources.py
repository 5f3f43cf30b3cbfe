"""A run config's data: where each source's dataset lives and the weighted mixtures every trained model
reads (`<data_dir>/<task>/<source>/`, the target marked), shared by stage 1, stage 2 and the tools."""
from __future__ import annotations

import dataclasses
import os

from glam_jax.data import action_space, pipeline


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
