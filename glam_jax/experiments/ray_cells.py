"""The suite's cells as Ray tasks: `tools/run_suite.py --executor=ray [--ray_address=auto|HOST:PORT]`.

Each cell not yet done runs `suite.run_cell` in a Ray worker with the resources the preset gives a cell
(`resources.cpus`, `resources.gpus`); the driver writes `cells.json` as cells finish and the report at the
end, as the local executor does. Two modes:
- the workdir on a file system every node sees (the main mode): a cell writes its directory there, and a cell
  retried after its worker or node was lost (Ray retries a task whose process died, `max_retries`) resumes
  from its finished stages;
- no shared file system: each cell works in the same path on its own node, its record (the results the
  report needs) comes back to the driver, and a retried cell on another node starts from scratch.
The driver's XLA, BLAS and thread settings are the workers' too (`PINNED`), so a cell computes the same
numbers under either executor. Ctrl-C or SIGTERM on the driver cancels the running cells; a Ray started by
the driver (no address) is shut down with its workers.
"""
from __future__ import annotations

import os
import signal
import time

from glam_jax import allocator, compile_cache
from glam_jax.experiments import protocol, suite
from glam_jax.experiments.stages import say, write_json

# environment the cells' numbers depend on (XLA's device count and threads, BLAS threads): the driver's
PINNED = ('XLA_FLAGS', 'OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'JAX_PLATFORMS', 'GLAM_JAX_CACHE',
          'GLAM_NATIVE_RENDER', 'GLAM_NATIVE_FFI', 'JAX_ENABLE_X64')
MAX_RETRIES = 2


def _cell_task(cell, workdir: str, prev, commit: str) -> dict:
  """In the worker: runs the cell, its log lines printed (Ray forwards them to the driver) and kept in
  `<cell dir>/cell.log`."""
  compile_cache.enable()                # the persistent cache the local executor uses: no cold compiles
  allocator.keep_freed_memory()         # as every tool does (glam_jax/cli.py): no page faults every step
  d = cell.directory(workdir)
  os.makedirs(d, exist_ok=True)
  with open(os.path.join(d, 'cell.log'), 'a') as f:
    def log(message):
      print(message, flush=True)
      f.write(message + '\n')
      f.flush()
    return suite.run_cell(cell, workdir, prev, commit, log)


def run_cells(cells: list, workdir: str, address: str = '', cpus: float = 1, gpus: float = 0, log=say,
              commit: str = '') -> dict:
  """Runs every cell not yet finished as a Ray task; returns `cells.json`'s record (as `suite.run_cells`)."""
  import ray
  path = os.path.join(workdir, 'cells.json')
  status = suite.read_status(workdir)
  todo = []
  for i, cell in enumerate(cells, 1):
    prev = status.get(cell.name)
    if prev and prev['key'] == cell.key and prev['status'] == 'done':
      log(f'[cell {i}/{len(cells)}] {cell.name}: done earlier ({prev["seconds"]:.0f} s), skipped')
    else:
      todo.append(cell)
  if not todo:
    return status
  env = {k: os.environ[k] for k in PINNED if k in os.environ}
  started = not address
  if started:                            # no metrics agent runs here: its exporter would log an error per process
    os.environ.setdefault('RAY_enable_metrics_collection', '0')
  ray.init(address=address or None, include_dashboard=False, log_to_driver=True, runtime_env={'env_vars': env},
           **({'num_cpus': os.cpu_count()} if started else {}))
  task = ray.remote(_cell_task).options(num_cpus=cpus, num_gpus=gpus, max_retries=MAX_RETRIES)
  pending = {task.remote(cell, os.path.abspath(workdir), status.get(cell.name), commit): cell for cell in todo}
  log(f'{len(pending)} cells on Ray ({ray.cluster_resources().get("CPU", 0):.0f} CPUs in the cluster, '
      f'{cpus} per cell)')

  def interrupted(signum, frame):
    raise KeyboardInterrupt
  previous = signal.signal(signal.SIGTERM, interrupted)
  t0 = time.time()
  try:
    while pending:
      done, _ = ray.wait(list(pending), num_returns=1)
      cell = pending.pop(done[0])
      try:
        record = ray.get(done[0])
      except Exception as e:        # noqa: BLE001 - lost beyond its retries: recorded, the others go on
        record = {'key': cell.key, 'status': 'failed', 'protocol_version': protocol.VERSION,
                  'error': f'{type(e).__name__}: {e}',
                  'dir': os.path.relpath(cell.directory(workdir), workdir), 'seconds': round(time.time() - t0, 1)}
      status[cell.name] = record
      write_json(path, status)
      log(f'{cell.name}: {record["status"]} ({record["seconds"]:.0f} s)'
          + (f': {record["error"]}' if record['status'] == 'failed' else '') + f'; {len(pending)} to go')
  except KeyboardInterrupt:
    log(f'interrupted: cancelling {len(pending)} running cells')
    for ref in pending:
      ray.cancel(ref, force=True)
    raise
  finally:
    signal.signal(signal.SIGTERM, previous)
    if started:
      ray.shutdown()
  return status
