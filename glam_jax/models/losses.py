"""Loss helpers every learner shares: per-sample squared errors and masked batch means (terms that need
target fields average over the target samples of a mixed batch only)."""
from __future__ import annotations

import jax.numpy as jnp


def masked_mean(x: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
  """Mean of per-sample values over the samples where `mask` holds (0 when none does)."""
  mask = mask.astype(x.dtype)
  return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)


def sq_error(a, b) -> jnp.ndarray:
  """Per-sample mean squared error over the last axis."""
  return jnp.mean((a - b) ** 2, axis=-1)
