"""Data parallelism with `jax.jit` + `jax.sharding`: one `data` mesh axis over every device of every process.

Parameters and optimiser state are replicated; a batch is split along its leading axis. Each process loads
its own slice of the global batch (the pipeline slices by process) and `global_batch` assembles the slices
into one global array, so the same code runs on one CPU, one GPU, or a multi-host TPU pod.
"""
from __future__ import annotations

import os

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = 'data'
SWEEP_AXIS = 'sweep'


def maybe_initialize_distributed() -> None:
  """`jax.distributed.initialize()` when launched as one of several processes (coordinator in the
  environment, or a cluster JAX detects by itself, e.g. a TPU pod slice with GLAM_DISTRIBUTED=1)."""
  if os.environ.get('JAX_COORDINATOR_ADDRESS') or os.environ.get('GLAM_DISTRIBUTED') == '1':
    jax.distributed.initialize()


def make_mesh(devices=None) -> Mesh:
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA_AXIS,))


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
