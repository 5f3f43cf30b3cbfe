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


# The longest tests start first, so that two xdist workers finish together instead of one waiting on a
# long test that started last.
_LONGEST_FIRST = ('tests/tools/test_run_pipeline.py', 'tests/train/test_sweep.py', 'tests/sim/test_env.py',
                  'tests/demos/test_demos.py', 'tests/stage2/test_policy.py', 'tests/train/test_multiprocess.py')


def pytest_collection_modifyitems(config, items):
  rank = lambda item: next((i for i, f in enumerate(_LONGEST_FIRST) if item.nodeid.startswith(f)),
                           len(_LONGEST_FIRST))
  items.sort(key=rank)        # stable: the order within a file is kept
