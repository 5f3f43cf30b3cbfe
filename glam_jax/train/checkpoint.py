"""Orbax checkpoints of a run: the train state and the Grain iterator, saved together, asynchronously.

Saving both in one composite checkpoint means a resumed run continues with exactly the batches the
interrupted run would have seen next. Restoring puts every array on the shardings of the state the caller
built, so a run can resume on a different device count.

A save that fails (a full disk, a lost mount) is reported as `CheckpointWriteError` naming the step, the
reason and the last complete checkpoint, which Orbax's write-then-rename leaves intact; the partial
`<step>.orbax-checkpoint-tmp` directory is removed when the run is restarted.
"""
from __future__ import annotations

import contextlib
import os

from glam_jax import quiet  # noqa: F401  (before MJX and Grain: drops two notices)
import grain
import jax
import orbax.checkpoint as ocp

from glam_jax.data.writer import write_failure_reason


class CheckpointWriteError(OSError):
  """Writing a checkpoint failed; the previous complete one is kept."""


def complete_steps(directory: str) -> list:
  """The steps whose checkpoint in `directory` was written whole (Orbax renames a finished save to its
  step); [] when there is none. Reads the directory only, without opening a manager."""
  if not os.path.isdir(directory):
    return []
  return sorted(int(d) for d in os.listdir(directory) if d.isdigit())


class Checkpointer:
  def __init__(self, directory: str, max_to_keep: int = 3, asynchronous: bool = True):
    self.directory = os.path.abspath(directory)
    self.manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, enable_async_checkpointing=asynchronous, create=True,
            cleanup_tmp_directories=True))
    self._writing = None          # the step of the save in flight (asynchronous saves fail later)

  def _complete_steps(self) -> list:
    return complete_steps(self.directory)

  @contextlib.contextmanager
  def _writes(self):
    """Turns a failed write (surfacing now or from an earlier asynchronous save) into one clear error."""
    try:
      yield
    except Exception as e:  # noqa: BLE001 -- Orbax and TensorStore raise ValueErrors/RuntimeErrors
      reason = write_failure_reason(e)
      failed = self._writing
      done = [s for s in self._complete_steps() if s != failed]
      kept = f'step {done[-1]} is intact and a rerun resumes from it' if done else 'no earlier checkpoint exists'
      raise CheckpointWriteError(f'{self.directory}: writing checkpoint {failed} failed: {reason}; the last '
                                 f'complete checkpoint, {kept}. Free space (or fix the file system) and '
                                 'rerun the same command.') from e

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def save(self, step: int, state, iterator=None, force: bool = False, layout: dict | None = None) -> None:
    """`layout`: how the iterator reads (worker and process counts); a restore under another is refused."""
    items = {'state': ocp.args.StandardSave(state)}
    if iterator is not None:
      items['data'] = grain.checkpoint.CheckpointSave(iterator)
    if layout is not None:
      items['layout'] = ocp.args.JsonSave(layout)
    self.wait()                   # the previous save's failure is reported as that step's
    self._writing = step
    with self._writes():
      self.manager.save(step, args=ocp.args.Composite(**items), force=force)

  def restore(self, state_like, iterator=None, step: int | None = None):
    """(state, iterator) at `step` (default: the latest), arrays placed like `state_like`'s (arrays, or
    `jax.ShapeDtypeStruct`s with shardings). Check the iterator's layout first (`check_layout`)."""
    step = self.latest_step() if step is None else step
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state_like)
    items = {'state': ocp.args.StandardRestore(abstract)}
    if iterator is not None:
      items['data'] = grain.checkpoint.CheckpointRestore(iterator)
    out = self.manager.restore(step, args=ocp.args.Composite(**items))
    return out['state'], (out['data'] if iterator is not None else None)

  def check_layout(self, step: int, layout: dict) -> None:
    """Refuses an iterator saved under another layout (worker or process count): Grain would restore it and
    silently yield other batches than the saved run would have."""
    path = os.path.join(self.directory, str(step), 'layout')
    if not os.path.exists(path):
      return                                  # saved before layouts were recorded
    saved = self.manager.restore(step, args=ocp.args.Composite(layout=ocp.args.JsonRestore()))['layout']
    diff = {k: (saved.get(k), v) for k, v in layout.items() if saved.get(k) != v}
    if diff:
      what = '; '.join(f'{k}: saved with {a}, now {b}' for k, (a, b) in diff.items())
      raise ValueError(
          f'{self.directory}/{step}: the data iterator was saved under another layout ({what}); restored '
          'under this one it would yield other batches than the interrupted run. Resume with the saved '
          f'values (e.g. --config.num_workers={saved.get("num_workers")} on {saved.get("process_count")} '
          'process(es)), or start a new workdir.')

  def wait(self) -> None:
    with self._writes():
      self.manager.wait_until_finished()
    self._writing = None

  def close(self) -> None:
    self.wait()
    self.manager.close()


def saved_params(directory: str):
  """The parameters of the latest checkpoint under `directory`, as saved, without knowing the model that
  saved them (for initialising another model from them: `loop.init_from`). Restored onto one local device."""
  directory = os.path.abspath(directory)
  steps = [int(d) for d in os.listdir(directory) if d.isdigit()] if os.path.isdir(directory) else []
  if not steps:
    raise FileNotFoundError(f'{directory}: no checkpoint to initialise from')
  path = os.path.join(directory, str(max(steps)), 'state')
  checkpointer = ocp.StandardCheckpointer()
  meta = checkpointer.metadata(path)
  tree = getattr(meta, 'item_metadata', meta)
  tree = getattr(tree, 'tree', tree)
  one = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=one), tree)
  return checkpointer.restore(path, abstract)['params']
