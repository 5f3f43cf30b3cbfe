"""Native MuJoCo physics as an XLA FFI call (`native_step.cc`) instead of a Python callback: built once per
machine with the system's C++ compiler against the installed jaxlib's FFI headers and mujoco's library, and
cached next to the compilation cache. Where it cannot be built (no compiler, no headers), `library()`
returns None and says why once; `NativeEnv` then keeps the Python callback, which gives the same results.
"""
from __future__ import annotations

import ctypes
import functools
import glob
import hashlib
import os
import subprocess
import sys
import tempfile
import warnings

import jax
import jaxlib
import mujoco
import numpy as np

from glam_jax import compile_cache

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'native_step.cc')
TARGET = 'glam_mj_step'


def _mujoco_library() -> str:
  found = sorted(glob.glob(os.path.join(os.path.dirname(mujoco.__file__), 'libmujoco.so*')))
  if not found:
    raise FileNotFoundError(f'no libmujoco.so in {os.path.dirname(mujoco.__file__)}')
  return found[-1]


def library_path() -> str:
  """Where the built library lives: named by a hash of its source and of the versions it is built against."""
  with open(SOURCE, 'rb') as f:
    tag = hashlib.sha256(f.read() + f'{mujoco.__version__} {jaxlib.__version__} {sys.platform}'.encode()).hexdigest()
  cache = os.environ.get('GLAM_JAX_CACHE') or compile_cache.DEFAULT_DIR
  return os.path.join(os.path.dirname(os.path.abspath(cache)), 'native', f'native_step-{tag[:12]}.so')


def build(path: str) -> None:
  """Compiles native_step.cc into `path` (atomically: a concurrent build or a crash leaves no half file)."""
  mujoco_lib = _mujoco_library()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fd, tmp = tempfile.mkstemp(suffix='.so', dir=os.path.dirname(path))
  os.close(fd)
  command = [os.environ.get('CXX', 'g++'), '-O2', '-std=c++17', '-shared', '-fPIC', '-pthread',
             '-I', jax.ffi.include_dir(), '-I', os.path.join(os.path.dirname(mujoco.__file__), 'include'),
             SOURCE, '-o', tmp, mujoco_lib, f'-Wl,-rpath,{os.path.dirname(mujoco_lib)}']
  try:
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode:
      raise RuntimeError(f'{" ".join(command)} failed:\n{done.stderr[-2000:]}')
    os.replace(tmp, path)
  finally:
    if os.path.exists(tmp):
      os.remove(tmp)


@functools.cache
def library():
  """The loaded library, its FFI target registered with jax; None (with one warning saying why) where it
  cannot be built or loaded. GLAM_NATIVE_FFI=0 turns it off."""
  if os.environ.get('GLAM_NATIVE_FFI', '1') == '0':
    return None
  path = library_path()
  try:
    if not os.path.exists(path):
      build(path)
    lib = ctypes.CDLL(path)
    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(lib.GlamMjStep), platform='cpu')
  except (OSError, RuntimeError, subprocess.SubprocessError, AttributeError) as e:
    warnings.warn(f'native physics keeps the Python callback (slower at small batches): {e}', RuntimeWarning,
                  stacklevel=2)
    return None
  lib.glam_register_simulator.argtypes = [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                          ctypes.c_int64, ctypes.c_int64]
  lib.glam_register_simulator.restype = ctypes.c_int
  return lib


def register(model: mujoco.MjModel, reference: mujoco.MjData, addresses: np.ndarray, threads: int) -> int | None:
  """Registers a simulator of `model` whose output columns are the doubles at `addresses` in `reference`
  (an MjData of `model`), on `threads` threads; returns the key that compiled programs name it by (a hash
  of the model, the columns and the thread count: the same in every process), or None without the
  library."""
  lib = library()
  if lib is None:
    return None
  saved = np.empty(mujoco.mj_sizeModel(model), np.uint8)
  mujoco.mj_saveModel(model, None, saved)
  base = min(int(a) for a in addresses) if len(addresses) else 0
  digest = hashlib.sha256(saved.tobytes() + (np.asarray(addresses, np.int64) - base).tobytes()
                          + f'{threads}'.encode()).digest()
  key = int.from_bytes(digest[:8], 'little', signed=True)
  addresses = np.ascontiguousarray(addresses, np.int64)
  if lib.glam_register_simulator(key, model._address, reference._address, addresses.ctypes.data, len(addresses),
                                 threads):
    raise RuntimeError('native physics: an output column lies outside MjData.buffer')
  return key


def step(key: int, nstep: int, states: jax.Array, output_size: int) -> jax.Array:
  """(*batch, state size) float32 integration states -> (*batch, output_size) float32: `time` and the
  registered columns after mj_step x nstep (mj_forward when 0), in one call for the whole (vmapped) batch."""
  out = jax.ShapeDtypeStruct(states.shape[:-1] + (output_size,), np.float32)
  return jax.ffi.ffi_call(TARGET, out, vmap_method='broadcast_all')(
      states.astype(np.float32), key=np.int64(key), nstep=np.int64(nstep))
