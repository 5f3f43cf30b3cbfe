"""Which physics an env runs on, chosen by name in this one place: `mjx` (MuJoCo in JAX: one compiled
program, batched on any device), `native` (C MuJoCo on host threads, `native_env`: faster on CPU and no MJX
physics to compile; tools/bench_eval.py measures both) or `auto`, the default everywhere: native on the CPU,
MJX on accelerators. The two step grasps alike since scene version 2
(docs/results/physics_agreement). Both have the same `reset`/`step` and `State`."""
from __future__ import annotations

import jax

from glam_jax.sim.env import Env
from glam_jax.sim.native_env import NativeEnv

BACKENDS = ('mjx', 'native')        # the physics engines
CHOICES = ('auto',) + BACKENDS      # what a config or flag may name


def resolve(backend: str) -> str:
  """The engine `backend` names: itself, or for `auto` native on the CPU and MJX on an accelerator. Records
  and dataset keys store this, never `auto`."""
  if backend not in CHOICES:
    raise ValueError(f'unknown physics backend {backend!r}; valid: {", ".join(CHOICES)}')
  if backend != 'auto':
    return backend
  return 'native' if jax.default_backend() == 'cpu' else 'mjx'


def with_backend(env: Env, backend: str) -> Env:
  """`env` on `backend`: itself for `mjx`, a `NativeEnv` sharing its models for `native`."""
  if resolve(backend) == 'native':
    return env if isinstance(env, NativeEnv) else NativeEnv(env)
  if isinstance(env, NativeEnv):
    raise ValueError("this env runs on native MuJoCo; pass the MJX env it was made from for backend='mjx'")
  return env
