"""Which physics an env runs on, chosen by name in this one place: `mjx` (MuJoCo in JAX, the default: one
compiled program, batched on any device) or `native` (C MuJoCo on host threads, `native_env`: faster on CPU
and no MJX physics to compile; tools/bench_eval.py measures both). Both have the same `reset`/`step` and
`State`."""
from __future__ import annotations

from glam_jax.sim.env import Env
from glam_jax.sim.native_env import NativeEnv

BACKENDS = ('mjx', 'native')


def check(backend: str) -> str:
  if backend not in BACKENDS:
    raise ValueError(f'unknown physics backend {backend!r}; valid: {", ".join(BACKENDS)}')
  return backend


def with_backend(env: Env, backend: str) -> Env:
  """`env` on `backend`: itself for `mjx`, a `NativeEnv` sharing its models for `native`."""
  if check(backend) == 'native':
    return env if isinstance(env, NativeEnv) else NativeEnv(env)
  if isinstance(env, NativeEnv):
    raise ValueError("this env runs on native MuJoCo; pass the MJX env it was made from for backend='mjx'")
  return env
