"""Scripted success (Kinova, level 0) on MJX and native MuJoCo, with the pads as boxes (today) or as a grid of
spheres on the pad's face (box kept for mass and looks, not colliding): do the backends agree with spheres?"""
import dataclasses, os, re, sys, time, json
os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')
import jax, numpy as np
from glam_jax import compile_cache
from glam_jax.demos import collect, heterogeneity
from glam_jax.demos.generate import SOURCES
from glam_jax.sim import backends, gripper, mjcf
from glam_jax.sim.env import make_env
compile_cache.enable()
original = gripper.build

def sphere_pads(prefix, g):
  part, names = original(prefix, g)
  px, py, pz = g.pad_half
  def repl(m):
    geom = m.group(0)
    pos = [float(v) for v in re.search(r'pos="([^"]+)"', geom).group(1).split()]
    visual = geom.replace(mjcf.GRIPPER_COLLISION, mjcf.VISUAL)
    spheres = ''.join(
        f'<geom name="{m.group(1)}_s{i}" type="sphere" size="{py}" pos="{pos[0] + dx} {pos[1]} {pos[2] + dz}" mass="0" '
        f'rgba="0 0 0 0" friction="1.5 0.01 0.001" solref="0.01 1" {mjcf.GRIPPER_COLLISION}/>'
        for i, (dx, dz) in enumerate((dx, dz) for dx in (-(px - py), px - py) for dz in (-(pz - py), 0.0, pz - py)))
    return visual + spheres
  body = re.sub(r'<geom name="([^"]*_pad)" type="box"[^>]*/>', repl, part.body, flags=re.S)
  return dataclasses.replace(part, body=body), names

n = int(sys.argv[1]) if len(sys.argv) > 1 else 64
tasks = sys.argv[2].split(',') if len(sys.argv) > 2 else ['lift']
for pads in ('box', 'spheres'):
  gripper.build = sphere_pads if pads == 'spheres' else original
  for task in tasks:
    for backend in ('native', 'mjx'):
      style = heterogeneity.resolve(SOURCES, 0)['kinova']
      env = backends.with_backend(make_env(task, 'kinova', render=False), backend)
      run = jax.jit(collect.make_collector(env, motion=style.motion))
      keys = jax.random.split(jax.random.PRNGKey(1), n)
      t = time.time()
      b = collect.to_batch(run(keys))
      print(json.dumps(dict(pads=pads, task=task, backend=backend, success=int(b.success.sum()), n=n,
                            success_flags=''.join(str(int(s)) for s in np.asarray(b.success)),
                            seconds=round(time.time() - t, 1))), flush=True)
