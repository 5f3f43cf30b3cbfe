"""Cross-source latent replay: the paper's mechanism check, as numbers.

An unseen scripted episode of any source (UMI, Kinova, second arm) is encoded with the frozen IDM
(posterior mean of each transition), the latents are decoded into Kinova actions by the action decoder
(trained on target data only), and the actions are replayed open loop on the Kinova in MJX, from the same
object placement (the same reset key) and the same home TCP pose every embodiment starts from. Reported per
source: replay success rate (with a 95 % Wilson interval) and end-effector tracking error, the distance
between the replayed TCP and the source's TCP after the same number of steps. Source episodes are made in
the source's style (`demos/heterogeneity.py`): the IDM reads the pose as the source records it, errors
included, and the tracking error is measured against the source's true TCP.

Actions are decoded in the world model's action space (`data/action_space.py`) and turned into env actions
step by step. After the source episode ends, the replay holds: the last joint targets and gripper command.
A learner whose decoder reads the target's proprioception (`reads_state`, LAPA's action probe) decodes each
latent inside the replay, from the replaying Kinova's own state at that step.
A replay succeeds as a closed-loop episode does (`closed_loop.episode_success`: the task predicate held at
some step of the replay). Works for any latent-action learner (`stage1.latent_action`): `encode`, then
`decode_action`.
"""
from __future__ import annotations

import dataclasses
import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from tqdm import tqdm

from glam_jax import opaque_scan, viz
from glam_jax.data import action_space, sources
from glam_jax.data.pipeline import NORM_KEYS, paired_steps
from glam_jax.data.reader import Dataset, resample_indices
from glam_jax.data.stats import Normalizer
from glam_jax.demos import collect, generate, heterogeneity
from glam_jax.eval import stats
from glam_jax.eval.closed_loop import episode_success
from glam_jax.sim import backends, camera, make_env, scene
from glam_jax.sim.env import EnvConfig
from glam_jax.stage1 import experiment as stage1
from glam_jax.stage2.latent_bc import normalize_env_obs
from glam_jax.train import sharding

REPLAY_VIEW = 'overhead/rgb'
ALL_VIEWS = ('overhead', 'front')   # rendered for every source episode (RGB and masks), besides what the model reads


@dataclasses.dataclass(frozen=True)
class ReplayConfig:
  sources: tuple = ('umi', 'kinova', 'ur5e')
  episodes: int = 50             # successful source episodes replayed per source
  seed: int = 10_007             # distinct from the dataset seeds: these episodes are unseen
  batch: int = 50                # scripted attempts per compiled call
  render_chunk: int = 256
  max_batches: int = 20
  backend: str = 'auto'          # physics of the source episodes and the replays (`sim.backends`); stored resolved
  heterogeneity: int = 0         # the sources' styles, as the data recipe's (`demos/heterogeneity.py`)
  source_style: str = ''

  def __post_init__(self):
    object.__setattr__(self, 'backend', backends.resolve(self.backend))

  def style(self, source: str) -> heterogeneity.Style:
    return heterogeneity.resolve(generate.SOURCES, self.heterogeneity, self.source_style)[source]


