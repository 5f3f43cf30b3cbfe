"""From the same state, one control step in C MuJoCo and in MJX (float32 and float64): where along a native
scripted lift that fails do the two steps part, and in what (contacts, cube velocity)?
`python docs/results/physics_agreement/one_step.py [PLACEMENT]` (default: the first failing one). The divergence
it shows is scene version 1's (the force-limited gripper): run it at commit 16d0ffa to reproduce it."""
import os, sys, json
os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')
import jax
jax.config.update('jax_enable_x64', True)
import jax.numpy as jnp, mujoco, numpy as np
from mujoco import mjx
from glam_jax import compile_cache
from glam_jax.demos import collect, heterogeneity
from glam_jax.demos.generate import SOURCES
from glam_jax.sim import backends
from glam_jax.sim.env import make_env
compile_cache.enable()
env = make_env('lift', 'kinova', render=False)
if os.environ.get('EQ_SOLREF'):                 # the finger coupling's time constant, e.g. 0.01 (MuJoCo's clamp)
  env.mj_model.eq_solref[:, 0] = float(os.environ['EQ_SOLREF'])
if os.environ.get('NO_FORCERANGE'):             # the gripper's force limit off
  env.mj_model.actuator_forcelimited[-1] = 0
native = backends.with_backend(env, 'native')
keys = jax.random.split(jax.random.PRNGKey(1), 64)
with jax.default_matmul_precision('float32'):
  rec = jax.jit(collect.make_collector(native, motion=heterogeneity.resolve(SOURCES, 0)['kinova'].motion))(
      keys.astype(jnp.uint32))
b = collect.to_batch(rec)
i = int(sys.argv[1]) if len(sys.argv) > 1 else int(np.flatnonzero(~b.success.astype(bool))[0])
print('placement', i, 'native success', bool(b.success[i]))
m = env.mj_model
cube = env._obj_qpos['cube_red']
cube_dof = int(m.jnt_dofadr[m.body_jntadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, 'cube_red')]])
pads = {mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, n) for n in ('left_pad', 'right_pad')}
cube_geom = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, 'cube_red')
k_reset, _ = jax.random.split(keys[i])
state = jax.jit(native.reset)(k_reset)
step = jax.jit(native.step)
mx = mjx.put_model(m)
mjx_step = jax.jit(lambda d: mjx.step(mx, d))


def advance(dx):
  for _ in range(env.n_substeps):
    dx = mjx_step(dx)
  return dx
d = mujoco.MjData(m)
rows = []
for t, action in enumerate(np.asarray(b.steps['action'][i])):
  s = state.data
  for f in ('qpos', 'qvel', 'act', 'ctrl', 'qacc_warmstart'):
    getattr(d, f)[:] = np.asarray(getattr(s, f))
  mujoco.mj_forward(m, d)
  touching = sum(1 for c in d.contact[:d.ncon] if {c.geom1, c.geom2} & pads and cube_geom in (c.geom1, c.geom2))
  state = step(state, jnp.asarray(action))              # sets ctrl from the action, then steps natively
  ctrl = np.asarray(state.data.ctrl)
  c_next = mujoco.MjData(m)
  for f in ('qpos', 'qvel', 'act', 'qacc_warmstart'):
    getattr(c_next, f)[:] = getattr(d, f)
  c_next.ctrl[:] = ctrl
  mj_in = mjx.put_data(m, c_next)
  for _ in range(env.n_substeps):
    mujoco.mj_step(m, c_next)
  x_next = advance(mj_in)
  dv = np.abs(np.asarray(x_next.qvel[cube_dof:cube_dof + 6]) - c_next.qvel[cube_dof:cube_dof + 6]).max()
  rows.append((t, touching, float(dv), float(np.linalg.norm(c_next.qvel[cube_dof:cube_dof + 3]))))
  if os.environ.get('ALL') or (touching and len([r for r in rows if r[1]]) <= 12):
    print(f't={t:3d} pad-cube contacts (C) {touching}  |cube qvel C - MJX(f64)| {dv:.2e}  cube speed C {rows[-1][3]:.3f}', flush=True)
