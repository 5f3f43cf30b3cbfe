"""Native scripted success against solver settings (Kinova, level 0)."""
import os, sys, time, json
os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')
import jax, numpy as np
from glam_jax import compile_cache
from glam_jax.demos import collect, heterogeneity
from glam_jax.demos.generate import SOURCES
from glam_jax.sim import backends
from glam_jax.sim.env import make_env
compile_cache.enable()
n = int(sys.argv[1]) if len(sys.argv) > 1 else 64     # python docs/results/physics_agreement/iters.py [EPISODES]
settings = [dict(), dict(iterations=20, ls_iterations=20), dict(iterations=100, ls_iterations=50)]
for task in ('lift', 'stack_two'):
  for backend in ('native',):
    for s in settings:
      style = heterogeneity.resolve(SOURCES, 0)['kinova']
      env = backends.with_backend(make_env(task, 'kinova', render=False, **s), backend)
      run = jax.jit(collect.make_collector(env, motion=style.motion))
      keys = jax.random.split(jax.random.PRNGKey(1), n)
      t = time.time()
      b = collect.to_batch(run(keys))
      print(json.dumps(dict(task=task, backend=backend, **s, success=int(b.success.sum()), n=n,
                            seconds=round(time.time() - t, 1))), flush=True)
