"""Building blocks shared by every model: residual MLPs, plain MLPs, and the strided conv image codec.

Sizes follow the GLAM paper's Table 2 by default (ResMLP width 256; 4 conv layers, kernel 4, stride 2,
padding 1); conv widths are not given by the paper and are a constructor argument.
"""
from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def _mish_parts(x):
  """(mish(x), tanh(softplus(x)), sigmoid(x)) from one exp: tanh(log(1 + e)) = n / (n + 2), n = e (e + 2).
  Above x = 15 the ratio is 1 in float32, so clamping the exp loses nothing and cannot overflow."""
  e = jnp.exp(jnp.minimum(x, 15.0))
  n = e * (e + 2.0)
  t = n / (n + 2.0)
  return x * t, t, e / (1.0 + e)


@jax.custom_jvp
def mish(x):
  """Mish, x tanh(softplus(x)) (the MIP head's activation), with one exp and its derivative written out:
  jax.nn.mish takes exp, log1p and tanh and differentiates through all three; this one's value and gradient
  took 2.2 ms against 3.4 ms for 1M elements on the 2-core CPU. Equal to jax.nn.mish within 5e-7 relative
  (tests/models/test_layers.py)."""
  return _mish_parts(x)[0]


@mish.defjvp
def _mish_jvp(primals, tangents):
  (x,), (dx,) = primals, tangents
  y, t, s = _mish_parts(x)
  return y, (t + x * (1.0 - t * t) * s) * dx


class ResMLPBlock(nn.Module):
  """LayerNorm -> Linear -> GELU -> Linear, plus the skip connection."""
  width: int

  @nn.compact
  def __call__(self, x):
    h = nn.LayerNorm()(x)
    h = nn.gelu(nn.Dense(self.width)(h))
    return x + nn.Dense(self.width)(h)


class ResMLP(nn.Module):
  """Linear to `width`, `num_blocks` residual blocks, a final LayerNorm; heads are added by the caller."""
  num_blocks: int
  width: int = 256

  @nn.compact
  def __call__(self, x):
    x = nn.Dense(self.width)(x)
    for _ in range(self.num_blocks):
      x = ResMLPBlock(self.width)(x)
    return nn.LayerNorm()(x)


class MLP(nn.Module):
  """`num_layers` Dense layers (the last one without activation), e.g. GLAM's 4-layer ReLU action decoder.
  `residual`: every hidden layer after the first adds its input back (x + layer(x)); `dropout`: after each
  hidden layer's activation, active only with `deterministic=False` (the 'dropout' rng). MIP's head has both
  (much-ado-about-noising, mip/networks/mlp.py)."""
  num_layers: int
  width: int
  out_dim: int
  activation: Callable = nn.relu
  layer_norm: bool = False
  residual: bool = False
  dropout: float = 0.0

  @nn.compact
  def __call__(self, x, deterministic: bool = True):
    for i in range(self.num_layers - 1):
      h = nn.Dense(self.width)(x)
      if self.layer_norm:
        h = nn.LayerNorm()(h)
      h = self.activation(h)
      if self.dropout:
        h = nn.Dropout(self.dropout)(h, deterministic=deterministic)
      x = x + h if self.residual and i > 0 else h
    return nn.Dense(self.out_dim)(x)


class GaussianHead(nn.Module):
  """(mean, log-variance) of a diagonal Gaussian; log-variance clipped so a step cannot overflow exp()."""
  dim: int
  min_logvar: float = -10.0
  max_logvar: float = 5.0

  @nn.compact
  def __call__(self, h):
    mean = nn.Dense(self.dim)(h)
    logvar = jnp.clip(nn.Dense(self.dim)(h), self.min_logvar, self.max_logvar)
    return mean, logvar


def space_to_depth(x, block: int = 2):
  """(N, H, W, C) -> (N, H / block, W / block, block * block * C), each block's pixels row by row."""
  n, h, w, c = x.shape
  x = x.reshape(n, h // block, block, w // block, block, c).transpose(0, 1, 3, 2, 4, 5)
  return x.reshape(n, h // block, w // block, block * block * c)


class DownConv(nn.Module):
  """A conv, kernel 4, stride 2, padding 1 (the output half the input), computed on the CPU as a stride-1
  2x2 conv over the padded input's 2x2 blocks (space to depth; the kernel regrouped the same way), elsewhere
  as the strided conv. The same function with the same parameters as flax's Conv (names, shapes,
  initialisation; tests/models/test_layers.py): XLA CPU runs strided convs over few channels poorly, and on
  the 2-core CPU this form's value and gradient took 26 ms against 44 ms for the cpu policy encoder's four
  layers (batch 128 images of 64x64)."""
  features: int

  @nn.compact
  def __call__(self, x):
    c = x.shape[-1]
    k = self.param('kernel', nn.initializers.lecun_normal(), (4, 4, c, self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    x = x.astype(k.dtype)
    numbers = ('NHWC', 'HWIO', 'NHWC')
    if jax.default_backend() != 'cpu' or x.shape[-3] % 2 or x.shape[-2] % 2:      # odd sizes: no 2x2 blocks
      return jax.lax.conv_general_dilated(x, k, (2, 2), ((1, 1), (1, 1)), dimension_numbers=numbers) + bias
    # kernel row 2a + p, column 2b + q reads block (a, b)'s pixel (p, q)
    w = k.reshape(2, 2, 2, 2, c, self.features).transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, 4 * c, self.features)
    blocks = space_to_depth(jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))))
    return jax.lax.conv_general_dilated(blocks, w, (1, 1), 'VALID', dimension_numbers=numbers) + bias