before = [r[2] for r in rows if not r[1]]
during = [r[2] for r in rows if r[1]]
print(json.dumps({'steps': len(rows), 'max |dv| without pad contact': max(before), 'median with': float(np.median(during)) if during else None,
                  'max with': max(during) if during else None}))
# The first step where the two part: the cube's velocity after it, and each substep's contacts with the cube
t0 = next(r[0] for r in rows if r[2] > 1e-3)


def c_state_at_t0() -> mujoco.MjData:
  """C MuJoCo's data at the start of control step t0 of the replayed episode, with that step's controls."""
  state = jax.jit(native.reset)(k_reset)
  for action in np.asarray(b.steps['action'][i])[:t0]:
    state = step(state, jnp.asarray(action))
  d = mujoco.MjData(m)
  for f in ('qpos', 'qvel', 'act', 'qacc_warmstart'):
    getattr(d, f)[:] = np.asarray(getattr(state.data, f))
  d.ctrl[:] = np.asarray(step(state, jnp.asarray(b.steps['action'][i][t0])).data.ctrl)
  return d


d = c_state_at_t0()
dx = mjx.put_data(m, d)
name = lambda g: mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_GEOM, int(g))
for sub in range(env.n_substeps):
  mujoco.mj_step(m, d)
  dx = mjx_step(dx)
  c_con = sorted((name(c.geom1), name(c.geom2), round(float(c.dist), 5)) for c in d.contact[:d.ncon]
                 if cube_geom in (c.geom1, c.geom2))
  dist, g = np.asarray(dx._impl.contact.dist), np.asarray(dx._impl.contact.geom)
  x_con = sorted((name(a), name(bb), round(float(v), 5)) for (a, bb), v in zip(g, dist) if v < 0 and cube_geom in (a, bb))
  print(f'substep {sub}: cube qvel C {np.round(d.qvel[cube_dof:cube_dof + 6], 3)}  MJX {np.round(np.asarray(dx.qvel[cube_dof:cube_dof + 6]), 3)}')
  print(f'   C contacts {c_con}\n   MJX contacts {x_con}')
# MJX's own entries for the pad-cube pairs (any distance) at the state where C finds 2 mm of penetration
d = c_state_at_t0()
for sub in range(6):
  mujoco.mj_step(m, d)
mujoco.mj_forward(m, d)
dx = jax.jit(lambda d: mjx.forward(mx, d))(mjx.put_data(m, d))
dist, g = np.asarray(dx._impl.contact.dist), np.asarray(dx._impl.contact.geom)
print('MJX pad-cube entries:', [(name(a), name(bb), round(float(v), 5)) for (a, bb), v in zip(g, dist)
                                if cube_geom in (a, bb) and {int(a), int(bb)} & pads])
print('C pad-cube contacts:', [(name(c.geom1), name(c.geom2), round(float(c.dist), 5)) for c in d.contact[:d.ncon]
                               if cube_geom in (c.geom1, c.geom2) and {c.geom1, c.geom2} & pads])
rp = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, 'right_pad')
print('right pad pos', np.round(d.geom_xpos[rp], 4), 'mat', np.round(d.geom_xmat[rp], 3))
print('cube pos', np.round(d.geom_xpos[cube_geom], 4), 'mat', np.round(d.geom_xmat[cube_geom], 3))
# The fingers and the arm over the same substeps, in both
idx = env.arm_index[0]
d = c_state_at_t0()
dx = mjx.put_data(m, d)
fq = np.asarray(idx.finger_qpos)
print('ctrl', np.round(d.ctrl, 4), 'finger qpos', np.round(d.qpos[fq], 5), 'qvel', np.round(d.qvel[np.asarray(idx.finger_dof)] if hasattr(idx, 'finger_dof') else [], 4))
for sub in range(6):
  mujoco.mj_step(m, d)
  dx = mjx_step(dx)
  print(f'substep {sub}: finger qpos C {np.round(d.qpos[fq], 5)} MJX {np.round(np.asarray(dx.qpos)[fq], 5)} | '
        f'arm qpos max|C-MJX| {np.abs(d.qpos[np.asarray(idx.qpos)] - np.asarray(dx.qpos)[np.asarray(idx.qpos)]).max():.2e} | '
        f'C ncon {d.ncon} nefc {d.nefc}')
