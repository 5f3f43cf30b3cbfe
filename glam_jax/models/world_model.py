"""GLAM's world model: two coupled generative models that share one latent action space (DESIGN.md §2).

Heterogeneous model, trained on every source: image encoder/decoder, the IDM q_φ(z | x_t, x_{t+1}) and the
shared forward model f(x_t, z) -> (Δy, Δee). Target model, trained on the target robot only: the action
encoder q_η(z | s_t, a_t), the proprio forward model g(s_t, z) -> Δs and the action decoder p(a | z).

The latent state is x_t = (y_t, ee_t): y_t the image code, ee_t the end-effector state every source
records: TCP pose (position + two rotation columns) and gripper opening. The opening is part of it because
the object mask of GLAM-O does not show the gripper, and a latent action that cannot see the fingers close
could not carry the grasp from a UMI demonstration to the robot.

GLAM and GLAM-O are the same module: only the image keys fed to the encoder differ (RGB or object masks).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from glam_jax.models import layers


@dataclasses.dataclass(frozen=True)
class WorldModelConfig:
  image_shape: tuple          # (H, W, C): the image keys stacked along channels
  ee_dim: int                 # ee_pose + gripper, per arm
  proprio_dim: int
  action_dim: int
  latent_dim: int = 8         # d (16 for the bimanual stack_three)
  state_dim: int = 128        # d_y
  width: int = 256
  conv_features: tuple = (32, 64, 128, 256)
  idm_blocks: int = 5
  action_encoder_blocks: int = 5
  forward_blocks: int = 4
  proprio_blocks: int = 5
  decoder_layers: int = 4

  def __post_init__(self):
    layers.check_image_size(self.image_shape[0], len(self.conv_features))
    layers.check_image_size(self.image_shape[1], len(self.conv_features))


class ForwardModel(nn.Module):
  """f(x, z) -> (Δy, Δee): one ResMLP trunk, two residual heads."""
  state_dim: int
  ee_dim: int
  num_blocks: int
  width: int

  @nn.compact
  def __call__(self, y, ee, z):
    h = layers.ResMLP(self.num_blocks, self.width)(jnp.concatenate([y, ee, z], -1))
    return nn.Dense(self.state_dim, name='dy')(h), nn.Dense(self.ee_dim, name='dee')(h)


class GaussianPosterior(nn.Module):
  """ResMLP -> (mean, log-variance) of a diagonal Gaussian over z."""
  latent_dim: int
  num_blocks: int
  width: int

  @nn.compact
  def __call__(self, *inputs):
    h = layers.ResMLP(self.num_blocks, self.width)(jnp.concatenate(inputs, -1))
    return layers.GaussianHead(self.latent_dim)(h)


class SharedParts(nn.Module):
  """The networks GLAM's world model and the baselines' latent-action models have in common (the paper's
  protocol: same networks): image codec, forward model f(x, z) -> (Δy, Δee) and action decoder p(a | z).
  A subclass's `setup` calls `shared_parts()` and adds its own (IDM, codebook, ...)."""
  config: Any

  def shared_parts(self):
    c = self.config
    self.encoder = layers.ConvEncoder(c.conv_features, c.state_dim)
    self.decoder = layers.ConvDecoder(c.image_shape, c.conv_features)
    self.forward_net = ForwardModel(c.state_dim, c.ee_dim, c.forward_blocks, c.width)
    self.action_decoder_net = layers.MLP(c.decoder_layers, c.width, c.action_dim)

  def encode(self, image):
    return self.encoder(image)

  def decode(self, y):
    return self.decoder(y)

  def predict_next(self, y, ee, z):
    """x_t + f(x_t, z): the predicted next latent state (y, ee); z may be a stack of tokens, flattened."""
    dy, dee = self.forward_net(y, ee, z.reshape(y.shape[:-1] + (-1,)))
    return y + dy, ee + dee

  def decode_action(self, z):
    """p(a | z): no state input, so an action is a function of the latent alone."""
    return self.action_decoder_net(z)


class WorldModel(SharedParts):
  """Every GLAM network; `__call__` touches all of them (for `init`), the methods are the model's parts."""
  config: WorldModelConfig

  def setup(self):
    c = self.config
    self.shared_parts()
    self.idm_net = GaussianPosterior(c.latent_dim, c.idm_blocks, c.width)
    self.action_encoder_net = GaussianPosterior(c.latent_dim, c.action_encoder_blocks, c.width)
    self.proprio_net = nn.Sequential([layers.ResMLP(c.proprio_blocks, c.width), nn.Dense(c.proprio_dim)])

  def idm(self, y, ee, next_y, next_ee):
    """q_φ(z | x_t, x_{t+1}) -> (mean, logvar)."""
    return self.idm_net(y, ee, next_y, next_ee)

  def action_encoder(self, proprio, action):
    """q_η(z | s_t, a_t) -> (mean, logvar)."""
    return self.action_encoder_net(proprio, action)

  def predict_next_proprio(self, proprio, z):
    return proprio + self.proprio_net(jnp.concatenate([proprio, z], -1))

  def __call__(self, image, ee, proprio, action):
    y = self.encode(image)
    recon = self.decode(y)
    mean, _ = self.idm(y, ee, y, ee)
    mean_a, _ = self.action_encoder(proprio, action)
    return recon, self.predict_next(y, ee, mean), self.predict_next_proprio(proprio, mean_a), \
        self.decode_action(mean_a)
