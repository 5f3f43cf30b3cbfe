"""What drives the robot in closed-loop evaluation (`closed_loop.Controller`): a trained chunk policy, the
scripted demonstrator (the evaluator's upper reference) and uniform random actions (its lower one)."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from glam_jax.data import action_space
from glam_jax.demos.scripted import ScriptedDemonstrator
from glam_jax.sim import camera
from glam_jax.sim.env import Env, State
from glam_jax.stage2.latent_bc import normalize_env_obs


class ChunkPolicyController:
  """A stage-2 policy with receding-horizon execution: every `execute_steps` steps it renders its camera
  views from the current state, predicts an H-step action chunk, and then executes the first
  `execute_steps` actions of it, each turned into an env action from the state it acts in
  (`data/action_space.py`: the policy may predict absolute joint targets). The chunk is de-standardised
  when planned, so acting needs no statistics of the policy's data."""

  def __init__(self, learner, env: Env, normalizer, execute_steps: int, space: str = 'delta'):
    horizon = learner.config.horizon
    if not 1 <= execute_steps <= horizon:
      raise ValueError(f'execute_steps must be in [1, {horizon}] (the chunk length), got {execute_steps}')
    h, w = learner.config.image_shape[:2]
    if h != w:
      raise ValueError(f'the policy was trained on {h}x{w} images; the cameras render square images')
    views = tuple(dict.fromkeys(k.split('/')[0] for k in learner.image_keys))
    self.learner, self.normalizer, self.period = learner, normalizer, execute_steps
    self.rig = camera.make_rig(env.mj_model, views, h, w, env.mask_geoms)
    self.action_size = env.action_size
    self.space, self.num_arms = space, len(env.arms)
    self.convert = action_space.command_converter(space, env)
    emitted = learner.config.action_dim or learner.config.output_dim    # decoded actions, or MIP's chunk
    if emitted != env.action_size:
      raise ValueError(f'the policy emits actions of size {emitted}; the env expects {env.action_size}')

  def init(self, params, state: State, rng):
    del params, state, rng
    return jnp.zeros((self.learner.config.horizon, self.action_size))

  def plan(self, params, carry, state: State, rng):
    del carry, rng
    obs = {**state.obs, **camera.render(self.rig, state.data.geom_xpos, state.data.geom_xmat)}
    obs, proprio = normalize_env_obs(obs, self.normalizer)
    chunk = self.learner.act(params, obs, proprio)
    return action_space.to_command(self.space, chunk, self.normalizer, self.num_arms)

  def act(self, carry, state: State, i):
    return carry, self.convert(state, carry[i])


class ScriptedController:
  """The scripted demonstrator that made the datasets, acting every step (it never replans: `period` is only
  how many steps one compiled call runs)."""
  period = 10

  def __init__(self, env: Env):
    self.demo = ScriptedDemonstrator(env)

  def init(self, params, state: State, rng):
    return self.demo.init(state, rng)

  def plan(self, params, carry, state: State, rng):
    return carry

  def act(self, carry, state: State, i):
    return self.demo.act(carry, state)


class RandomController:
  """Uniform random actions in the env's [-1, 1] range."""
  period = 10

  def __init__(self, env: Env):
    self.action_size = env.action_size

  def init(self, params, state: State, rng):
    return rng

  def plan(self, params, carry, state: State, rng):
    return carry

  def act(self, carry, state: State, i):
    key, sub = jax.random.split(carry)
    return key, jax.random.uniform(sub, (self.action_size,), minval=-1.0, maxval=1.0)