def source_episodes(task: str, source: str, cfg: ReplayConfig, views, image_size: int) -> dict:
  """`cfg.episodes` successful scripted episodes of `source` with their reset keys and rendered frames, made
  in the source's style (motion, appearance; the pose as the source records it, error included), re-timed
  to the target's control rate when the source records at its own.

  Returns keys (N, 2), lengths (N,), ee_pose (as recorded) / true_ee_pose / gripper (N, T, .) padded with
  the last step, images {key: (N, T, ...)} padded likewise.
  """
  style = cfg.style(source)
  env = generate.source_env(task, source, style, cfg.backend)
  rig = camera.make_rig(env.mj_model, views, image_size, image_size, env.mask_geoms, style.appearance)
  mesh = sharding.make_mesh(None if env.shard_batch else jax.devices()[:1])
  shard = sharding.batch_sharding(mesh)
  batch = -(-cfg.batch // mesh.size) * mesh.size
  chunk = -(-cfg.render_chunk // mesh.size) * mesh.size
  run, render = collect.make_collector(env, motion=style.motion), collect.make_renderer(rig)
  image_keys = [f'{v}/{k}' for v in views for k in ('rgb', 'mask')]
  keys, eps = [], []
  base = jax.random.PRNGKey(cfg.seed)
  for i in range(cfg.max_batches):
    if len(eps) >= cfg.episodes:
      break
    k = jax.random.split(jax.random.fold_in(base, i), batch)
    b = collect.to_batch(run(jax.device_put(k, shard)))
    for j in np.flatnonzero(b.success)[:cfg.episodes - len(eps)]:
      keys.append(np.asarray(k[j]))
      eps.append(b.episode(j))
  if len(eps) < cfg.episodes:
    raise RuntimeError(f'{task}/{source}: only {len(eps)} successful scripted episodes in {cfg.max_batches} '
                       f'batches of {batch}')
  # the pose as the source records it (at its own rate), then every episode re-timed to the target's rate
  for i, e in enumerate(eps):
    e['true_ee_pose'] = e['ee_pose']
    if style.pose.active:
      e['ee_pose'] = heterogeneity.recorded_pose(e['ee_pose'], style.pose, env.dt, np.random.default_rng([cfg.seed, i]))
  horizon = env.episode_length
  if abs(env.dt - EnvConfig.ctrl_dt) > 1e-9:
    eps = [{k: v[resample_indices(len(e['ee_pose']), env.dt, EnvConfig.ctrl_dt)] for k, v in e.items()} for e in eps]
    horizon = len(resample_indices(horizon, env.dt, EnvConfig.ctrl_dt))
  where = jax.devices()[0] if camera.native() else shard        # the C++ caster threads over every core itself
  frames = collect.render_frames(lambda p, r: render(jax.device_put(p, where), jax.device_put(r, where)),
                                 np.concatenate([e['geom_xpos'] for e in eps]),
                                 np.concatenate([e['geom_xmat'] for e in eps]), chunk, image_keys)
  lengths = np.array([len(e['ee_pose']) for e in eps])
  pad = lambda x: np.concatenate([x, np.repeat(x[-1:], horizon - len(x), 0)])
  starts = np.concatenate([[0], np.cumsum(lengths)])
  return {'keys': np.stack(keys), 'lengths': lengths,
          'ee_pose': np.stack([pad(e['ee_pose']) for e in eps]),
          'true_ee_pose': np.stack([pad(e['true_ee_pose']) for e in eps]),
          'gripper': np.stack([pad(e['gripper']) for e in eps]),
          'images': {k: np.stack([pad(v[s:s + n]) for s, n in zip(starts, lengths)]) for k, v in frames.items()}}


def cached_source_episodes(task: str, source: str, cfg: ReplayConfig, views, image_size: int,
                           cache_dir: str = '') -> dict:
  """`source_episodes`, kept in `cache_dir` (one .npz per task, source and settings) so that every method
  replays the same episodes without collecting and rendering them again; '' caches nothing."""
  if not cache_dir:
    return source_episodes(task, source, cfg, views, image_size)
  style = cfg.style(source)
  styled = '' if style == heterogeneity.DEFAULT else f'-style{heterogeneity.style_key(style)}'
  name = (f'{task}-{source}-seed{cfg.seed}-n{cfg.episodes}-{image_size}px-{"+".join(views)}-{cfg.backend}'
          f'-scene{scene.SCENE_VERSION}{styled}.npz')          # episodes of another scene are other episodes
  path = os.path.join(cache_dir, name)
  if os.path.exists(path):
    with np.load(path) as f:
      flat = dict(f)
    images = {k[len('images/'):]: v for k, v in flat.items() if k.startswith('images/')}
    return {**{k: v for k, v in flat.items() if not k.startswith('images/')}, 'images': images}
  eps = source_episodes(task, source, cfg, views, image_size)
  os.makedirs(cache_dir, exist_ok=True)
  tmp = path + '.incomplete.npz'
  np.savez(tmp, **{k: v for k, v in eps.items() if k != 'images'},
           **{f'images/{k}': v for k, v in eps['images'].items()})
  os.replace(tmp, path)
  return eps


def make_latent_encoder(learner, params, normalizer: Normalizer):
  """jit fn(images {key: (T, ...)}, ee_pose (T, 9A), gripper (T, A)) -> the learner's latents (T-1, d) of
  the episode's transitions (`encode`, e.g. the IDM's posterior mean; each transition's second frame
  `frame_gap` steps on, as the learner was trained)."""
  gap = learner.frame_gap

  def encode(images, ee_pose, gripper):
    obs = {**images, 'ee_pose': normalizer.normalize('ee_pose', ee_pose),
           'gripper': normalizer.normalize('gripper', gripper)}
    t = ee_pose.shape[0]
    nxt = paired_steps(np.arange(t - 1), gap, t - 1)
    return learner.encode(params, jax.tree.map(lambda x: x[:-1], obs), jax.tree.map(lambda x: x[nxt], obs))

  return jax.jit(encode)


def make_latent_decoder(learner, params, normalizer: Normalizer):
  """jit fn(images {key: (T, ...)}, ee_pose (T, 9A), gripper (T, A)) -> Kinova actions (T-1, action_dim)
  in the world model's action space, decoded from the learner's latent of each transition (a learner whose
  decoder reads no state)."""
  encode = make_latent_encoder(learner, params, normalizer)
  return jax.jit(lambda images, ee_pose, gripper: learner.decode_action(params, encode(images, ee_pose, gripper)))


def hold_after_end(actions: np.ndarray, lengths: np.ndarray, space: str, num_arms: int) -> np.ndarray:
  """Actions (N, T-1, A) valid for t < length-1; later steps hold the last joint targets (zero deltas, or
  the last absolute targets) and the last gripper command."""
  out = actions.copy()
  joints = action_space.joint_columns(actions.shape[-1], num_arms)
  for i, n in enumerate(lengths):
    out[i, n - 1:] = out[i, n - 2]
    if space == 'delta':
      out[i, n - 1:, joints] = 0.0
  return out


def make_replayer(env, convert):
  """jit(vmap) fn(keys (N, 2), actions (N, T-1, A)) -> TCP positions (N, T, 3), success (N, T),
  geom poses (N, T, G, 3) and (N, T, G, 9); step 0 is the reset state. `convert(state, action)` gives the
  env action (`action_space.env_converter`)."""

  def one(key, actions):
    def body(s, a):
      s = env.step(s, convert(s, a))
      return s, _record(env, s)

    return _replay_from_source_placement(env, key, body, lambda s: s, actions)

  return jax.jit(jax.vmap(one))


def _record(env, s):
  """What a replay keeps of each step: TCP position, task predicate, geometry poses (for pictures)."""
  idx = env.arm_index[0]
  return s.data.site_xpos[idx.tcp_site], s.info['success'], s.data.geom_xpos, s.data.geom_xmat


def _replay_from_source_placement(env, key, body, carry_of, inputs):
  """Resets as the collector did for `key` (its split: the same placement as the source episode), scans
  `body(carry, input) -> (carry, record)` from `carry_of(reset state)`, and prepends the reset's record."""
  k_reset, _ = jax.random.split(key)
  s = env.reset(k_reset)
  _, out = opaque_scan.scan(body, carry_of(s), inputs)
  return jax.tree.map(lambda first, rest: jnp.concatenate([first[None], rest]), _record(env, s), out)


def make_state_replayer(env, convert, learner, normalizer: Normalizer, space: str):
  """As `make_replayer`, for a learner whose decoder reads the robot's state: jit(vmap) fn(params, keys
  (N, 2), latents (N, T-1, d), lengths (N,)) decodes each step's action from the replaying Kinova's own
  proprioception (normalised as the training data) and, after the source episode's end, holds as
  `hold_after_end` does (the last action; zero joint deltas in the delta space)."""
  action_dim = learner.model_config.action_dim
  hold = np.ones(action_dim, np.float32)
  if space == 'delta':
    hold[action_space.joint_columns(action_dim, len(env.arms))] = 0.0

  def one(params, key, latents, length):
    def body(carry, step):
      s, last = carry
      t, z = step
      _, proprio = normalize_env_obs(s.obs, normalizer)
      live = t < length - 1
      a = jnp.where(live, learner.decode_action(params, z, proprio), last * hold)
      s = env.step(s, convert(s, a))
      return (s, jnp.where(live, a, last)), _record(env, s)

    return _replay_from_source_placement(env, key, body, lambda s: (s, jnp.zeros(action_dim, latents.dtype)),
                                         (jnp.arange(latents.shape[0]), latents))

  return jax.jit(jax.vmap(one, in_axes=(None, 0, 0, 0)))


def tracking_error(replay_tcp: np.ndarray, source_ee: np.ndarray, lengths: np.ndarray) -> np.ndarray:
  """Per episode: mean distance (m) between replayed and source TCP positions over steps 1 .. length-1."""
  err = np.linalg.norm(replay_tcp[..., :3] - source_ee[..., :3], axis=-1)
  return np.array([err[i, 1:n].mean() for i, n in enumerate(lengths)])


def run(workdir: str, cfg: ReplayConfig, out_dir: str = '', episodes_dir: str = '', picture_episodes: int = 2,
        picture_steps: int = 6, progress: bool = True, compiled: dict | None = None) -> dict:
  """Replays `cfg.episodes` unseen episodes per source through the world model of `workdir`; writes
  `<out_dir>/results.json` and `replay.png` (per source, source frames over the replayed Kinova's frames
  at the same steps; out_dir defaults to `<workdir>/latent_replay`) and returns the results. The source
  episodes are cached in `episodes_dir` when given (`cached_source_episodes`); `compiled`, a dict kept by
  the caller, holds the jitted replayer and renderer across calls (several methods' world models on the
  same data need them once)."""
  learner, params, config = stage1.load(workdir)
  out_dir = out_dir or os.path.join(workdir, 'latent_replay')
  os.makedirs(out_dir, exist_ok=True)
  normalizer = Normalizer(Dataset(sources.source_path(config, config.target)).stats, NORM_KEYS)
  space = action_space.of(config)
  image_size = learner.model_config.image_shape[0]
  view = REPLAY_VIEW.split('/')[0]
  # the pictures' view and the world model's (a wrist camera at heterogeneity levels >= 1)
  views = tuple(dict.fromkeys(ALL_VIEWS + tuple(k.rpartition('/')[0] for k in learner.image_keys)))
  env = backends.with_backend(make_env(config.task, config.target, render=False), cfg.backend)
  key = (config.task, config.target, space, sources.source_path(config, config.target), image_size, cfg.backend)
  compiled = {} if compiled is None else compiled
  if key not in compiled:
    compiled[key] = (make_replayer(env, action_space.env_converter(space, env, normalizer)), collect.make_renderer(
        camera.make_rig(env.mj_model, (view,), image_size, image_size, env.mask_geoms)))
  replay, render = compiled[key]
  if learner.reads_state:             # its own program: the decoder runs inside the replay
    state_key = key + ('state', learner.model_config)
    if state_key not in compiled:
      compiled[state_key] = make_state_replayer(env, action_space.env_converter(space, env, normalizer), learner,
                                                normalizer, space)
    encode = make_latent_encoder(learner, params, normalizer)
  else:
    decode = make_latent_decoder(learner, params, normalizer)
  results, picture_rows, labels = {}, [], []
  for source in tqdm(cfg.sources, desc='latent replay', disable=not progress):
    eps = cached_source_episodes(config.task, source, cfg, views, image_size, episodes_dir)
    recorded = heterogeneity.recorded_views(cfg.style(source), ALL_VIEWS, config.task)
    model_images = {k: v if k.rpartition('/')[0] in recorded else np.zeros_like(v)    # what the source records
                    for k, v in eps['images'].items() if k in learner.image_keys}
    n = len(eps['lengths'])
    episode = lambda fn, i: np.asarray(fn({k: model_images[k][i] for k in learner.image_keys},
                                          eps['ee_pose'][i], eps['gripper'][i]))
    if learner.reads_state:
      latents = np.stack([episode(encode, i) for i in range(n)])
      out = compiled[state_key](params, eps['keys'], latents, eps['lengths'])
    else:
      actions = hold_after_end(np.stack([episode(decode, i) for i in range(n)]), eps['lengths'], space,
                               len(env.arms))
      out = replay(eps['keys'], actions)
    tcp, success, gpos, gmat = jax.device_get(out)
    ok = episode_success(success)
    err = tracking_error(tcp, eps.get('true_ee_pose', eps['ee_pose']), eps['lengths'])
    results[f'{source}->{config.target}'] = {
        **stats.rate_summary(int(ok.sum()), n), 'tracking_error_m': float(err.mean()),
        'tracking_error_median_m': float(np.median(err)), 'source_length_mean': float(eps['lengths'].mean())}
    for i in range(min(picture_episodes, n)):
      steps = np.linspace(0, eps['lengths'][i] - 1, picture_steps).astype(int)
      replayed = jax.device_get(render(gpos[i, steps], gmat[i, steps]))[REPLAY_VIEW]
      picture_rows += [[eps['images'][REPLAY_VIEW][i, t] for t in steps], list(replayed)]
      labels += [f'{source} #{i}', f'-> {config.target} {"ok" if ok[i] else "fail"}']
  out = {'workdir': os.path.abspath(workdir), 'task': config.task, 'method': config.get('method', 'glam'),
         'learner': config.get('learner', 'glam'), 'loss': dict(config.loss), 'action_space': space,
         'image_keys': list(learner.image_keys), 'seed': cfg.seed, 'success': 'task predicate at any step',
         'results': results}
  with open(os.path.join(out_dir, 'results.json'), 'w') as f:
    json.dump(out, f, indent=1)
  viz.save_png(os.path.join(out_dir, 'replay.png'), viz.grid(picture_rows, scale=3, labels=labels))
  return out
