"""The compile-cache counts a run records: a program compiled once misses, the same program compiled again
in a fresh in-memory cache hits the persistent one. In a process of its own: JAX sets its persistent cache
up once per process, so a test process that compiled earlier would keep the directory it started with."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = '''
import json, sys
import jax, jax.numpy as jnp
from glam_jax import compile_cache
compile_cache.enable(sys.argv[1])
jax.config.update('jax_persistent_cache_min_compile_time_secs', 0.0)    # store even a tiny program
x = jnp.ones(7)
before = compile_cache.counts()
f = lambda x: jnp.tanh(x) * 3.0 + jnp.float32(0.123456)
jax.jit(f)(x).block_until_ready()
first = compile_cache.since(before)
jax.clear_caches()
middle = compile_cache.counts()
jax.jit(f)(x).block_until_ready()
second = compile_cache.since(middle)
print(json.dumps({'first': first, 'second': second, 'idle': compile_cache.since(compile_cache.counts())}))
'''


def test_a_recompiled_program_hits_the_persistent_cache(tmp_path):
  out = subprocess.run([sys.executable, '-c', SCRIPT, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert out.returncode == 0, out.stderr[-2000:]
  r = json.loads(out.stdout.strip().splitlines()[-1])
  assert r['first']['misses'] >= 1 and r['first']['hits'] == 0 and r['first']['compile_s'] > 0
  assert r['second']['hits'] >= 1 and r['second']['misses'] == 0 and r['second']['hit_rate'] == 1.0
  assert r['idle']['hit_rate'] is None                     # no lookups: no rate
