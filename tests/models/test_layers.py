"""The MIP head's Mish with its derivative written out agrees with jax.nn.mish, far into both tails."""
import jax
import jax.numpy as jnp
import numpy as np

from glam_jax.models import layers


def test_mish_matches_jax_mish_and_its_gradient():
  x = jnp.concatenate([jnp.linspace(-60.0, 60.0, 120001), jnp.array([0.0, -1e-30, 1e-30, 88.0, -88.0])])
  np.testing.assert_allclose(layers.mish(x), jax.nn.mish(x), rtol=1e-6, atol=1e-30)
  grad = jax.vmap(jax.grad(layers.mish))(x)
  np.testing.assert_allclose(grad, jax.vmap(jax.grad(jax.nn.mish))(x), rtol=1e-5, atol=1e-5)
  assert bool(jnp.all(jnp.isfinite(grad)))
  # second derivative through the custom rule still agrees (anything differentiating the head twice)
  second = jax.vmap(jax.grad(jax.grad(layers.mish)))(jnp.linspace(-8.0, 8.0, 1601))
  np.testing.assert_allclose(second, jax.vmap(jax.grad(jax.grad(jax.nn.mish)))(jnp.linspace(-8.0, 8.0, 1601)),
                             atol=1e-4)


def _assert_same_layer(mine, ref, x, atol, grad_tol):
  """`mine` is `ref` with other arithmetic: the same parameter tree and initialisation, value and gradients."""
  params = ref.init(jax.random.PRNGKey(1), x)
  assert jax.tree.map(jnp.shape, mine.init(jax.random.PRNGKey(1), x)) == jax.tree.map(jnp.shape, params)
  np.testing.assert_allclose(mine.init(jax.random.PRNGKey(1), x)['params']['kernel'],
                             params['params']['kernel'])                # the same initialisation
  params = jax.tree.map(lambda p: p + 0.1, params)                      # a non-zero bias too
  np.testing.assert_allclose(mine.apply(params, x), ref.apply(params, x), atol=atol)
  loss = lambda m: lambda p, x: jnp.sum(jnp.sin(m.apply(p, x)))
  grads = jax.grad(loss(mine), argnums=(0, 1))(params, x)
  for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(jax.grad(loss(ref), argnums=(0, 1))(params, x))):
    np.testing.assert_allclose(a, b, rtol=grad_tol, atol=grad_tol)


def test_upconv_equals_flax_conv_transpose():
  import flax.linen as nn
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 5, 4, 6))         # odd, non-square sizes too
  _assert_same_layer(layers.UpConv(7), nn.ConvTranspose(7, (4, 4), strides=(2, 2), padding='SAME'), x, 2e-6, 1e-5)


def test_downconv_equals_flax_strided_conv():
  import flax.linen as nn
  ref = nn.Conv(7, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))
  for shape in ((3, 8, 6, 5), (2, 7, 5, 3)):                          # even (blocks) and odd (strided) sizes
    _assert_same_layer(layers.DownConv(7), ref, jax.random.normal(jax.random.PRNGKey(0), shape), 2e-5, 1e-4)


def test_conv_encoder_keeps_the_parameter_names_of_flax_convs():
  # checkpoints written before DownConv restore: the same tree as nn.Conv layers named Conv_i
  enc = layers.ConvEncoder((4, 8), 16)
  tree = jax.tree.map(jnp.shape, enc.init(jax.random.PRNGKey(0), jnp.zeros((2, 16, 16, 3))))['params']
  assert tree == {'Conv_0': {'kernel': (4, 4, 3, 4), 'bias': (4,)}, 'Conv_1': {'kernel': (4, 4, 4, 8), 'bias': (8,)},
                  'Dense_0': {'kernel': (128, 16), 'bias': (16,)}}