class ConvEncoder(nn.Module):
  """Strided convs (kernel 4, stride 2, padding 1, ReLU), each halving the image, then Linear to `out_dim`.

  Input: (..., H, W, C) float images in [0, 1]; H and W must be divisible by 2 ** len(features).
  """
  features: Sequence[int] = (32, 64, 128, 256)
  out_dim: int = 128

  @nn.compact
  def __call__(self, x):
    lead = x.shape[:-3]
    x = x.reshape((-1,) + x.shape[-3:])
    for i, f in enumerate(self.features):
      # named as the flax Conv it replaces, so checkpoints from before it restore
      x = nn.relu(DownConv(f, name=f'Conv_{i}')(x))
    x = x.reshape(x.shape[0], -1)
    return nn.Dense(self.out_dim)(x).reshape(lead + (self.out_dim,))


class UpConv(nn.Module):
  """A transposed conv, kernel 4, stride 2, 'SAME' padding (the output twice the input, as PyTorch's k4 s2
  p1), computed as one stride-1 3x3 conv that gives the four output phases, then depth-to-space. Equal to
  flax's ConvTranspose with the same parameters (names, shapes, initialisation) within 1e-6; XLA CPU runs a
  transposed conv as a conv over a zero-dilated input, and this form's value and gradients were 2.5-4.4x
  faster on the 2-core CPU for the world models' layer sizes."""
  features: int

  @nn.compact
  def __call__(self, x):
    k = self.param('kernel', nn.initializers.lecun_normal(), (4, 4, x.shape[-1], self.features))
    bias = self.param('bias', nn.initializers.zeros, (self.features,))
    # Output row 2m + p reads input rows m - 1, m (p = 0: kernel rows 0, 2) or m, m + 1 (p = 1: rows 1, 3);
    # as taps of a 3-row window centred on m: (0, 2, -) and (-, 1, 3). Columns alike.
    taps = ((0, 2, None), (None, 1, 3))
    zero = jnp.zeros_like(k[0, 0])
    phase = lambda py, px: jnp.stack([jnp.stack([zero if a is None or b is None else k[a, b] for b in taps[px]])
                                      for a in taps[py]])
    w = jnp.concatenate([phase(py, px) for py in (0, 1) for px in (0, 1)], -1)      # (3, 3, in, 4 out)
    y = jax.lax.conv_general_dilated(x.astype(k.dtype), w, (1, 1), ((1, 1), (1, 1)),
                                     dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    b, h, wd, _ = y.shape
    y = y.reshape(b, h, wd, 2, 2, self.features).transpose(0, 1, 3, 2, 4, 5).reshape(b, 2 * h, 2 * wd, -1)
    return y + bias


class ConvDecoder(nn.Module):
  """The mirror of `ConvEncoder`: Linear to a small feature map, transposed convs doubling it back."""
  image_shape: Sequence[int]               # (H, W, C) to reconstruct
  features: Sequence[int] = (32, 64, 128, 256)   # the encoder's; used in reverse

  @nn.compact
  def __call__(self, y):
    h, w, c = self.image_shape
    n = len(self.features)
    lead = y.shape[:-1]
    y = y.reshape(-1, y.shape[-1])
    sh, sw = h // 2 ** n, w // 2 ** n
    x = nn.Dense(sh * sw * self.features[-1])(y).reshape(-1, sh, sw, self.features[-1])
    for i, f in enumerate(reversed(self.features)):
      last = i == n - 1
      # named as the flax ConvTranspose it replaces, so checkpoints from before it restore
      x = UpConv(c if last else self.features[n - 2 - i], name=f'ConvTranspose_{i}')(x)
      if not last:
        x = nn.relu(x)
    return x.reshape(lead + (h, w, c))


def check_image_size(size: int, num_layers: int) -> None:
  if size % 2 ** num_layers:
    raise ValueError(f'image size {size} is not divisible by 2**{num_layers} (one halving per conv layer); '
                     'choose another size or fewer conv layers')
