"""The baselines' latent-action models, built from the same blocks as GLAM's world model (the paper's
protocol: same networks, same data), so a comparison measures the objective, not the architecture.

- `ClamModel` (CLAM, Liang et al. 2025): image codec, IDM q(z | x_t, x_t+1), forward model f(x_t, z) and an
  action decoder p(a | z) that reads the IDM's latent. No action encoder, no proprio model.
- `LapaModel` (LAPA, Ye et al. 2024): image codec, a token network that emits `num_tokens` continuous
  vectors of `token_dim` per frame, whose difference between the two frames (`latent_input='difference'`,
  as LAPA's laq_model/nsvq.py) is quantised against one shared codebook of `codebook_size` entries, a forward
  model from the quantised tokens, and an action probe that reads the tokens beside the target's
  proprioception (trained with a stop-gradient: LAPA's latents never see actions).

Sub-module names match `WorldModel`'s where the part is the same.
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp

from glam_jax.models import layers
from glam_jax.models.world_model import GaussianPosterior, SharedParts


@dataclasses.dataclass(frozen=True)
class BaselineConfig:
  """Sizes the baselines share with GLAM's `WorldModelConfig` (dimensions read from the data, then Table 2)."""
  image_shape: tuple
  ee_dim: int
  proprio_dim: int              # unused by these models; every learner reads the same dataset dims
  action_dim: int
  state_dim: int = 128
  width: int = 256
  conv_features: tuple = (32, 64, 128, 256)
  idm_blocks: int = 5
  forward_blocks: int = 4
  decoder_layers: int = 4

  def __post_init__(self):
    for size in self.image_shape[:2]:
      layers.check_image_size(size, len(self.conv_features))


@dataclasses.dataclass(frozen=True)
class ClamConfig(BaselineConfig):
  latent_dim: int = 8


class ClamModel(SharedParts):
  config: ClamConfig

  def setup(self):
    self.shared_parts()
    self.idm_net = GaussianPosterior(self.config.latent_dim, self.config.idm_blocks, self.config.width)

  def idm(self, y, ee, next_y, next_ee):
    return self.idm_net(y, ee, next_y, next_ee)

  def __call__(self, image, ee):
    y = self.encode(image)
    mean, _ = self.idm(y, ee, y, ee)
    return self.decode(y), self.predict_next(y, ee, mean), self.decode_action(mean)


LAPA_INPUTS = ('difference', 'pair')


@dataclasses.dataclass(frozen=True)
class LapaConfig(BaselineConfig):
  token_dim: int = 32                # LAPA's quant_dim
  num_tokens: int = 4                # LAPA's code_seq_len
  codebook_size: int = 8
  latent_input: str = 'difference'   # quantise g(x_t+1) - g(x_t) (LAPA); 'pair': an MLP over (x_t, x_t+1)
  probe_state: bool = True           # the action probe reads the target's proprioception beside the tokens

  def __post_init__(self):
    super().__post_init__()
    if self.latent_input not in LAPA_INPUTS:
      raise ValueError(f'latent_input {self.latent_input!r}; valid: {", ".join(LAPA_INPUTS)}')

  @property
  def latent_dim(self) -> int:
    return self.num_tokens * self.token_dim


class LapaModel(SharedParts):
  config: LapaConfig

  def setup(self):
    c = self.config
    self.shared_parts()
    self.idm_net = nn.Sequential([layers.ResMLP(c.idm_blocks, c.width), nn.Dense(c.latent_dim)])
    self.codebook = self.param('codebook', nn.initializers.normal(1.0), (c.codebook_size, c.token_dim))

  def idm(self, y, ee, next_y, next_ee):
    """(..., num_tokens, token_dim): the continuous tokens before quantisation: the difference of the two
    frames' token features (LAPA), or one MLP over both frames (`latent_input='pair'`)."""
    c = self.config
    if c.latent_input == 'difference':
      h = self.idm_net(jnp.concatenate([next_y, next_ee], -1)) - self.idm_net(jnp.concatenate([y, ee], -1))
    else:
      h = self.idm_net(jnp.concatenate([y, ee, next_y, next_ee], -1))
    return h.reshape(h.shape[:-1] + (c.num_tokens, c.token_dim))

  def decode_action(self, z, state=None):
    """The action probe: tokens (..., latent_dim), with the target's proprioception (..., proprio_dim) when
    `probe_state` (the absolute joint targets it predicts depend on where the arm is)."""
    if self.config.probe_state:
      if state is None:
        raise ValueError('this LAPA action probe reads the proprioception: pass the robot state')
      z = jnp.concatenate([z, state], -1)
    return self.action_decoder_net(z)

  def __call__(self, image, ee):
    y = self.encode(image)
    tokens = self.idm(y, ee, y, ee)
    flat = tokens.reshape(tokens.shape[:-2] + (-1,))
    state = jnp.zeros(flat.shape[:-1] + (self.config.proprio_dim,), flat.dtype)
    return self.decode(y), self.predict_next(y, ee, tokens), self.decode_action(flat, state), self.codebook


def nearest_code(tokens: jnp.ndarray, codebook: jnp.ndarray) -> jnp.ndarray:
  """Index of the nearest codebook entry of each token: (..., T, D), (K, D) -> (..., T)."""
  d = jnp.sum((tokens[..., None, :] - codebook) ** 2, -1)
  return jnp.argmin(d, -1)


def nsvq(tokens: jnp.ndarray, codebook: jnp.ndarray, rng: jax.Array) -> tuple[jnp.ndarray, jnp.ndarray]:
  """Noise-substitution vector quantisation (Vali & Bäckström 2022), training form:
  z + ‖z − e‖ · v / ‖v‖ with e the nearest code and v ~ N(0, I): the quantisation error replaced by noise of
  the same norm, so gradients reach the encoder through z and the codebook through ‖z − e‖.
  -> (quantised tokens, code indices)."""
  idx = nearest_code(tokens, codebook)
  err = jnp.linalg.norm(tokens - codebook[idx], axis=-1, keepdims=True)
  v = jax.random.normal(rng, tokens.shape, tokens.dtype)
  return tokens + err * v / (jnp.linalg.norm(v, axis=-1, keepdims=True) + 1e-12), idx


@dataclasses.dataclass(frozen=True)
class FramePredictorConfig:
  image_shape: tuple            # (H, W, C): the policy's views stacked along channels
  latent_dim: int               # of each latent action the policy emits
  state_dim: int = 128
  width: int = 256
  conv_features: tuple = (32, 64, 128, 256)
  forward_blocks: int = 4

  def __post_init__(self):
    for size in self.image_shape[:2]:
      layers.check_image_size(size, len(self.conv_features))


class FramePredictor(nn.Module):
  """LAWM's world model: image codec and a forward model y_t+1 = y_t + f(y_t, z_t) over image codes, with the
  next frame decoded from y_t+1 (the paper uses DreamerV3; here the stack's conv codec and ResMLP)."""
  config: FramePredictorConfig

  def setup(self):
    c = self.config
    self.encoder = layers.ConvEncoder(c.conv_features, c.state_dim)
    self.decoder = layers.ConvDecoder(c.image_shape, c.conv_features)
    self.forward_net = nn.Sequential([layers.ResMLP(c.forward_blocks, c.width), nn.Dense(c.state_dim)])

  def encode(self, image):
    return self.encoder(image)

  def decode(self, y):
    return self.decoder(y)

  def predict_next(self, y, z):
    return y + self.forward_net(jnp.concatenate([y, z], -1))

  def __call__(self, image, z):
    y = self.encode(image)
    return self.decode(self.predict_next(y, z))
