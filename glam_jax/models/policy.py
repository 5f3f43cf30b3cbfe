"""The stage-2 policy (DESIGN.md §2): per-view vision encoders and the low-dimensional state give a context
c_t; a MIP head regresses a chunk of H outputs from c_t in two steps; for GLAM a policy action decoder maps
each predicted latent to a robot action.

- Vision: a conv encoder per camera view (trained from scratch: DINOv2 weights cannot be fetched here),
  each followed by Linear 256 -> LayerNorm -> GELU -> Linear 64 -> LayerNorm, as the paper projects its
  DINOv2 features. `encoder_features=()` skips the convs (a hook for precomputed backbone features).
- MIP head (Pan et al., "Much Ado About Noising"): one MLP f(t, I, c) with LayerNorm + Mish (GLAM's 10 x 256),
  called twice: step 1 f(0, 0, c); step 2 f(t*, I, c) with I the noised target in training and step 1's
  output at test time. Both regress the clean chunk. As MIP's public code (much-ado-about-noising,
  mip/networks/mlp.py) its hidden layers are residual with dropout 0.1 in training (`head_residual`,
  `head_dropout`). Deviations from that file, and why: GLAM's LayerNorm + Mish layer (Dense -> LN -> Mish)
  instead of its pre-LN GELU block with a 4x expansion, and t fed as a scalar instead of its sinusoidal
  embedding (DESIGN.md: GLAM's head); its observation encoder is replaced by the paper's vision encoders.
- Action decoder h(z) -> a: the shape of the world model's action decoder, applied to every latent of the
  chunk (the paper's h(ẑ)); `decoder_context=True` also feeds it the context c_t (an option beyond the
  paper). The MIP baseline has no decoder: its head outputs actions.
"""
from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax.numpy as jnp

from glam_jax.models import layers


@dataclasses.dataclass(frozen=True)
class PolicyConfig:
  image_shape: tuple               # (H, W, C) of one view
  num_views: int
  state_dim: int                   # the low-dimensional input (see stage2.latent_bc.STATE_INPUTS)
  horizon: int = 20                # H
  output_dim: int = 8              # per chunk step: the latent dim (GLAM) or the action dim (MIP)
  action_dim: int = 0              # > 0: decode each output into an action of this size (GLAM)
  encoder_features: tuple = (32, 64, 128, 256)
  encoder_dim: int = 256           # conv feature vector per view, before the projection
  projection_width: int = 256
  view_embedding: int = 64
  head_layers: int = 10
  head_width: int = 256
  decoder_layers: int = 4
  decoder_width: int = 256
  decoder_context: bool = False    # h also reads the context c_t (not in the paper: h(ẑ) there)
  head_residual: bool = True       # MIP's residual hidden layers
  head_dropout: float = 0.1        # MIP's dropout in the head, training only
  t_star: float = 0.9

  def __post_init__(self):
    for size in self.image_shape[:2] if self.num_views else ():
      layers.check_image_size(size, len(self.encoder_features))


class ViewEncoder(nn.Module):
  """One camera view -> a 64-d embedding (convs, then the paper's projection)."""
  features: tuple
  encoder_dim: int
  width: int
  out_dim: int

  @nn.compact
  def __call__(self, image):
    if self.features:
      h = layers.ConvEncoder(self.features, self.encoder_dim)(image)
    else:
      h = image.reshape(image.shape[:-3] + (-1,))
    h = nn.gelu(nn.LayerNorm()(nn.Dense(self.width)(h)))
    return nn.LayerNorm()(nn.Dense(self.out_dim)(h))


class Policy(nn.Module):
  config: PolicyConfig

  def setup(self):
    c = self.config
    self.views = [ViewEncoder(c.encoder_features, c.encoder_dim, c.projection_width, c.view_embedding,
                              name=f'view_{i}') for i in range(c.num_views)]
    self.head_net = layers.MLP(c.head_layers, c.head_width, c.horizon * c.output_dim, activation=layers.mish,
                               layer_norm=True, residual=c.head_residual, dropout=c.head_dropout)
    if c.action_dim:
      self.decoder_net = layers.MLP(c.decoder_layers, c.decoder_width, c.action_dim)

  def context(self, images, state, present=None):
    """images: (..., V, H, W, C) floats (None without views), state: (..., state_dim) -> c_t. `present`
    (..., V): 0 for a view the element's source did not record, whose embedding is then zero."""
    parts = [enc(images[..., i, :, :, :]) for i, enc in enumerate(self.views)]
    if present is not None:
      parts = [p * present[..., i:i + 1] for i, p in enumerate(parts)]
    return jnp.concatenate(parts + [state], -1)

  def head(self, t, noisy, context, train: bool = False):
    """f(t, I, c): t (...,), I (..., H, output_dim) -> the clean chunk (..., H, output_dim); `train` turns
    dropout on (needs the 'dropout' rng)."""
    c = self.config
    lead = context.shape[:-1]
    x = jnp.concatenate([jnp.broadcast_to(t, lead)[..., None], noisy.reshape(lead + (-1,)), context], -1)
    return self.head_net(x, deterministic=not train).reshape(lead + (c.horizon, c.output_dim))

  def decode(self, chunk, context):
    """h(z) per chunk step, or h(z, c) with `decoder_context` (identity for the MIP baseline, whose chunk
    already holds actions)."""
    if not self.config.action_dim:
      return chunk
    if self.config.decoder_context:
      c = jnp.broadcast_to(context[..., None, :], chunk.shape[:-1] + context.shape[-1:])
      chunk = jnp.concatenate([chunk, c], -1)
    return self.decoder_net(chunk)

  def infer(self, images, state, present=None):
    """Test time: step 1 from (0, 0), step 2 from step 1's output at t*; no noise. -> (chunk, actions)."""
    c = self.config
    ctx = self.context(images, state, present)
    zeros = jnp.zeros(ctx.shape[:-1] + (c.horizon, c.output_dim), ctx.dtype)
    first = self.head(jnp.zeros(ctx.shape[:-1]), zeros, ctx)
    chunk = self.head(jnp.full(ctx.shape[:-1], c.t_star), first, ctx)
    return chunk, self.decode(chunk, ctx)

  def __call__(self, images, state, present=None):
    return self.infer(images, state, present)
