"""What the networks see of a batch: images stacked along channels as floats, and the end-effector state.

Shared by the world model, the policy and evaluation, so a model trained on dataset batches reads env
observations the same way.
"""
from __future__ import annotations

import jax.numpy as jnp

from glam_jax.data.schema import VIEW_MASK

EE_KEYS = ('ee_pose', 'gripper')     # recorded by every source: the end-effector state
POSE_DIM = 9                          # per arm: TCP position, then the first two rotation-matrix columns
TILT_DIMS = (5, 8)                    # per arm: the z components of those columns (the TCP's tilt)


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


def view_weights(obs: dict, keys) -> jnp.ndarray | None:
  """(..., V) 1.0 for each image key the element's source stores, 0.0 for a missing view (the pipeline's
  `image_present`); None when every source stores every key."""
  if VIEW_MASK not in obs:
    return None
  return jnp.asarray(obs[VIEW_MASK], jnp.float32)


def channel_weights(obs: dict, keys) -> jnp.ndarray | None:
  """`view_weights` spread over each view's channels of `image_input`: (..., C), or None."""
  views = view_weights(obs, keys)
  if views is None:
    return None
  return jnp.concatenate([jnp.repeat(views[..., i:i + 1], image_channels((k,)), -1) for i, k in enumerate(keys)], -1)


def pixel_error(pred: jnp.ndarray, target: jnp.ndarray, weights: jnp.ndarray | None = None) -> jnp.ndarray:
  """Mean squared error over the last three axes (H, W, C) of each element; with channel `weights` (..., C),
  over the views its source stores only."""
  if weights is None:
    return jnp.mean((pred - target) ** 2, axis=(-3, -2, -1))
  w = jnp.broadcast_to(weights[..., None, None, :], pred.shape)
  return jnp.sum(w * (pred - target) ** 2, axis=(-3, -2, -1)) / jnp.maximum(jnp.sum(w, axis=(-3, -2, -1)), 1.0)


def pixel_mse(pred: jnp.ndarray, target: jnp.ndarray, weights: jnp.ndarray | None = None) -> jnp.ndarray:
  """The mean of `pixel_error` over elements (a source's missing views neither count nor dilute it)."""
  if weights is None:
    return jnp.mean((pred - target) ** 2)
  return jnp.mean(pixel_error(pred, target, weights))


def ee_state(obs: dict, tilt: bool = True) -> jnp.ndarray:
  """TCP pose(s) and gripper opening(s). `tilt=False` leaves out the z components of the rotation columns:
  every task here grasps from above, the scripted UMI holds its TCP exactly vertical while the arms' IK
  tilts it by a degree or two, and that tilt alone tells a world model which embodiment it is looking at
  (a frozen GLAM-O IDM gave UMI transitions half the Kinova's latent magnitude until given Kinova tilts)."""
  pose = jnp.asarray(obs['ee_pose'], jnp.float32)
  if not tilt:
    keep = [i for i in range(pose.shape[-1]) if i % POSE_DIM not in TILT_DIMS]
    pose = pose[..., jnp.asarray(keep)]
  return jnp.concatenate([pose, jnp.asarray(obs['gripper'], jnp.float32)], -1)


def ee_dim(pose_dim: int, gripper_dim: int, tilt: bool = True) -> int:
  return pose_dim + gripper_dim - (0 if tilt else len(TILT_DIMS) * (pose_dim // POSE_DIM))
