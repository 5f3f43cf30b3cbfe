"""A run config's data: where each source's dataset lives and the weighted mixtures every trained model
reads (`<data_dir>/<task>/<source>/`, the target marked), shared by stage 1, stage 2 and the tools."""
from __future__ import annotations

import dataclasses
import os

from glam_jax.data import action_space, pipeline, schema
from glam_jax.data.reader import read_meta


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


def check_existing(config, where: str, paths: dict | None = None) -> None:
  """The sources of `config` that already exist on disk (imported or generated before) hold what it reads:
  the target every image key (GLAM-O's masks), another source at least one, and the target actions and
  proprioception. Missing sources pass: the
  main job generates them with every field. `paths`: {source: path} where a source is read from before its
  link exists (the main job's datasets). Raises ValueError naming the dataset, the field and the fix."""
  for name in config.sources:
    path = (paths or {}).get(name) or source_path(config, name)
    if not os.path.exists(os.path.join(path, schema.META_FILE)):
      continue
    meta = read_meta(path)
    missing = [k for k in config.image_keys if k not in meta['frame_fields']]
    # another source may lack views (a UMI recording: its wrist camera only; the pipeline masks them)
    if missing and (name == config.target or len(missing) == len(config.image_keys)):
      raise ValueError(f'{where}: {path} has no {missing[0]!r} (it stores {sorted(meta["frame_fields"])}); '
                       f'this method reads {list(config.image_keys)}: import the data with masks '
                       '(tools/import_dataset.py --masks=...) or choose a method that reads RGB')
    if name == config.target and not (meta['has_actions'] and meta['has_proprio']):
      raise ValueError(f'{where}: the target {path} has no actions or no proprioception (has_actions='
                       f'{meta["has_actions"]}, has_proprio={meta["has_proprio"]}); the target needs both')
