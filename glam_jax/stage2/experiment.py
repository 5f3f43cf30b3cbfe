"""From a policy config to what the training loop runs, and back from a finished policy workdir.

`prepare(config, workdir)` relabels the sources with the frozen world model (latent methods; labels cached
with the world model, in `<world_model_dir>/labels/`, so every policy seed shares them), writes `<workdir>/policy.json` (network sizes, inputs, the target's normalisation
statistics: everything acting needs) and returns the learner with the train and held-out pipeline configs.
`load(workdir)` restores a trained policy for evaluation without opening any dataset.
"""
from __future__ import annotations

import dataclasses
import json
import os

import jax
import ml_collections
import numpy as np

from glam_jax.data import pipeline, sources
from glam_jax.data.reader import Dataset, at_rate
from glam_jax.data.stats import Normalizer
from glam_jax.models import inputs
from glam_jax.models.latent_action_models import FramePredictorConfig
from glam_jax.models.policy import PolicyConfig
from glam_jax.stage1 import experiment as stage1
from glam_jax.stage2 import latent_bc, lawm, relabel
from glam_jax.train import loop

SPEC_FILE = 'policy.json'
NORM_KEYS = pipeline.NORM_KEYS


def _check_world_model(config, wm_config) -> None:
  if wm_config.task != config.task:
    raise ValueError(f'the world model in {config.world_model_dir} was trained on {wm_config.task!r}, '
                     f'the policy is for {config.task!r}')
  if wm_config.get('method', config.method) != config.method:
    raise ValueError(f'the world model in {config.world_model_dir} is a {wm_config.method!r} model; the '
                     f'{config.method!r} policy needs its own (train one with world_model.py:TASK,{config.method})')
  missing = sorted(set(config.sources) - set(wm_config.sources))
  if missing:
    raise ValueError(f'sources {missing} were not seen by the world model in {config.world_model_dir} '
                     f'(it saw {sorted(wm_config.sources)})')


def relabel_sources(config, progress: bool = True) -> tuple[str, int]:
  """Relabels the policy config's sources with its frozen world model (cached with that model) ->
  (label directory, latent dimension)."""
  if not config.world_model_dir:
    raise ValueError(f'method {config.method} needs --config.world_model_dir (a trained world-model run)')
  wm, wm_params, wm_config = stage1.load(config.world_model_dir)
  _check_world_model(config, wm_config)
  datasets = {name: Dataset(sources.source_path(config, name)) for name in config.sources}
  dt = float(datasets[config.target].meta['ctrl_dt'])       # every source's labels at the target's rate
  datasets = {name: at_rate(ds, dt) for name, ds in datasets.items()}
  norm = Normalizer(datasets[config.target].stats, NORM_KEYS)
  label_dir = os.path.join(config.world_model_dir, 'labels')
  relabel.relabel(wm, wm_params, datasets, norm, label_dir, progress,
                  fingerprint=stage1.fingerprint(config.world_model_dir))
  return label_dir, wm.latent_dim


