"""What every stage-1 latent-action learner offers the rest of the stack (GLAM, CLAM, LAPA, ...).

The training loop needs `init` and `loss`; relabelling and cross-source latent replay need `encode` (a
transition o_t -> o_t+1 of any source to its latent action, e.g. the IDM's posterior mean) and
`decode_action` (a latent to a target action, trained on target data; with the target robot's
proprioception where `reads_state`, as LAPA's action probe: latent replay then decodes each action from the
replaying robot's state). `latent_dim` sizes the policy's chunk; `image_keys` are the dataset frames the
learner reads. Nothing downstream reaches into a learner's own networks.
"""
from __future__ import annotations

import copy
import dataclasses

from typing import Protocol

import jax
import jax.numpy as jnp

from glam_jax.models import inputs


class LatentActionLearner(Protocol):
  image_keys: tuple
  latent_dim: int
  reads_state: bool            # decode_action needs the target's proprioception
  frame_gap: int               # control steps between a transition's two frames (1: consecutive)

  def init(self, rng: jax.Array, batch: dict): ...

  def loss(self, params, batch: dict, rng: jax.Array) -> tuple[jax.Array, dict]: ...

  def encode(self, params, obs: dict, next_obs: dict) -> jnp.ndarray:
    """Latent actions (..., latent_dim) of transitions obs -> next_obs (normalised, as the pipeline gives
    them); deterministic."""

  def decode_action(self, params, z: jnp.ndarray, proprio=None) -> jnp.ndarray:
    """Target actions (..., action_dim) in the learner's action space; `proprio` (..., proprio_dim), the
    target's normalised joint positions and gripper, is read where `reads_state`."""


def frame_gap_steps(seconds: float, target) -> int:
  """A frame gap in seconds -> whole control steps of the target (its `ctrl_dt`), at least one."""
  return max(1, int(round(seconds / float(target.meta.get('ctrl_dt', 0.05)))))


def dataset_dims(config, target) -> dict:
  """What a learner's networks are sized by, read from the target dataset (a `data.reader.Dataset`):
  image_shape (the config's image keys stacked), ee_dim, proprio_dim, action_dim."""
  frames, low = target.meta['frame_fields'], target.meta['lowdim_fields']
  for k in config.image_keys:
    if k not in frames:
      raise ValueError(f'{target.path}: image key {k!r} is not stored (has {sorted(frames)})')
  h, w = frames[config.image_keys[0]]['shape'][:2]
  return dict(image_shape=(h, w, inputs.image_channels(config.image_keys)),
              ee_dim=inputs.ee_dim(low['ee_pose']['dim'], low['gripper']['dim'], config.get('ee_tilt', True)),
              proprio_dim=low['joint_pos']['dim'] + low['gripper']['dim'], action_dim=low['action']['dim'])


def model_fields(config) -> dict:
  """The config's `model` block as constructor arguments (lists back to tuples)."""
  return {k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in config.model.items()}


def encode_transitions(encode, batch: dict, image_keys, ee_tilt: bool):
  """(images (2, ...), y, next_y, ee, next_ee) of a batch's obs -> next_obs: both frames' images go
  through `encode` (a learner's image encoder) in one call."""
  images = jnp.stack([inputs.image_input(batch['obs'], image_keys), inputs.image_input(batch['next_obs'], image_keys)])
  y, next_y = encode(images)
  return images, y, next_y, inputs.ee_state(batch['obs'], ee_tilt), inputs.ee_state(batch['next_obs'], ee_tilt)


class ModelLearner:
  """Plumbing of a learner built on one Flax model with the `SharedParts` interface: its config, apply,
  init from a batch's images and end-effector state, and `decode_action`. Subclasses set `model_class` and
  write their `loss` (and `encode` when the latent is not the IDM's mean)."""
  model_class: type
  reads_state = False
  frame_gap = 1

  def __init__(self, model_config, loss_config, image_keys, ee_tilt: bool = True):
    self.model_config, self.loss_config, self.image_keys = model_config, loss_config, tuple(image_keys)
    self.ee_tilt = ee_tilt
    self.model = self.model_class(model_config)

  @property
  def latent_dim(self) -> int:
    return self.model_config.latent_dim

  def with_loss_config(self, values: dict) -> 'ModelLearner':
    """A copy whose loss-config fields are set to `values` (traced scalars when a sweep stacks runs that
    differ in a loss weight: `glam_jax.train.sweep`)."""
    new = copy.copy(self)
    new.loss_config = dataclasses.replace(self.loss_config, **values)
    return new

  def run(self, params):
    """fn(method, *args): the model's `method` applied with `params`."""
    return lambda method, *a: self.model.apply({'params': params}, *a, method=method)

  def init(self, rng: jax.Array, batch: dict):
    obs = batch['obs']
    return self.model.init(rng, inputs.image_input(obs, self.image_keys), inputs.ee_state(obs, self.ee_tilt))['params']

  def transitions(self, params, batch: dict):
    """`encode_transitions` with this model's image encoder."""
    return encode_transitions(lambda im: self.run(params)(self.model_class.encode, im), batch, self.image_keys,
                              self.ee_tilt)

  def encode(self, params, obs: dict, next_obs: dict) -> jnp.ndarray:
    """The IDM's output for obs -> next_obs; a Gaussian IDM's mean (learners with another latent override)."""
    _, y, next_y, ee, next_ee = self.transitions(params, {'obs': obs, 'next_obs': next_obs})
    return self.run(params)(self.model_class.idm, y, ee, next_y, next_ee)[0]

  def decode_action(self, params, z: jnp.ndarray, proprio=None) -> jnp.ndarray:
    del proprio                      # p(a | z) reads the latent alone (learners that read the state override)
    return self.run(params)(self.model_class.decode_action, z)
