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
