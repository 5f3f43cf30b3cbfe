"""Native MuJoCo physics (`native_step.cc`) and the ray caster (`native_render.cc`) as XLA FFI calls on the
CPU: built once per machine with the system's C++ compiler against the installed jaxlib's FFI headers and
mujoco's library, and cached next to the compilation cache. Where it cannot be built (no compiler, no
headers), `library()` returns None and says why once; `NativeEnv` then keeps the Python callback and the
cameras the JAX ray caster, which give the same results.
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

_HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = tuple(os.path.join(_HERE, f) for f in ('native_step.cc', 'native_render.cc'))
HEADERS = (os.path.join(_HERE, 'native_pool.h'),)      # part of the library's hash, not compiled alone
TARGET = 'glam_mj_step'
RENDER_TARGET = 'glam_ray_render'


def _mujoco_library() -> str:
  found = sorted(glob.glob(os.path.join(os.path.dirname(mujoco.__file__), 'libmujoco.so*')))
  if not found:
    raise FileNotFoundError(f'no libmujoco.so in {os.path.dirname(mujoco.__file__)}')
  return found[-1]


def library_path() -> str:
  """Where the built library lives: named by a hash of its source and of the versions it is built against."""
  text = b''.join(open(source, 'rb').read() for source in SOURCES + HEADERS)
  tag = hashlib.sha256(text + f'{mujoco.__version__} {jaxlib.__version__} {sys.platform}'.encode()).hexdigest()
  cache = os.environ.get('GLAM_JAX_CACHE') or compile_cache.DEFAULT_DIR
  return os.path.join(os.path.dirname(os.path.abspath(cache)), 'native', f'native_step-{tag[:12]}.so')


def build(path: str) -> None:
  """Compiles the sources into `path` (atomically: a concurrent build or a crash leaves no half file)."""
  mujoco_lib = _mujoco_library()
  os.makedirs(os.path.dirname(path), exist_ok=True)
  fd, tmp = tempfile.mkstemp(suffix='.so', dir=os.path.dirname(path))
  os.close(fd)
  command = [os.environ.get('CXX', 'g++'), '-O3', '-fno-math-errno', '-std=c++17', '-shared', '-fPIC', '-pthread',
             '-I', jax.ffi.include_dir(), '-I', os.path.join(os.path.dirname(mujoco.__file__), 'include'),
             *SOURCES, '-o', tmp, mujoco_lib, f'-Wl,-rpath,{os.path.dirname(mujoco_lib)}']
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
    jax.ffi.register_ffi_target(RENDER_TARGET, jax.ffi.pycapsule(lib.GlamRayRender), platform='cpu')
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


TILE = 8     # native_render.cc's kTile


def tile_cones(rig) -> tuple:
  """Each camera's image cut into TILE x TILE tiles of rays: each tile's axis in the camera's frame (the
  normalised mean of its rays) and the cos and sin of its half-angle (the widest ray from the axis, plus a
  margin), (C, T, 3), (C, T), (C, T), tiles row by row."""
  num_cams, h, w = len(rig.names), rig.height, rig.width
  local = np.asarray(rig.local_dirs, np.float64).reshape(num_cams, h, w, 3)
  centres, halves = [], []
  for c in range(num_cams):
    for ty in range(0, h, TILE):
      for tx in range(0, w, TILE):
        rays = local[c, ty:ty + TILE, tx:tx + TILE].reshape(-1, 3)
        axis = rays.mean(0) / np.linalg.norm(rays.mean(0))
        centres.append(axis)
        halves.append(np.arccos(np.clip((rays @ axis).min(), -1, 1)) + 1e-4)
  tiles = len(centres) // num_cams
  halves = np.array(halves)
  return (np.array(centres, np.float32).reshape(num_cams, tiles, 3), np.cos(halves).astype(np.float32).reshape(num_cams, tiles),
          np.sin(halves).astype(np.float32).reshape(num_cams, tiles))


def ray_render(rig, geom_xpos: jax.Array, geom_xmat: jax.Array, bits: int, threads: int | None = None):
  """The ray caster of `camera.cast` + `camera.render` in one call for every environment of the (vmapped)
  batch: (rgb (..., C, H*W, 3) uint8, depth (..., C, H*W) float32, mask (..., C, H*W) uint8) for
  `geom_xpos` (..., G, 3) and `geom_xmat` (..., G, 3, 3) or (..., G, 9). Needs `library()`."""
  if library() is None:
    raise RuntimeError('the native ray caster is not built on this machine (see the warning above)')
  num_cams, rays = rig.dirs.shape[:2]
  batch = geom_xpos.shape[:-2]
  look = rig.appearance
  light = np.asarray(look.light_dir, np.float64) / np.linalg.norm(look.light_dir)
  from glam_jax.sim.camera import SKY      # camera imports this module lazily; no cycle at import time
  f32 = lambda x: np.ascontiguousarray(x, np.float32)
  static = (f32(rig.origins), f32(rig.dirs), f32(rig.forward), f32(rig.local_pos),
            f32(np.asarray(rig.local_rot).reshape(-1, 9)), f32(rig.local_dirs), f32(rig.geom_size), f32(rig.geom_rgb),
            np.ascontiguousarray(rig.anchor, np.int32), np.ascontiguousarray(rig.geom_type, np.int32),
            np.ascontiguousarray(rig.mask_geoms, np.uint8),
            f32([*light, look.ambient, look.checker, look.checker_contrast, *SKY]), *tile_cones(rig))
  out = (jax.ShapeDtypeStruct(batch + (num_cams, rays, 3), np.uint8),
         jax.ShapeDtypeStruct(batch + (num_cams, rays), np.float32),
         jax.ShapeDtypeStruct(batch + (num_cams, rays), np.uint8))
  mat = geom_xmat.reshape(geom_xmat.shape[:len(batch) + 1] + (9,))
  return jax.ffi.ffi_call(RENDER_TARGET, out, vmap_method='expand_dims')(
      geom_xpos.astype(np.float32), mat.astype(np.float32), *static, height=np.int64(rig.height),
      width=np.int64(rig.width), bits=np.int64(bits), threads=np.int64(threads or os.cpu_count() or 1))
