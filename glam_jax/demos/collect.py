"""Batched scripted episodes: one jitted, vmapped scan (`opaque_scan`) of demonstrator + env, then rendering.

Physics runs without rendering and records each step's geometry poses; images are rendered afterwards only
for the steps that are kept (successful episodes, up to where the demonstrator finished), in one batched
call over frames. That skips the frames of failed attempts and of idle steps after the end, which is most
of the cost of rendering.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from glam_jax import opaque_scan
from glam_jax.demos.heterogeneity import Motion
from glam_jax.demos.scripted import ScriptedDemonstrator
from glam_jax.sim import camera
from glam_jax.sim.env import Env

LOWDIM_KEYS = ('ee_pose', 'gripper', 'joint_pos')


@dataclasses.dataclass
class Batch:
  """Host arrays of one batch of attempts, (B, T, ...) per step field."""
  steps: dict            # ee_pose, gripper, [joint_pos, joint_target], action, phase, geom_xpos, geom_xmat
  success: np.ndarray    # (B,) task success after the last kept step
  length: np.ndarray     # (B,) steps kept (the demonstrator finished after step length - 1)

  def episode(self, i: int) -> dict:
    return {k: v[i, :self.length[i]] for k, v in self.steps.items()}


def make_collector(env: Env, num_steps: int | None = None, motion: Motion = Motion()):
  """jit(vmap) fn(keys (B, 2)) -> recorded steps, each (B, T, ...); T = the task's episode length. Steps
  record the demonstrator's phase (`phase`: the scripted phase each step's action belongs to)."""
  demo = ScriptedDemonstrator(env, motion)
  num_steps = num_steps or env.episode_length

  def one(key):
    k_reset, k_plan = jax.random.split(key)
    state = env.reset(k_reset)
    d = demo.init(state, k_plan)

    def body(carry, _):
      s, d = carry
      phase = jnp.minimum(d.phase, d.plan.num_phases - 1)
      d, action = demo.act(d, s)
      rec = {k: s.obs[k] for k in LOWDIM_KEYS if k in s.obs}
      rec['phase'] = phase
      rec.update(action=action, geom_xpos=s.data.geom_xpos, geom_xmat=s.data.geom_xmat)
      s = env.step(s, action)
      if 'joint_target' in s.obs:
        rec['joint_target'] = s.obs['joint_target']     # the targets this step's action set
      rec.update(success=s.info['success'], finished=d.finished)
      return (s, d), rec

    _, rec = opaque_scan.scan(body, (state, d), length=num_steps)
    return rec

  return jax.jit(jax.vmap(one))


def to_batch(rec) -> Batch:
  rec = jax.device_get(rec)
  finished, success = np.asarray(rec.pop('finished')), np.asarray(rec.pop('success'))
  num_steps = finished.shape[1]
  length = np.where(finished.any(axis=1), finished.argmax(axis=1) + 1, num_steps)
  ok = success[np.arange(len(length)), length - 1]
  return Batch({k: np.asarray(v) for k, v in rec.items()}, ok, length)


def make_renderer(rig: camera.CameraRig):
  """jit(vmap) fn(geom_xpos (N, G, 3), geom_xmat (N, G, 3, 3)) -> images keyed `{view}/{rgb|depth|mask}`."""
  return jax.jit(jax.vmap(lambda p, r: camera.render(rig, p, r)))


def render_frames(render, geom_xpos: np.ndarray, geom_xmat: np.ndarray, chunk: int, keys) -> dict:
  """Renders N frames in fixed-size chunks (one compiled shape; the last chunk is padded)."""
  n = len(geom_xpos)
  out = {k: [] for k in keys}
  for start in range(0, n, chunk):
    pos, mat = geom_xpos[start:start + chunk], geom_xmat[start:start + chunk]
    pad = chunk - len(pos)
    if pad:
      pos = np.concatenate([pos, np.repeat(pos[-1:], pad, 0)])
      mat = np.concatenate([mat, np.repeat(mat[-1:], pad, 0)])
    images = jax.device_get(render(jnp.asarray(pos), jnp.asarray(mat)))
    for k in keys:
      out[k].append(np.asarray(images[k])[:chunk - pad])
  return {k: np.concatenate(v) for k, v in out.items()}


def tcp_speeds(batch: Batch, dt: float) -> dict:
  """TCP speed statistics (m/s) over the kept steps of the successful episodes, every arm: `mean`, `peak`
  (mean over episodes of each one's highest) and `still` (share of steps slower than 1 cm/s: pauses)."""
  means, peaks, still = [], [], []
  for i in np.flatnonzero(batch.success):
    ee = batch.steps['ee_pose'][i, :batch.length[i]]
    pos = ee.reshape(len(ee), -1, 9)[..., :3]
    v = np.linalg.norm(np.diff(pos, axis=0), axis=-1) / dt
    means.append(v.mean())
    peaks.append(v.max())
    still.append((v < 0.01).mean())
  if not means:
    return {'mean': float('nan'), 'peak': float('nan'), 'still': float('nan')}
  return {'mean': float(np.mean(means)), 'peak': float(np.mean(peaks)), 'still': float(np.mean(still))}
