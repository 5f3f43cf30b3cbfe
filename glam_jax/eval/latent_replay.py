"""Cross-source latent replay: the paper's mechanism check, as numbers.

An unseen scripted episode of any source (UMI, Kinova, second arm) is encoded with the frozen IDM
(posterior mean of each transition), the latents are decoded into Kinova actions by the action decoder
(trained on target data only), and the actions are replayed open loop on the Kinova in MJX, from the same
object placement (the same reset key) and the same home TCP pose every embodiment starts from. Reported per
source: replay success rate (with a 95 % Wilson interval) and end-effector tracking error, the distance
between the replayed TCP and the source's TCP after the same number of steps.

Actions are decoded in the world model's action space (`data/action_space.py`) and turned into env actions
step by step. After the source episode ends, the replay holds: the last joint targets and gripper command.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from glam_jax.data import action_space
from glam_jax.data.stats import Normalizer
from glam_jax.demos import collect
from glam_jax.models.world_model import WorldModel
from glam_jax.sim import camera, make_env
from glam_jax.train import sharding

REPLAY_VIEW = 'overhead/rgb'


@dataclasses.dataclass(frozen=True)
class ReplayConfig:
  sources: tuple = ('umi', 'kinova', 'ur5e')
  episodes: int = 50             # successful source episodes replayed per source
  seed: int = 10_007             # distinct from the dataset seeds: these episodes are unseen
  batch: int = 50                # scripted attempts per compiled call
  render_chunk: int = 256
  max_batches: int = 20


def source_episodes(task: str, source: str, cfg: ReplayConfig, views, image_size: int) -> dict:
  """`cfg.episodes` successful scripted episodes of `source` with their reset keys and rendered frames.

  Returns keys (N, 2), lengths (N,), ee_pose/gripper (N, T, .) padded with the last step, images
  {key: (N, T, ...)} padded likewise.
  """
  env = make_env(task, source, render=False)
  rig = camera.make_rig(env.mj_model, views, image_size, image_size, env.mask_geoms)
  mesh = sharding.make_mesh()
  shard = sharding.batch_sharding(mesh)
  batch = -(-cfg.batch // mesh.size) * mesh.size
  chunk = -(-cfg.render_chunk // mesh.size) * mesh.size
  run, render = collect.make_collector(env), collect.make_renderer(rig)
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
  frames = collect.render_frames(lambda p, r: render(jax.device_put(p, shard), jax.device_put(r, shard)),
                                 np.concatenate([e['geom_xpos'] for e in eps]),
                                 np.concatenate([e['geom_xmat'] for e in eps]), chunk, image_keys)
  horizon = env.episode_length
  lengths = np.array([len(e['ee_pose']) for e in eps])
  pad = lambda x: np.concatenate([x, np.repeat(x[-1:], horizon - len(x), 0)])
  starts = np.concatenate([[0], np.cumsum(lengths)])
  return {'keys': np.stack(keys), 'lengths': lengths,
          'ee_pose': np.stack([pad(e['ee_pose']) for e in eps]),
          'gripper': np.stack([pad(e['gripper']) for e in eps]),
          'images': {k: np.stack([pad(v[s:s + n]) for s, n in zip(starts, lengths)]) for k, v in frames.items()}}


def make_latent_decoder(learner, params, normalizer: Normalizer):
  """jit fn(images {key: (T, ...)}, ee_pose (T, 9A), gripper (T, A)) -> Kinova actions (T-1, action_dim)
  in the world model's action space, decoded from the IDM's posterior mean of each transition."""
  def decode(images, ee_pose, gripper):
    obs = {**images, 'ee_pose': normalizer.normalize('ee_pose', ee_pose),
           'gripper': normalizer.normalize('gripper', gripper)}
    mean = learner.idm_mean(params, jax.tree.map(lambda x: x[:-1], obs), jax.tree.map(lambda x: x[1:], obs))
    return learner.model.apply({'params': params}, mean, method=WorldModel.decode_action)

  return jax.jit(decode)


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
    k_reset, _ = jax.random.split(key)          # the collector's split: the same placement as the source
    s = env.reset(k_reset)

    def rec(s):
      idx = env.arm_index[0]
      return s.data.site_xpos[idx.tcp_site], s.info['success'], s.data.geom_xpos, s.data.geom_xmat

    def body(s, a):
      s = env.step(s, convert(s, a))
      return s, rec(s)

    _, out = jax.lax.scan(body, s, actions)
    return jax.tree.map(lambda first, rest: jnp.concatenate([first[None], rest]), rec(s), out)

  return jax.jit(jax.vmap(one))


def tracking_error(replay_tcp: np.ndarray, source_ee: np.ndarray, lengths: np.ndarray) -> np.ndarray:
  """Per episode: mean distance (m) between replayed and source TCP positions over steps 1 .. length-1."""
  err = np.linalg.norm(replay_tcp[..., :3] - source_ee[..., :3], axis=-1)
  return np.array([err[i, 1:n].mean() for i, n in enumerate(lengths)])
