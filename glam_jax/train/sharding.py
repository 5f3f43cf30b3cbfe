"""Data parallelism with `jax.jit` + `jax.sharding`: one `data` mesh axis over every device of every process.

Parameters and optimiser state are replicated; a batch is split along its leading axis. Each process loads
its own slice of the global batch (the pipeline slices by process) and `global_batch` assembles the slices
into one global array, so the same code runs on one CPU, one GPU, or a multi-host TPU pod. Several processes
join through `maybe_initialize_distributed` (flags, environment or cluster detection; docs/multihost.md).
"""
from __future__ import annotations

import os

import jax
import numpy as np
from absl import flags
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from glam_jax.configs import ConfigError

DATA_AXIS = 'data'
SWEEP_AXIS = 'sweep'

FLAG_NAMES = ('coordinator_address', 'num_processes', 'process_id')


def define_flags() -> None:
  """--coordinator_address, --num_processes, --process_id for the training tools; defined once per process
  (a process may import both tools)."""
  if 'coordinator_address' in flags.FLAGS:
    return
  flags.DEFINE_string('coordinator_address', None, 'host:port of process 0 for jax.distributed.initialize '
                      '(default: $JAX_COORDINATOR_ADDRESS, or detected under SLURM / with GLAM_DISTRIBUTED=1).')
  flags.DEFINE_integer('num_processes', None, 'How many processes train together (default: $JAX_NUM_PROCESSES '
                       'or detected).')
  flags.DEFINE_integer('process_id', None, 'This process\'s index, 0 .. num_processes - 1 (default: '
                       '$JAX_PROCESS_ID or detected).')


def _env_int(env, name: str) -> int | None:
  value = env.get(name, '').strip()
  if not value:
    return None
  try:
    return int(value)
  except ValueError:
    raise ConfigError(f'{name}={value!r} is not an integer') from None


def distributed_args(coordinator_address: str | None = None, num_processes: int | None = None,
                     process_id: int | None = None, env=None) -> dict | None:
  """The arguments for `jax.distributed.initialize`, or None for a single process.

  Each setting comes from the argument (a flag), else JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES /
  JAX_PROCESS_ID (jax 0.6 itself reads only the first), else is left None for JAX's cluster detection, which
  is used under `srun` with several tasks (SLURM_STEP_NUM_TASKS > 1; not in the batch script itself) or with
  GLAM_DISTRIBUTED=1 (a TPU pod slice, Open MPI); GLAM_DISTRIBUTED=0 turns detection off. Inconsistent
  settings raise ConfigError (a ValueError; one line from the tools) here, not a hang in the connect.
  """
  env = os.environ if env is None else env
  address = coordinator_address or env.get('JAX_COORDINATOR_ADDRESS') or None
  count = num_processes if num_processes is not None else _env_int(env, 'JAX_NUM_PROCESSES')
  index = process_id if process_id is not None else _env_int(env, 'JAX_PROCESS_ID')
  switch = env.get('GLAM_DISTRIBUTED', '').strip()
  detect = switch == '1' or (switch != '0' and (_env_int(env, 'SLURM_STEP_NUM_TASKS') or 1) > 1)
  if count is not None and count < 1:
    raise ConfigError(f'num_processes must be at least 1, got {count}')
  if index is not None and index < 0:
    raise ConfigError(f'process_id must be non-negative, got {index}')
  if count is not None and index is not None and index >= count:
    raise ConfigError(f'process_id {index} is out of range for num_processes {count} (ids run 0 .. {count - 1})')
  if count == 1 and not index:
    return None                           # explicitly one process
  if address is None and count is None and index is None and not detect:
    return None
  if not detect:
    missing = [n for n, v in zip(FLAG_NAMES, (address, count, index)) if v is None]
    if missing:
      raise ConfigError(
          f'multi-process training needs --coordinator_address, --num_processes and --process_id (or '
          f'JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID); missing {", ".join(missing)}. Under SLURM '
          'launch with srun, on a TPU pod slice set GLAM_DISTRIBUTED=1 to have JAX detect them.')
  if address is not None and not address.rpartition(':')[2].isdigit():
    raise ConfigError(f'coordinator address {address!r} is not host:port')
  return {'coordinator_address': address, 'num_processes': count, 'process_id': index}


