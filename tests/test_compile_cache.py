"""The compile-cache counts a run records: a program compiled once misses, the same program compiled again
in a fresh in-memory cache hits the persistent one."""
import jax
import jax.numpy as jnp

from glam_jax import compile_cache


def test_a_recompiled_program_hits_the_persistent_cache(tmp_path):
  old_dir = jax.config.jax_compilation_cache_dir
  old_min = jax.config.jax_persistent_cache_min_compile_time_secs
  try:
    compile_cache.enable(str(tmp_path))
    jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)    # store even a tiny program
    before = compile_cache.counts()
    f = lambda x: jnp.tanh(x) * 3.0 + jnp.float32(0.123456)
    jax.jit(f)(jnp.ones(7)).block_until_ready()
    first = compile_cache.since(before)
    assert first['misses'] >= 1 and first['hits'] == 0 and first['compile_s'] > 0
    jax.clear_caches()
    middle = compile_cache.counts()
    jax.jit(f)(jnp.ones(7)).block_until_ready()
    second = compile_cache.since(middle)
    assert second['hits'] >= 1 and second['misses'] == 0 and second['hit_rate'] == 1.0
    assert compile_cache.since(compile_cache.counts())['hit_rate'] is None      # no lookups: no rate
  finally:
    compile_cache.enable(old_dir)
    jax.config.update('jax_persistent_cache_min_compile_time_secs', old_min)
