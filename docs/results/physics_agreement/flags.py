"""Scripted success (Kinova, 64 episodes) with one model setting changed at a time:
`[BACKEND=mjx] [TASKS=lift,stack_two] python docs/results/physics_agreement/flags.py [VARIANT,...]` (default:
every variant, native physics)."""
import os, sys, json
os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')
import jax, mujoco
from mujoco import mjx
from glam_jax import compile_cache
from glam_jax.demos import collect, heterogeneity
from glam_jax.demos.generate import SOURCES
from glam_jax.sim import backends
from glam_jax.sim.env import make_env
compile_cache.enable()


def disable(bit):
  def change(m):
    m.opt.disableflags |= bit
  return change


def no_gravcomp(m):
  m.body_gravcomp[:] = 0


def no_gripper_force_limit(m):
  m.actuator_forcelimited[-1] = 0        # the gripper's position actuator, the last of the arm's


VARIANTS = {'as is': lambda m: None, 'no gripper force limit': no_gripper_force_limit, 'no warm start': disable(mujoco.mjtDisableBit.mjDSBL_WARMSTART),
            'no gravcomp': no_gravcomp, 'no refsafe': disable(mujoco.mjtDisableBit.mjDSBL_REFSAFE)}
chosen = sys.argv[1].split(',') if len(sys.argv) > 1 else list(VARIANTS)
backend = os.environ.get('BACKEND', 'native')
for task in os.environ.get('TASKS', 'lift,stack_two').split(','):
  for name in chosen:
    env = make_env(task, 'kinova', render=False)
    VARIANTS[name](env.mj_model)
    env.mjx_model = mjx.put_model(env.mj_model)       # MJX steps its own copy, made when the env was built
    env = backends.with_backend(env, backend)
    run = jax.jit(collect.make_collector(env, motion=heterogeneity.resolve(SOURCES, 0)['kinova'].motion))
    b = collect.to_batch(run(jax.random.split(jax.random.PRNGKey(1), 64)))
    print(json.dumps(dict(task=task, backend=backend, variant=name, success=int(b.success.sum()), n=64)), flush=True)
