"""Closed-loop evaluation with the policy called from the host: the simulator is jitted and batched as in
`closed_loop`, but each plan leaves the program and goes to a function `infer(observation batch) -> chunks`,
in this process (`serving.policy_api.LoadedPolicy.infer`) or on a policy server (`serving.client`). What a
robot-side process does, so the served path can be checked in simulation before it meets hardware.

The same placements (reset keys from `seed`) and the same `infer` give the same actions bit for bit
wherever `infer` runs on the same machine: observations cross as exact uint8 and float32 arrays. Against
the jitted evaluation (policy inside the program), success is compared, not bits: XLA fuses the two
programs differently.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from glam_jax.data import action_space
from glam_jax.eval.closed_loop import episode_success, first_success
from glam_jax.sim import backends, camera


def evaluate(env, infer, metadata: dict, trials: int, seed: int = 1000, num_steps: int | None = None,
             execute_steps: int = 0, backend: str = 'native') -> dict:
  """`trials` episodes in one batch; `metadata` is the policy's (`policy_api`), `infer` takes its observation
  keys with a leading batch axis and returns (B, H, action_dim) commands. Returns host arrays: `success`
  (N,), `first_success` (N,), `command` (N, T, action_dim) as the policy gave them, `action` (N, T,
  action_size) the env actions that executed them (as `closed_loop.evaluate` records them), `num_steps`."""
  if trials < 1:
    raise ValueError(f'trials must be positive, got {trials}')
  env = backends.with_backend(env, backend)
  num_steps = num_steps or env.episode_length
  period = execute_steps or metadata['execute_steps']
  if not 1 <= period <= metadata['horizon']:
    raise ValueError(f'execute_steps must be in [1, {metadata["horizon"]}], got {period}')
  keys = metadata['observation']
  views = tuple(dict.fromkeys(k.split('/')[0] for k in keys if '/' in k))
  size = metadata['images']['size']
  rig = camera.make_rig(env.mj_model, views, size[0], size[1], env.mask_geoms) if views else None
  convert = action_space.command_converter(metadata['action_space'], env)
  base = jax.random.PRNGKey(seed)
  reset = jax.jit(jax.vmap(env.reset))
  def step(s, command):
    action = convert(s, command)
    return env.step(s, action), action
  step = jax.jit(jax.vmap(step))

  def observe(state):
    obs = dict(state.obs)
    if rig is not None:
      obs.update(camera.render(rig, state.data.geom_xpos, state.data.geom_xmat))
    return {k: obs[k] for k in keys}
  observe = jax.jit(jax.vmap(observe))

  # the reset keys of closed_loop.evaluate: placement i is the same episode in both evaluations
  state = reset(jax.vmap(lambda i: jax.random.split(jax.random.fold_in(base, i))[0])(jnp.arange(trials)))
  success, commands, actions = [], [], []      # device arrays: the host waits only for each plan's observation
  for t in range(num_steps):
    if t % period == 0:
      obs = {k: np.asarray(v) for k, v in observe(state).items()}
      chunks = np.asarray(infer(obs), np.float32)
      if chunks.shape[:2] != (trials, metadata['horizon']):
        raise ValueError(f'infer returned shape {chunks.shape}; expected ({trials}, {metadata["horizon"]}, ...)')
    commands.append(chunks[:, t % period])
    state, action = step(state, jnp.asarray(commands[-1]))
    actions.append(action)
    success.append(state.info['success'])
  per_step = np.asarray(jnp.stack(success, 1))
  return {'success': episode_success(per_step), 'first_success': first_success(per_step),
          'command': np.stack(commands, 1), 'action': np.asarray(jnp.stack(actions, 1)), 'num_steps': num_steps}
