"""The one training loop every model uses (world models, policies, baselines).

A model contributes a *learner*, `init(rng, batch) -> params` and `loss(params, batch, rng) -> (loss,
metrics)`, plus the pipeline configs of its batches; the loop does the rest: the device mesh and shardings,
AdamW, the jitted step, metrics (JSON lines, TensorBoard, a tqdm bar), held-out evaluation, and Orbax
checkpoints of the train state with the Grain iterator. A rerun in the same workdir resumes from the
latest checkpoint and reproduces the uninterrupted run: the step's random key is `fold_in(seed, step)` and
the iterator continues where it was saved.

Loop settings read from the config: `seed`, `num_steps`, `batch_size`, `optimizer.{learning_rate,
warmup_steps, weight_decay, grad_clip}`, `log_every`, `eval_every`, `eval_batches`, `checkpoint_every`,
`keep_checkpoints`; optionally `init_from` (another run's workdir: a fresh run starts from its parameters,
see `init_from`), `init_from_key`, `init_from_exclude` (beside what the learner's `fresh_on_init` names).
"""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from glam_jax.data import pipeline
from glam_jax.train import checkpoint, metrics, sharding
from glam_jax.train import state as state_lib


class Learner(Protocol):
  def init(self, rng: jax.Array, batch: dict) -> Any: ...
  def loss(self, params, batch: dict, rng: jax.Array) -> tuple[jax.Array, dict]: ...


def _mean_metrics(rows: list) -> dict:
  return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


class NonFiniteError(FloatingPointError):
  """A training step produced a NaN or Inf; its update was not applied."""


def make_train_step(learner: Learner, tx: optax.GradientTransformation, base: jax.Array) -> Callable:
  """The jit-able update; the step's random key is `fold_in(base, step)`, so a resumed run replays it. A
  step whose loss terms or gradient norm are not finite leaves the state as it was (`finite` False), so
  the state the loop may still checkpoint is the last good one."""

  def train_step(state: state_lib.TrainState, batch):
    rng = jax.random.fold_in(base, state.step)
    (_, out), grads = jax.value_and_grad(learner.loss, has_aux=True)(state.params, batch, rng)
    out = {**out, 'grad_norm': optax.global_norm(grads)}
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree.leaves(out)]))
    updated = state_lib.apply_gradients(state, grads, tx)
    kept = jax.tree.map(lambda new, old: jnp.where(finite, new, old), updated, state)
    return kept, {**out, 'finite': finite}

  return train_step


def check_finite(rows: list, first_step: int, ids: list, source_names: list, last_good) -> None:
  """Raises NonFiniteError at the first of `rows` (the metrics of steps first_step, first_step + 1, ...)
  that is not finite, naming its step, its non-finite terms and its batch's (source, episode, step) ids."""
  for i, row in enumerate(rows):
    if bool(row['finite']):
      continue
    terms = [k for k, v in row.items() if k != 'finite' and not np.all(np.isfinite(v))]
    src, ep, t = ids[i]
    bad = [f'({source_names[a]}, {b}, {c})' for a, b, c in zip(src, ep, t)]
    raise NonFiniteError(
        f'step {first_step + i}: non-finite {", ".join(terms)}; its update was not applied. The batch held '
        f'(source, episode, step) {", ".join(bad[:16])}' + (f' and {len(bad) - 16} more' if len(bad) > 16 else '')
        + (f'. The last good checkpoint is step {last_good}.' if last_good else '. No checkpoint was saved yet.'))


def make_optimizer(config) -> optax.GradientTransformation:
  o = config.optimizer
  return state_lib.make_optimizer(o.learning_rate, config.num_steps, o.warmup_steps, o.weight_decay, o.grad_clip)


def evaluate(loss_fn: Callable, params, eval_ds, num_batches: int, mesh) -> dict:
  """Mean metrics over the first `num_batches` batches of the held-out dataset (the same batches each time)."""
  it = iter(eval_ds.to_iter_dataset())
  rows = []
  for _ in range(num_batches):
    rows.append(jax.device_get(loss_fn(params, sharding.global_batch(next(it), mesh))))
  return _mean_metrics(rows)


