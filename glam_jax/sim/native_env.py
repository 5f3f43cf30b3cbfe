"""The env on native MuJoCo: `NativeEnv(env)` has `env`'s pure `reset`/`step` and `State`, with C MuJoCo
(float64) doing the physics. For evaluation on CPU, where MJX is several times slower than C MuJoCo
(DESIGN.md §3) and its step takes tens of seconds to compile.

Only the physics changes (`Env.forward`, `Env.advance`): the state goes to C MuJoCo in one call for a
whole vmapped batch, each environment is set into a scratch `MjData` and stepped `n_substeps` by `mj_step`
on threads, and every public field of `mjx.Data` comes back as MuJoCo left it. The call is an XLA FFI
call into C++ (`native_ffi`, built on first use) or, where that cannot be built, `jax.pure_callback` into
`NativeSimulator` (a pool of Python threads; MuJoCo releases the GIL): the two give bitwise the same
states. So observations, success, rendering, controllers and action-space converters read the same
quantities as on MJX, which also leaves the kinematics of the last substep's start after a step. MJX-JAX's
internals (`data._impl`: contacts, constraint rows, mass matrix) are not kept: `NoMJXInternals` stands in
for them.

A step depends only on its inputs (MuJoCo's integration state, warm start of the solver included), so the
callback is pure and works under `jit`, `vmap` and loops; the state is rounded to float32 between control
steps, as `State` holds it. A sharded batch is gathered to one device for the callback.

Where the time goes (Kinova lift, 8 envs, 2-core CPU, jax 0.6.2): through the Python callback ~1.45 ms a
control step, of which mj_step 0.65 ms (4 envs on each of 2 threads), handing half the batch to the second
thread ~0.2 ms, and the callback itself ~0.3 ms (jax's pure_callback places its arguments on a device and
converts its results in Python; a trivial one costs as much). The env's own JAX work is ~0.04 ms. The FFI
call removes the last two: 1.44x the callback's control steps/s at 8 envs with a policy, 4.4x at 1
(tools/bench_eval.py --backends=native,native_callback).
"""
from __future__ import annotations

import ctypes
import dataclasses
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import jax
from glam_jax import quiet  # noqa: F401  (before MJX and Grain: drops two notices)
import mujoco
import numpy as np
from flax import struct
from mujoco import mjx

from glam_jax.sim import native_ffi
from glam_jax.sim.env import Env

# everything `mj_step` reads besides the model, in the order of `mj_getState`'s vector
STATE_SPEC = mujoco.mjtState.mjSTATE_INTEGRATION
# what a step leaves unchanged: the controls and applied forces of that integration state
_INPUT_ONLY = ('ctrl', 'qfrc_applied', 'xfrc_applied', 'eq_active', 'mocap_pos', 'mocap_quat', 'userdata')
PUBLIC_FIELDS = tuple(f.name for f in dataclasses.fields(mjx.Data) if not f.name.startswith('_'))
# what comes back from the host: `time`, then the arrays, in this order
OUTPUT_FIELDS = ('time',) + tuple(f for f in PUBLIC_FIELDS if f not in _INPUT_ONLY + ('time',))


@struct.dataclass
class NoMJXInternals:
  """`mjx.Data._impl` of a native state: no arrays. C MuJoCo makes its contacts and constraint rows in a
  scratch `MjData` and drops them; carrying MJX's (stale) ones instead would cost every compiled call ~35
  more arrays (a program with a host callback is dispatched in Python, array by array: measured 1.9 instead
  of 2.8 ms a call), and MJX's own physics refuses this data rather than reading them."""


def default_threads() -> int:
  return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)


