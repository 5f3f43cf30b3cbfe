"""Batched closed-loop rollouts of a policy in one jitted scan (`opaque_scan`), vmapped over environments.

A policy here is `policy(obs, rng) -> action` for one environment (vmapped with the env). `rollout_chunk`
runs a fixed number of steps so a long episode is a loop of calls to one compiled program, which gives
progress reporting without recompiling.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from glam_jax import opaque_scan
from glam_jax.sim.env import Env, State


def smooth_random_policy(action_size: int, scale: float = 0.6, smoothing: float = 0.8):
  """Exploration noise that is correlated over time (a first-order filter of white noise), so the arm
  sweeps around instead of jittering in place. Carries its filter state in the returned carry."""
  def policy(carry, obs, rng):
    del obs
    noise = jax.random.uniform(rng, (action_size,), minval=-1, maxval=1)
    carry = smoothing * carry + (1 - smoothing) * noise * 3.0
    return carry, jnp.clip(scale * carry, -1, 1)
  return policy


def make_rollout_chunk(env: Env, policy: Callable, length: int, record: Callable[[State], dict]):
  """jit(vmap) of `length` policy+env steps. Returns fn(states, carries, keys) ->
  (states, carries, keys, recorded) with `recorded` stacked over time (leading axis `length`)."""
  def one_env(state, carry, key):
    def body(c, _):
      s, pc, k = c
      k, k_act = jax.random.split(k)
      pc, action = policy(pc, s.obs, k_act)
      s = env.step(s, action)
      return (s, pc, k), record(s)
    (state, carry, key), rec = opaque_scan.scan(body, (state, carry, key), length=length)
    return state, carry, key, rec
  return jax.jit(jax.vmap(one_env, out_axes=(0, 0, 0, 1)))
