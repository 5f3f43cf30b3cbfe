"""MJX in float64 (jax_enable_x64) against float32 and native (float64): scripted success, Kinova, 64 episodes."""
import os, sys, json
os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')
import jax
jax.config.update('jax_enable_x64', True)
from glam_jax import compile_cache
from glam_jax.demos import collect, heterogeneity
from glam_jax.demos.generate import SOURCES
from glam_jax.sim import backends
from glam_jax.sim.env import make_env
compile_cache.enable()
for task in sys.argv[1].split(','):
  env = backends.with_backend(make_env(task, 'kinova', render=False), 'mjx')
  run = jax.jit(collect.make_collector(env, motion=heterogeneity.resolve(SOURCES, 0)['kinova'].motion))
  b = collect.to_batch(run(jax.random.split(jax.random.PRNGKey(1), 64)))
  print(json.dumps(dict(task=task, backend='mjx float64', success=int(b.success.sum()), n=64,
                        success_flags=''.join(str(int(s)) for s in b.success))), flush=True)