class _Columns:
  """The `OUTPUT_FIELDS` arrays of one `MjData` as one float64 view of the memory that holds them (MuJoCo
  allocates them in one buffer, in the same layout for every `MjData` of a model) and the columns of that
  view each field occupies: reading a whole state is one gather instead of one Python call per field."""

  def __init__(self, d: mujoco.MjData):
    arrays = {f: getattr(d, f) for f in OUTPUT_FIELDS[1:] if getattr(d, f).size}
    bad = [f for f, a in arrays.items() if a.dtype != np.float64]
    if bad:
      raise RuntimeError(f'MjData fields {bad} are not float64 in mujoco {mujoco.__version__}')
    self.base = min(a.ctypes.data for a in arrays.values())
    end = max(a.ctypes.data + a.nbytes for a in arrays.values())
    offsets = {f: a.ctypes.data - self.base for f, a in arrays.items()}
    if self.base % 8 or any(o % 8 for o in offsets.values()):
      raise RuntimeError('MjData arrays are not 8-byte aligned')
    self.offsets = offsets
    self._owner = d                        # the view below reads its memory
    self.view = np.ctypeslib.as_array((ctypes.c_double * ((end - self.base) // 8)).from_address(self.base))
    self.index = np.concatenate([np.arange(o // 8, o // 8 + arrays[f].size) for f, o in offsets.items()])


class NativeSimulator:
  """Steps batches of integration states, (n, state size) arrays, with C MuJoCo: contiguous slices of the
  batch on `threads` threads, each with its own scratch `MjData`."""

  def __init__(self, model: mujoco.MjModel, threads: int, ffi: bool = True):
    if threads < 1:
      raise ValueError(f'threads must be at least 1, got {threads}')
    self.model = model
    self._datas = [mujoco.MjData(model) for _ in range(threads)]
    missing = [f for f in PUBLIC_FIELDS if not hasattr(self._datas[0], f)]
    if missing:
      raise RuntimeError(f'mujoco {mujoco.__version__} MjData lacks mjx.Data fields {missing}; install mujoco and '
                         'mujoco-mjx of the same version')
    self._columns = [_Columns(d) for d in self._datas]
    if any(c.offsets != self._columns[0].offsets for c in self._columns):
      raise RuntimeError('MjData of one model differ in memory layout')
    self.state_size = mujoco.mj_stateSize(model, STATE_SPEC)
    self.output_size = 1 + len(self._columns[0].index)       # time, then the arrays
    self._pool = ThreadPoolExecutor(threads - 1, thread_name_prefix='mujoco') if threads > 1 else None
    self._lock = threading.Lock()          # the scratch MjData are shared by every call
    columns = self._columns[0]
    # the same step in C++ as an XLA FFI call (native_ffi) where it builds and programs run on the CPU (the
    # target is registered for the CPU only; on an accelerator the callback moves the batch): `ffi_key`
    # names it, else None
    ffi = ffi and jax.default_backend() == 'cpu'
    self.ffi_key = native_ffi.register(model, self._datas[0], columns.base + 8 * columns.index, threads) if ffi else None

  @property
  def threads(self) -> int:
    return len(self._datas)

  def run(self, nstep: int, states: np.ndarray) -> np.ndarray:
    """(n, state_size) -> (n, output_size) float64: `time` and the arrays of `OUTPUT_FIELDS` (each
    flattened) after `mj_step` x nstep from each state, or `mj_forward` when nstep is 0."""
    states = np.asarray(states, np.float64)
    if states.ndim != 2 or states.shape[1] != self.state_size:
      raise ValueError(f'states have shape {states.shape}; expected (n, {self.state_size})')
    n = len(states)
    out = np.empty((n, self.output_size))
    k = max(1, min(self.threads, n))
    jobs = [(j, nstep, states, out, n * j // k, n * (j + 1) // k) for j in range(k)]
    with self._lock:
      # the calling thread takes the first slice itself: one hand-over fewer
      futures = [self._pool.submit(self._run_slice, *job) for job in jobs[1:]]
      self._run_slice(*jobs[0])
      for f in futures:
        f.result()
    return out

  def _run_slice(self, j: int, nstep: int, states: np.ndarray, out: np.ndarray, lo: int, hi: int) -> None:
    m, d, columns = self.model, self._datas[j], self._columns[j]
    for i in range(lo, hi):
      mujoco.mj_setState(m, d, states[i], STATE_SPEC)
      if nstep:
        mujoco.mj_step(m, d, nstep)
      else:
        mujoco.mj_forward(m, d)
      out[i, 0] = d.time
      np.take(columns.view, columns.index, out=out[i, 1:])

  def output_layout(self) -> dict:
    """field -> (start, stop) columns of `run`'s output, for the non-empty fields."""
    layout, start = {'time': (0, 1)}, 1
    d = self._datas[0]
    for f in self._columns[0].offsets:
      layout[f] = (start, start + getattr(d, f).size)
      start += getattr(d, f).size
    return layout


class NativeEnv(Env):
  """`env` (its models, addresses, task, camera rig: nothing is rebuilt) with C MuJoCo physics on `threads`
  threads (default: the CPUs this process may use)."""
  # the callback gathers a sharded batch onto one device every step: keep it there (measured on 2 CPU
  # devices, lift with rendering, 64 envs, random actions: 380 control steps/s on one device, 220 split)
  shard_batch = False

  def __init__(self, env: Env, threads: int = 0, ffi: bool = True):
    if isinstance(env, NativeEnv):
      raise TypeError('env already runs on native MuJoCo')
    vars(self).update(vars(env))
    self._template = env._template.replace(_impl=NoMJXInternals())
    self.simulator = NativeSimulator(env.mj_model, threads or default_threads(), ffi)
    self._layout = self.simulator.output_layout()

  def forward(self, data: mjx.Data) -> mjx.Data:
    return self._physics(data, 0)

  def advance(self, data: mjx.Data) -> mjx.Data:
    return self._physics(data, self.n_substeps)

  def _physics(self, data: mjx.Data, nstep: int) -> mjx.Data:
    state = mjx.get_state(self.mjx_model, data, STATE_SPEC)
    shapes = {f: jax.ShapeDtypeStruct(getattr(data, f).shape, getattr(data, f).dtype) for f in self._layout}
    if self.simulator.ffi_key is not None:
      flat = native_ffi.step(self.simulator.ffi_key, nstep, state, self.simulator.output_size)
      return data.replace(**{f: flat[..., a:b].reshape(flat.shape[:-1] + shapes[f].shape).astype(shapes[f].dtype)
                             for f, (a, b) in self._layout.items()})
    # one callback output per field, so the compiled loop does not slice them out of one array
    out = jax.pure_callback(lambda s: self._host_run(nstep, s, shapes), shapes, state, vmap_method='broadcast_all')
    return data.replace(**out)

  def _host_run(self, nstep: int, state, shapes: dict) -> dict:
    """The callback: (*batch, state size) -> {field: (*batch, *mjx shape)}, any leading batch axes."""
    state = np.asarray(state)
    batch = state.shape[:-1]
    out = self.simulator.run(nstep, state.reshape(math.prod(batch), state.shape[-1]))
    return {f: out[:, a:b].reshape(batch + shapes[f].shape).astype(shapes[f].dtype)
            for f, (a, b) in self._layout.items()}