def train(config, learner: Learner, train_data: pipeline.PipelineConfig, workdir: str,
          eval_data: pipeline.PipelineConfig | None = None, progress: bool = True) -> dict:
  """Trains (or resumes) to `config.num_steps`; returns the last logged and evaluated metrics."""
  os.makedirs(workdir, exist_ok=True)
  mesh = sharding.make_mesh()
  sharding.check_batch_size(train_data.batch_size, mesh)
  repl, data_sharding = sharding.replicated(mesh), sharding.batch_sharding(mesh)

  ds, _ = pipeline.make_dataset(train_data)
  iterator = pipeline.make_iterator(ds, train_data)
  tx = make_optimizer(config)
  init_key, train_key, eval_key = jax.random.split(jax.random.PRNGKey(config.seed), 3)
  sample = sharding.global_batch(ds[0], mesh)
  state = jax.jit(lambda k, b: state_lib.create(learner.init(k, b), tx), out_shardings=repl)(init_key, sample)

  ckpt = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'), config.keep_checkpoints)
  start = ckpt.latest_step() or 0
  layout = {'num_workers': train_data.num_workers, 'process_count': jax.process_count()}
  if start:
    state, iterator = ckpt.restore(state, iterator, start, layout)
  elif config.get('init_from'):
    exclude = tuple(config.get('init_from_exclude', ())) + tuple(getattr(learner, 'fresh_on_init', ()))
    params, report = init_from(state.params, config.init_from, config.get('init_from_key', ''), exclude)
    state = jax.jit(lambda p: state_lib.create(p, tx), out_shardings=repl)(jax.device_put(params, repl))
    if jax.process_index() == 0:
      print(report, flush=True)
  if jax.process_index() == 0:
    with open(os.path.join(workdir, 'config.json'), 'w') as f:
      f.write(config.to_json_best_effort(indent=1))
  writer = metrics.MetricWriter(workdir, resume_step=start)
  if jax.process_index() == 0 and not start:
    print(f'{state_lib.num_params(state.params):,} parameters; {mesh.size} x {jax.devices()[0].platform}; '
          f'global batch {train_data.batch_size}', flush=True)

  step_fn = jax.jit(make_train_step(learner, tx, train_key), in_shardings=(repl, data_sharding),
                    out_shardings=(repl, repl), donate_argnums=0)
  eval_ds = pipeline.make_dataset(eval_data)[0] if eval_data is not None else None   # opened once
  eval_fn = jax.jit(lambda p, b: learner.loss(p, b, eval_key)[1], in_shardings=(repl, data_sharding),
                    out_shardings=repl)

  last, last_eval, pending, pending_ids = {}, {}, [], []
  source_names = [os.path.basename(os.path.normpath(s.path)) for s in train_data.sources]
  data_s, t_window = 0.0, time.time()
  bar = tqdm(total=config.num_steps, initial=start, disable=not progress or jax.process_index() != 0,
             desc=os.path.basename(os.path.normpath(workdir)), dynamic_ncols=True)
  step = start
  try:
    while step < config.num_steps:
      t = time.time()
      host = next(iterator)
      batch = sharding.global_batch(host, mesh)
      data_s += time.time() - t
      state, out = step_fn(state, batch)
      pending.append(out)
      pending_ids.append(tuple(np.asarray(host[k]) for k in ('source', 'episode', 'step')))
      step += 1
      bar.update(1)
      saving = step % config.checkpoint_every == 0 or step == config.num_steps
      log_now = step % config.log_every == 0 or step == config.num_steps
      if saving or log_now:                           # never log or save past a non-finite step
        fetched = jax.device_get(pending)
        check_finite(fetched, step - len(pending) + 1, pending_ids, source_names, ckpt.latest_step())
      if log_now:
        rows = [{k: v for k, v in r.items() if k != 'finite'} for r in fetched]
        elapsed = time.time() - t_window
        last = {**_mean_metrics(rows), 'steps_per_s': len(rows) / elapsed,
                'data_wait_fraction': data_s / elapsed}
        writer.write(step, last, 'train/')
        bar.set_postfix(loss=f'{last["loss"]:.4f}')
        pending, pending_ids, data_s, t_window = [], [], 0.0, time.time()
      if eval_data is not None and (step % config.eval_every == 0 or step == config.num_steps):
        last_eval = evaluate(eval_fn, state.params, eval_ds, config.eval_batches, mesh)
        writer.write(step, last_eval, 'eval/')
      if saving:
        ckpt.save(step, state, iterator, force=step == config.num_steps, layout=layout)
  except KeyboardInterrupt:
    if step > start and ckpt.latest_step() != step:
      print(f'\ninterrupted: saving step {step} to {ckpt.directory}', flush=True)
      ckpt.save(step, state, iterator, force=True, layout=layout)
    raise
  finally:
    bar.close()
    ckpt.close()
    writer.close()
  return {'train': last, 'eval': last_eval, 'step': step, 'state': state}


def init_from(params, workdir: str, key: str = '', exclude: tuple = ()) -> tuple:
  """`params` with every array that the latest checkpoint of the run in `workdir` also has (under its
  top-level `key`, when given), at the same path and of the same shape, taken from that run; arrays under
  a path prefix in `exclude` ('a/b') stay freshly initialised. -> (params, a one-line report)."""
  saved = checkpoint.saved_params(os.path.join(workdir, 'checkpoints'))
  if key:
    if key not in saved:
      raise ValueError(f'{workdir}: the saved parameters have no {key!r} (have {sorted(saved)})')
    saved = saved[key]
  flat_saved = {'/'.join(str(getattr(k, 'key', k)) for k in path): v
                for path, v in jax.tree_util.tree_flatten_with_path(saved)[0]}
  taken, fresh = 0, []

  def pick(path, x):
    nonlocal taken
    name = '/'.join(str(getattr(k, 'key', k)) for k in path)
    v = flat_saved.get(name)
    if v is None or v.shape != x.shape or any(name.startswith(e) for e in exclude):
      fresh.append(name)
      return x
    taken += 1
    return np.asarray(v, x.dtype)

  out = jax.tree_util.tree_map_with_path(pick, params)
  if not taken:
    raise ValueError(f'{workdir}: no saved parameter matches this model by path and shape')
  return out, (f'initialised {taken} of {taken + len(fresh)} parameter arrays from {workdir}'
               + (f'; fresh: {", ".join(fresh)}' if fresh else ''))


def restore_params(workdir: str, learner: Learner, config, example_batch: dict):
  """The parameters of the latest checkpoint in `workdir/checkpoints`, placed on this run's devices (any
  device count can restore what any other saved). `example_batch` only gives shapes."""
  tx = make_optimizer(config)
  abstract = jax.eval_shape(lambda k, b: state_lib.create(learner.init(k, b), tx), jax.random.PRNGKey(0),
                            jax.tree.map(jnp.asarray, example_batch))
  on_devices = sharding.replicated(sharding.make_mesh())
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=on_devices), abstract)
  ckpt = checkpoint.Checkpointer(os.path.join(workdir, 'checkpoints'))
  try:
    if ckpt.latest_step() is None:
      raise FileNotFoundError(f'{workdir}/checkpoints: no checkpoint to restore')
    state, _ = ckpt.restore(abstract)
  finally:
    ckpt.close()
  return state.params
