"""Generates a dataset of successful scripted episodes for one (task, source): batches of attempts in MJX (or
native MuJoCo: `backend`), failures dropped and counted, kept steps rendered and written atomically.

What a source stores follows what the real data would have: the target arm and the second arm store their
joint positions and their own actions; the hand-held UMI stores images, end-effector pose and gripper
opening only. Every source also stores two fields of the simulator's truth that no model reads: `phase`,
the scripted phase of each step, and, where the source's style puts error on the recorded pose,
`true_ee_pose` (the alignment probe's truth, `eval/alignment.py`).

A source's style (`heterogeneity.Style`: motion, pose error, appearance) is part of the dataset's identity:
it is written to meta.json, and `dataset_complete` accepts a dataset only when it matches.
"""
from __future__ import annotations

import dataclasses
import os
import time

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from tqdm import tqdm

from glam_jax.data.schema import DatasetError
from glam_jax.data.writer import DatasetWriter
from glam_jax.demos import collect, heterogeneity
from glam_jax.sim import backends, camera, make_env, scene

SOURCES = {'kinova': True, 'umi': False, 'ur5e': True}     # source -> stores actions (labels)
MIN_SCRIPTED_SUCCESS = 0.9     # heterogeneity levels >= 1: a source's demonstrator must succeed this often


@dataclasses.dataclass(frozen=True)
class GenerateConfig:
  task: str
  source: str
  episodes: int
  out: str
  seed: int = 0
  image_size: int = 64
  views: tuple = ('overhead', 'front')
  depth: bool = False              # also store z-depth images (float32; large)
  batch: int = 64                  # attempts per compiled call
  render_chunk: int = 256          # frames per compiled render call
  min_success_rate: float = 0.5    # give up when attempts outrun this rate
  overwrite: bool = False
  progress: bool = True
  backend: str = 'auto'            # physics (`sim.backends`): mjx, native or auto (native on the CPU); stored resolved
  style: heterogeneity.Style = heterogeneity.DEFAULT    # how this source's recording differs from the target's
  level: int = 0                   # the heterogeneity level `style` came from (a label in meta.json)

  def __post_init__(self):
    object.__setattr__(self, 'backend', backends.resolve(self.backend))     # a dataset's key names its engine


def source_seed(seed: int, source: str) -> int:
  """Distinct seeds per source of a recipe, so sources do not share object placements."""
  return 100 * seed + list(SOURCES).index(source)


def check_source(source: str) -> None:
  if source not in SOURCES:
    raise ValueError(f'unknown source {source!r}; valid sources: {", ".join(SOURCES)}')


def source_env(task: str, source: str, style: heterogeneity.Style = heterogeneity.DEFAULT, backend: str = 'auto'):
  """The environment (no rendering) a source's demonstrations are collected in: stepped at its recording's
  control rate, its episode limit (the task's, in seconds) stretched by its motion style's `length_scale`."""
  env = make_env(task, source, render=False)
  dt, scale = style.recording.control_dt, style.motion.length_scale
  if dt or scale != 1:
    seconds = env.episode_length * env.dt * scale
    dt = dt or env.dt
    env = make_env(task, source, render=False, ctrl_dt=dt, episode_length=int(round(seconds / dt)))
  return backends.with_backend(env, backend)


def stored_views(cfg: GenerateConfig) -> tuple:
  """The cameras the dataset stores: the source style's views, or else the config's (`wrist` expanded)."""
  return heterogeneity.recorded_views(cfg.style, cfg.views, cfg.task)


