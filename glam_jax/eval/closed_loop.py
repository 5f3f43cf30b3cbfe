"""Closed-loop evaluation at scale: N environments vmapped and sharded over devices, in fixed-size chunks of
N, each episode a host loop of two compiled programs.

A controller (see `controllers`) has a replanning `period`: every `period` steps `plan` runs (for a
learned policy: render the views, infer an action chunk), and every step `act` emits one action (for a
policy: the next entry of its chunk). `plan` is one program and the `period` steps of `act` + physics are
another (an `opaque_scan`), called in turn from Python. Not one scan of plans around a scan of steps: XLA
CPU compiled the MJX step inside such nested loops into a program that grew past 8 GB of memory for
pick_place (see `opaque_scan`). The step program takes no policy parameters, so it is the same program for
every policy of an env and period, and the persistent compilation cache serves it to every method after
the first.

The physics is MJX or native MuJoCo (`evaluate(backend=...)`, `sim.backends`); native MuJoCo steps on the
host from inside the same two programs (a `pure_callback` per control step), so nothing here differs.

Trial i always resets from `fold_in(PRNGKey(seed), i)`, whatever the chunk size or device count, so two
methods evaluated with the same seed face the same N initial placements.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from glam_jax import opaque_scan
from glam_jax.sim import backends
from glam_jax.sim.env import Env, State
from glam_jax.train import sharding


class Controller(Protocol):
  period: int

  def init(self, params, state: State, rng: jax.Array) -> Any: ...
  def plan(self, params, carry, state: State, rng: jax.Array) -> Any: ...
  def act(self, carry, state: State, i: jax.Array) -> tuple[Any, jax.Array]: ...


class EpisodeFns(NamedTuple):
  """The compiled pieces of a batch of episodes (every array has a leading batch axis N):
  reset(params, keys (N, 2)) -> (state, carry, plan keys (N, num_plans, 2));
  plan(params, carry, state, keys (N, 2)) -> carry;
  steps(carry, state) -> (carry, state, records (N, period, ...))."""
  reset: Any
  plan: Any
  steps: Any
  num_plans: int


def make_episode_fns(env: Env, controller: Controller, num_steps: int) -> EpisodeFns:
  """Records per step: `action`, `success`, `tcp` (TCP positions, (A, 3)), `geom_xpos`, `geom_xmat` (for
  pictures). Step 0 is after the first action; the reset state is not recorded."""
  period = controller.period
  num_plans = -(-num_steps // period)

  def record(s: State, action):
    tcp = jnp.stack([s.data.site_xpos[idx.tcp_site] for idx in env.arm_index])
    return {'action': action, 'success': s.info['success'], 'tcp': tcp, 'geom_xpos': s.data.geom_xpos,
            'geom_xmat': s.data.geom_xmat}

  def reset(params, key):
    k_reset, k_ctrl = jax.random.split(key)
    state = env.reset(k_reset)
    k_init, k_plan = jax.random.split(k_ctrl)
    return state, controller.init(params, state, k_init), jax.random.split(k_plan, num_plans)

  def steps(carry, state):
    def step(c, i):
      s, carry = c
      carry, action = controller.act(carry, s, i)
      s = env.step(s, action)
      return (s, carry), record(s, action)

    (state, carry), rec = opaque_scan.scan(step, (state, carry), jnp.arange(period))
    return carry, state, rec

  return EpisodeFns(reset=jax.jit(jax.vmap(reset, in_axes=(None, 0))),
                    plan=jax.jit(jax.vmap(controller.plan, in_axes=(None, 0, 0, 0))),
                    steps=jax.jit(jax.vmap(steps), donate_argnums=(1,)), num_plans=num_plans)


def run_episodes(fns: EpisodeFns, params, keys: jax.Array, num_steps: int) -> dict:
  """One batch of episodes from reset keys (N, 2) -> records, each (N, num_steps, ...) on the device."""
  state, carry, plan_keys = fns.reset(params, keys)
  recs = []
  for p in range(fns.num_plans):
    carry = fns.plan(params, carry, state, plan_keys[:, p])
    carry, state, rec = fns.steps(carry, state)
    recs.append(rec)
  return jax.tree.map(lambda *xs: jnp.concatenate(xs, 1)[:, :num_steps], *recs)


def episode_success(success: np.ndarray) -> np.ndarray:
  """(N, T) per-step task predicate -> (N,) episode success: the predicate held at some step. The one
  definition closed-loop evaluation and latent replay share (a cube lifted and then dropped counts)."""
  return np.asarray(success).any(1)


def first_success(success: np.ndarray) -> np.ndarray:
  """(N, T) -> index of the first successful step per episode, -1 where none."""
  return np.where(success.any(1), success.argmax(1), -1)


def evaluate(env: Env, controller: Controller, params, trials: int, seed: int = 0, chunk: int = 64,
             num_steps: int | None = None, keep_frames: int = 0, progress: bool = True,
             backend: str = 'auto') -> dict:
  """Runs `trials` episodes in chunks; host arrays: `success` (N,) (ever succeeded), `first_success` (N,),
  `tcp` (N, T, A, 3), `action` (N, T, action_size), and the geometry poses of the first `keep_frames`
  episodes for pictures. `backend` is the physics (`sim.backends`; `auto`: native on the CPU, MJX elsewhere)."""
  if trials < 1:
    raise ValueError(f'trials must be positive, got {trials}')
  env = backends.with_backend(env, backend)
  num_steps = num_steps or env.episode_length
  mesh = sharding.make_mesh(None if env.shard_batch else jax.devices()[:1])
  # at least 2 episodes per device: with 1, compiling a smoke MIP policy's evaluation (XLA CPU, jax 0.6.2,
  # measured on the earlier single-program evaluation) grew past 7 GB of memory, with 2 it peaked at 0.8 GB;
  # the extra episodes are padding, discarded below
  per_device = max(2, -(-min(chunk, trials) // mesh.size))
  chunk = per_device * mesh.size
  fns = make_episode_fns(env, controller, num_steps)
  shard = sharding.batch_sharding(mesh)
  params = jax.device_put(params, sharding.replicated(mesh))
  base = jax.random.PRNGKey(seed)
  success, tcp, actions, frames = [], [], [], {'geom_xpos': [], 'geom_xmat': []}
  for start in tqdm(range(0, trials, chunk), desc=f'evaluate {env.task.name} x{trials}', unit='chunk',
                    disable=not progress):
    keys = jax.vmap(lambda i: jax.random.fold_in(base, i))(jnp.arange(start, start + chunk))
    rec = run_episodes(fns, params, jax.device_put(keys, shard), num_steps)
    n = min(chunk, trials - start)
    success.append(np.asarray(rec['success'][:n]))
    tcp.append(np.asarray(rec['tcp'][:n]))
    actions.append(np.asarray(rec['action'][:n]))
    keep = min(n, keep_frames - start)
    if keep > 0:
      for k in frames:
        frames[k].append(np.asarray(rec[k][:keep]))
  per_step = np.concatenate(success)
  out = {'success': episode_success(per_step), 'first_success': first_success(per_step), 'tcp': np.concatenate(tcp),
         'action': np.concatenate(actions), 'num_steps': num_steps}
  if keep_frames > 0:
    out.update({k: np.concatenate(v) for k, v in frames.items()})
  return out
