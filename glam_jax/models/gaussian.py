"""Diagonal Gaussians as (mean, log-variance) pairs: reparameterised samples and closed-form KLs."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def sample(rng: jax.Array, mean: jnp.ndarray, logvar: jnp.ndarray) -> jnp.ndarray:
  """mean + σ·ε, differentiable in mean and logvar."""
  return mean + jnp.exp(0.5 * logvar) * jax.random.normal(rng, mean.shape, mean.dtype)


def kl(mean_q, logvar_q, mean_p, logvar_p) -> jnp.ndarray:
  """KL(q ‖ p) summed over the last axis."""
  var_ratio = jnp.exp(logvar_q - logvar_p)
  return 0.5 * jnp.sum(var_ratio + (mean_q - mean_p) ** 2 * jnp.exp(-logvar_p) - 1.0 - logvar_q + logvar_p, -1)


def kl_to_standard(mean, logvar) -> jnp.ndarray:
  """KL(q ‖ N(0, I)) summed over the last axis."""
  return 0.5 * jnp.sum(jnp.exp(logvar) + mean ** 2 - 1.0 - logvar, -1)
