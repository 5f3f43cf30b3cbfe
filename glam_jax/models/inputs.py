"""What the networks see of a batch: images stacked along channels as floats, and the end-effector state.

Shared by the world model, the policy and evaluation, so a model trained on dataset batches reads env
observations the same way.
"""
from __future__ import annotations

import jax.numpy as jnp

EE_KEYS = ('ee_pose', 'gripper')     # recorded by every source: the end-effector state


def image_input(obs: dict, keys) -> jnp.ndarray:
  """(..., H, W, C) float32 in [0, 1]: RGB scaled from uint8, masks as 0/1, stacked in `keys` order."""
  parts = []
  for k in keys:
    x = jnp.asarray(obs[k])
    if k.endswith('/rgb'):
      x = x.astype(jnp.float32) / 255.0
    elif k.endswith('/mask'):
      x = (x > 0).astype(jnp.float32)[..., None]
    elif k.endswith('/depth'):
      x = jnp.clip(x.astype(jnp.float32) / 2.0, 0.0, 1.0)[..., None]   # metres / 2: the table is ~1-2 m
    else:
      raise ValueError(f'unknown image key {k!r}; expected a key ending in /rgb, /mask or /depth')
    parts.append(x)
  return jnp.concatenate(parts, -1)


def image_channels(keys) -> int:
  return sum(3 if k.endswith('/rgb') else 1 for k in keys)


def ee_state(obs: dict) -> jnp.ndarray:
  return jnp.concatenate([jnp.asarray(obs[k], jnp.float32) for k in EE_KEYS], -1)
