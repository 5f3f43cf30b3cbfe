"""Shared test set-up: JAX's persistent compilation cache (MJX programs take tens of seconds to compile)."""
import functools

import pytest

from glam_jax import compile_cache

compile_cache.enable()


@functools.lru_cache(maxsize=None)
def cached_env(task: str, embodiment: str = 'kinova', **overrides):
  """One env per configuration per test process, so jitted functions on it are shared across tests."""
  from glam_jax.sim import make_env
  return make_env(task, embodiment, **overrides)


@pytest.fixture
def get_env():
  return cached_env