def _mesh_batch(batch: int) -> tuple[Mesh, int]:
  devices = np.array(jax.devices())
  batch = -(-batch // len(devices)) * len(devices)       # a multiple of the device count
  return Mesh(devices, ('data',)), batch


def generate(cfg: GenerateConfig) -> dict:
  """Writes `cfg.out` and returns its meta (with timing and success figures)."""
  check_source(cfg.source)
  if cfg.episodes < 1:
    raise ValueError(f'episodes must be positive, got {cfg.episodes}')
  heterogeneity.check_style(cfg.style, f'{cfg.task}/{cfg.source}')
  t_start = time.time()
  style = cfg.style
  env = source_env(cfg.task, cfg.source, style, cfg.backend)
  views = stored_views(cfg)
  rig = camera.make_rig(env.mj_model, views, cfg.image_size, cfg.image_size, env.mask_geoms, style.appearance)
  mesh, batch = _mesh_batch(cfg.batch)
  shard = NamedSharding(mesh, PartitionSpec('data'))
  # native physics gathers a sharded batch onto one device every step: start it there; rendering is sharded
  # for the JAX ray caster, and on one device for the C++ one (its own threads use every core)
  attempt_shard = shard if env.shard_batch else jax.devices()[0]
  render_shard = jax.devices()[0] if camera.native() else shard
  render_chunk = -(-cfg.render_chunk // mesh.size) * mesh.size
  run = collect.make_collector(env, motion=style.motion)
  render = collect.make_renderer(rig)
  image_keys = [f'{v}/{k}' for v in views for k in (('rgb', 'mask', 'depth') if cfg.depth else ('rgb', 'mask'))]
  size = (cfg.image_size, cfg.image_size)
  frame_fields = {k: {'shape': size + ((3,) if k.endswith('rgb') else ()),
                      'dtype': 'float32' if k.endswith('depth') else 'uint8'} for k in image_keys}
  has_actions, has_proprio = SOURCES[cfg.source], all(a.has_proprio for a in env.arms)
  num_arms = len(env.arms)
  lowdim = {'ee_pose': 9 * num_arms, 'gripper': num_arms, 'phase': 1}
  if style.pose.active:
    lowdim['true_ee_pose'] = 9 * num_arms
  if has_proprio:
    lowdim['joint_pos'] = sum(len(a.joints) for a in env.arms)
  if has_actions:
    lowdim['action'] = env.action_size
    if has_proprio:          # absolute form of the actions (data/action_space.py)
      lowdim['joint_target'] = lowdim['joint_pos']
  lowdim_fields = {k: {'dim': d, 'dtype': 'float32'} for k, d in lowdim.items()}

  attempts = kept = successes = 0
  # at a heterogeneity level, a demonstrator below MIN_SCRIPTED_SUCCESS would keep a selected, easier subset
  # of the placements: fail hard (one batch of slack)
  min_rate = max(cfg.min_success_rate, MIN_SCRIPTED_SUCCESS) if cfg.level > 0 else cfg.min_success_rate
  max_attempts = int(cfg.episodes / min_rate) + batch
  base = jax.random.PRNGKey(cfg.seed)
  bar = tqdm(total=cfg.episodes, desc=f'{cfg.task}/{cfg.source}', unit='ep', disable=not cfg.progress)
  with DatasetWriter(cfg.out, frame_fields, lowdim_fields, overwrite=cfg.overwrite) as writer:
    i = 0
    while kept < cfg.episodes:
      if attempts >= max_attempts:
        raise RuntimeError(f'{cfg.task}/{cfg.source}: only {kept} successes in {attempts} attempts '
                           f'(below {min_rate:.0%}); the scripted demonstrator is failing')
      keys = jax.device_put(jax.random.split(jax.random.fold_in(base, i), batch), attempt_shard)
      b = collect.to_batch(run(keys))
      i += 1
      attempts += batch
      successes += int(b.success.sum())
      good = np.flatnonzero(b.success)[:cfg.episodes - kept]
      if len(good) == 0:
        continue
      eps = [b.episode(j) for j in good]
      pos = np.concatenate([e['geom_xpos'] for e in eps])
      mat = np.concatenate([e['geom_xmat'] for e in eps])
      images = collect.render_frames(lambda p, r: render(jax.device_put(p, render_shard), jax.device_put(r, render_shard)),
                                     pos, mat, render_chunk, image_keys)
      start = 0
      for e in eps:
        n = len(e['ee_pose'])
        e['phase'] = e['phase'][:, None].astype(np.float32)
        if style.pose.active:       # an episode's error depends on the seed and its index only
          e['true_ee_pose'] = e['ee_pose']
          e['ee_pose'] = heterogeneity.recorded_pose(e['ee_pose'], style.pose, env.dt,
                                                     np.random.default_rng([cfg.seed, len(writer.lengths)]))
        writer.add_episode({k: e[k] for k in lowdim}, {k: v[start:start + n] for k, v in images.items()})
        start += n
      kept += len(eps)
      bar.update(len(eps))
      bar.set_postfix(success=f'{b.success.mean():.0%}')
    bar.close()
    # The success rate counts every attempt, including the whole batch that completed the dataset.
    meta = writer.close(
        task=cfg.task, source=cfg.source, embodiment=env.embodiment, num_arms=num_arms, has_actions=has_actions,
        has_proprio=has_proprio, action_dim=env.action_size if has_actions else 0,
        proprio_dim=(lowdim.get('joint_pos', 0) + num_arms) if has_proprio else 0, ctrl_dt=env.dt,
        image_size=cfg.image_size, views=list(views), seed=cfg.seed, backend=cfg.backend,
        heterogeneity_level=cfg.level, style=style.to_dict(), scene_version=scene.SCENE_VERSION,
        scripted_success_rate=successes / attempts, attempts=attempts,
        generation_seconds=round(time.time() - t_start, 1))
  return meta


def dataset_complete(path: str, cfg: GenerateConfig) -> bool:
  """True when `path` already holds a finished dataset made with the same settings (recipes skip it)."""
  from glam_jax.data.reader import read_meta
  try:
    meta = read_meta(path)
  except DatasetError:
    return False
  if meta['has_actions'] and meta['has_proprio'] and 'joint_target' not in meta['lowdim_fields']:
    return False            # written before joint targets were recorded
  return (meta['task'], meta['source'], meta['num_episodes'], meta['image_size'], meta['views'], meta['seed'],
          meta.get('backend', 'mjx'), meta.get('style', heterogeneity.DEFAULT.to_dict()),
          meta.get('scene_version', 1)) == (
              cfg.task, cfg.source, cfg.episodes, cfg.image_size, list(stored_views(cfg)), cfg.seed, cfg.backend,
              cfg.style.to_dict(), scene.SCENE_VERSION)


def recipe_configs(recipe, skip=(), batch: int = GenerateConfig.batch) -> dict:
  """{source: GenerateConfig} of a data recipe (experiments/configs/data.py), `out` unset; sources in
  `skip` (given as datasets by path) left out."""
  level = recipe.get('heterogeneity', 0)
  styles = heterogeneity.resolve(SOURCES, level, recipe.get('source_style', ''))
  return {source: GenerateConfig(task=recipe.task, source=source, episodes=n, out='',
                                 seed=source_seed(recipe.seed, source), image_size=recipe.image_size,
                                 views=tuple(recipe.views), depth=recipe.depth, batch=batch, backend=recipe.backend,
                                 style=styles[source], level=level)
          for source, n in recipe.episodes.items() if source not in skip}


def summary(meta: dict) -> str:
  """One line on a generated dataset: its size, the demonstrator's success and the time it took."""
  return (f'{meta["num_episodes"]} episodes, {meta["num_steps"]} steps; scripted success '
          f'{meta["scripted_success_rate"]:.1%} of {meta["attempts"]} attempts; {meta.get("generation_seconds", 0):.0f} s')


def generate_recipe(recipe, data_dir: str, overwrite: bool = False, batch: int = 64, log=print) -> dict:
  """Every source of a data recipe (experiments/configs/data.py) under `<data_dir>/<task>/<source>/`;
  sources already complete with the same settings are skipped. Returns {source: path}."""
  paths = {}
  for source, cfg in recipe_configs(recipe, batch=batch).items():
    out = os.path.join(data_dir, recipe.task, source)
    cfg = dataclasses.replace(cfg, out=out, overwrite=True)
    paths[source] = out
    if not overwrite and dataset_complete(out, cfg):
      log(f'{out}: complete, skipped')
      continue
    if os.path.exists(out):
      log(f'{out}: made with other settings or incomplete, regenerating')
    log(f'{out}: {summary(generate(cfg))}')
  return paths
