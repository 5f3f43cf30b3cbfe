"""JAX's persistent compilation cache, on for every tool and test: an MJX step takes 15-30 s to compile on
CPU, and the cache turns repeat runs into loads."""
from __future__ import annotations

import os

import jax

DEFAULT_DIR = os.path.join(os.path.expanduser('~'), '.cache', 'glam_jax', 'jax')


def enable(path: str | None = None) -> str:
  path = path or os.environ.get('GLAM_JAX_CACHE') or DEFAULT_DIR    # set but empty: the default
  os.makedirs(path, exist_ok=True)
  jax.config.update('jax_compilation_cache_dir', path)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 1.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
  return path