def _gloo_on_cpu() -> None:
  """CPU processes need gloo for cross-process collectives (jax 0.6.2's default; older versions had none):
  set it unless the user chose (e.g. mpi); an option a later jax renamed or dropped is left to its default."""
  if os.environ.get('JAX_CPU_COLLECTIVES_IMPLEMENTATION'):
    return                                # the user's choice (e.g. mpi)
  try:
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  except (AttributeError, ValueError):
    pass


def maybe_initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                                  process_id: int | None = None) -> bool:
  """`jax.distributed.initialize()` when this is one of several processes (`distributed_args`: arguments,
  then the flags of `define_flags` when a tool defined and parsed them, then the environment). Must run
  before anything touches a JAX device. -> whether this process is one of several."""
  if jax.distributed.is_initialized():
    return True
  given = [coordinator_address, num_processes, process_id]
  if 'coordinator_address' in flags.FLAGS and flags.FLAGS.is_parsed():
    given = [v if v is not None else flags.FLAGS[n].value for n, v in zip(FLAG_NAMES, given)]
  args = distributed_args(*given)
  if args is None:
    return False
  _gloo_on_cpu()
  jax.distributed.initialize(**args)
  # The first collective sets up gloo's cross-process context, which waits only 30 s for the other processes:
  # run it now, while they are in step, not later, when one may still compile what another loaded from cache.
  multihost_utils.sync_global_devices('glam_jax: processes connected')
  return True


def make_mesh(devices=None) -> Mesh:
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def training_devices() -> list:
  """The devices one training run's batch is split over: every device, but on CPU one per process. XLA's
  CPU devices here are virtual slices of the same cores (the tools force one per core, for the simulator's
  batches); a conv-net step on one device threads its kernels over every core, and ran 1.9x faster than
  split over two (cpu-size lift world model on the 2-core VM: 5.3 against 2.8 steps/s; tools/bench_train.py
  measures both)."""
  if jax.devices()[0].platform != 'cpu':
    return jax.devices()
  first = {}
  for d in jax.devices():
    first.setdefault(d.process_index, d)
  return [first[p] for p in sorted(first)]


def make_sweep_mesh(sweep_size: int, devices=None) -> Mesh:
  """A (`sweep`, `data`) mesh: stacked runs split over `sweep_size` device groups, each run's batch over
  the devices of its group."""
  devices = np.asarray(jax.devices() if devices is None else devices)
  return Mesh(devices.reshape(sweep_size, devices.size // sweep_size), (SWEEP_AXIS, DATA_AXIS))


def sweep_sharding(mesh: Mesh) -> NamedSharding:
  """Arrays stacked over runs (parameters, optimiser state, keys): one slice of runs per device group."""
  return NamedSharding(mesh, PartitionSpec(SWEEP_AXIS))


def stacked_batch_sharding(mesh: Mesh) -> NamedSharding:
  """(runs, batch, ...) arrays: runs over `sweep`, each run's batch over `data`."""
  return NamedSharding(mesh, PartitionSpec(SWEEP_AXIS, DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_batch_size(global_batch: int, mesh: Mesh) -> None:
  n = mesh.shape[DATA_AXIS]
  if global_batch % n:
    raise ValueError(f'batch_size {global_batch} is not divisible by the {n} devices of the mesh\'s data axis')


def global_batch(local_batch, mesh: Mesh, sharding: NamedSharding | None = None):
  """This process's slice of a batch (numpy pytree) -> global jax arrays sharded along `data` (or as
  `sharding` says)."""
  sharding = batch_sharding(mesh) if sharding is None else sharding
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), local_batch)