def prepare(config, workdir: str, progress: bool = True):
  """(learner, train pipeline config, held-out pipeline config); relabels first for latent methods."""
  label = config.label                    # what the method's policy regresses (experiments/configs/policy.py)
  if label not in latent_bc.LABELS:
    raise ValueError(f'label {label!r}; valid: {", ".join(latent_bc.LABELS)}')
  train, held_out = sources.pipeline_configs(config, stage=2)
  train, held_out = (dataclasses.replace(p, horizon=config.horizon) for p in (train, held_out))
  target = Dataset(sources.source_path(config, config.target))
  low = target.meta['lowdim_fields']
  ee_dim = inputs.ee_dim(low['ee_pose']['dim'], low['gripper']['dim'], config.ee_tilt)
  proprio_dim = low['joint_pos']['dim'] + low['gripper']['dim']
  h, w = target.meta['frame_fields'][config.image_keys[0]]['shape'][:2]
  extra = {}
  if label == 'latents':
    label_dir, latent_dim = relabel_sources(config, progress)
    train, held_out = (dataclasses.replace(p, label_dir=label_dir) for p in (train, held_out))
    output_dim, action_dim = latent_dim, low['action']['dim']
  elif label == 'frames':                 # LAWM pre-training: latents the frame predictor reads
    n = config.lawm.future_frames
    start = config.lawm.get('future_start', 'first')
    train, held_out = (dataclasses.replace(p, future_frames=n, future_start=start) for p in (train, held_out))
    output_dim, action_dim = config.lawm.latent_dim, 0
    frame_model = FramePredictorConfig(
        image_shape=(h, w, inputs.image_channels(config.image_keys)), latent_dim=output_dim,
        **{k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in config.lawm.model.items()})
    extra = {'frame_model': dataclasses.asdict(frame_model), 'future_frames': n}
  else:
    output_dim, action_dim = low['action']['dim'], 0
  policy = PolicyConfig(
      image_shape=(h, w, inputs.image_channels(config.image_keys[:1])), num_views=len(config.image_keys),
      state_dim=latent_bc.state_dim(config.state_input, ee_dim, proprio_dim), horizon=config.horizon,
      output_dim=output_dim, action_dim=action_dim,
      **{k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in config.model.items()})
  spec = {'task': config.task, 'method': config.method, 'image_keys': list(config.image_keys),
          'state_input': config.state_input, 'ee_tilt': config.ee_tilt, 'label': label,
          'action_weight': config.action_weight, 'loss': dict(config.get('loss', {})),
          'execute_steps': config.execute_steps,
          'action_space': train.action_space, 'policy': dataclasses.asdict(policy), 'proprio_dim': proprio_dim,
          'normalizer': {k: target.stats[k] for k in NORM_KEYS if k in target.stats},
          # what a robot-side process needs to feed the policy (glam_jax/serving): the target's control period
          # and how its images were made (square centre crop, bilinear resize: data/importers/common.py)
          'ctrl_dt': float(target.meta.get('ctrl_dt', 0.05)),
          'images': {'size': [h, w], 'dtype': 'uint8', 'preprocessing': 'centre square crop, bilinear resize'},
          **extra}
  os.makedirs(workdir, exist_ok=True)
  if jax.process_index() == 0:
    with open(os.path.join(workdir, SPEC_FILE), 'w') as f:
      json.dump(spec, f, indent=1)
  return _learner(spec), train, held_out


# what a policy.json written before these fields existed ran: a plain head without dropout
_EARLIER_HEAD = {'head_residual': False, 'head_dropout': 0.0}


def _learner(spec: dict):
  tuples = lambda d: {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
  policy = PolicyConfig(**{**_EARLIER_HEAD, **tuples(spec['policy'])})
  if spec['label'] == 'frames':
    return lawm.LawmPretrainLearner(policy, FramePredictorConfig(**tuples(spec['frame_model'])), spec['image_keys'],
                                    spec['state_input'], spec['future_frames'], spec.get('ee_tilt', True))
  return latent_bc.PolicyLearner(policy, spec['image_keys'], spec['state_input'], spec['label'],
                                 spec['action_weight'], spec.get('ee_tilt', True),
                                 latent_bc.PolicyLossConfig(**spec.get('loss', {})))


def example_batch(spec: dict, batch: int = 1) -> dict:
  """Zeros shaped like one stage-2 batch's inputs (for initialising or restoring without data)."""
  p = spec['policy']
  h, w, _ = p['image_shape']
  obs = {k: np.zeros((batch, h, w) + ((3,) if k.endswith('/rgb') else ()), np.uint8) for k in spec['image_keys']}
  for k in inputs.EE_KEYS:
    obs[k] = np.zeros((batch, len(spec['normalizer'][k]['mean'])), np.float32)
  return {'obs': obs, 'proprio': np.zeros((batch, spec['proprio_dim']), np.float32)}


def load(workdir: str):
  """(learner, params, spec, config) of the latest checkpoint of a policy run, on the current devices."""
  paths = [os.path.join(workdir, f) for f in (SPEC_FILE, 'config.json')]
  for path in paths:
    if not os.path.exists(path):
      raise FileNotFoundError(f'{path}: missing; {workdir} is not a policy run directory')
  with open(paths[0]) as f:
    spec = json.load(f)
  with open(paths[1]) as f:
    config = ml_collections.ConfigDict(json.load(f))
  learner = _learner(spec)
  return learner, loop.restore_params(workdir, learner, config, example_batch(spec)), spec, config


def normalizer(spec: dict) -> Normalizer:
  return Normalizer(spec['normalizer'], NORM_KEYS)

