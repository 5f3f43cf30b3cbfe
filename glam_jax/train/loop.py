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
see `init_from`), `init_from_key`, `init_from_exclude` (beside what the learner's `fresh_on_init` names);
`num_seeds` and `sweep` stack several runs in one program (`glam_jax.train.sweep`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Callable, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from glam_jax.data import pipeline
from glam_jax.train import checkpoint, metrics, sharding, sweep
from glam_jax.train import state as state_lib


class Learner(Protocol):
  """`loss` -> (the objective, its metrics) is what a training step differentiates; a learner may also have
  `eval_metrics(params, batch, rng) -> dict` for held-out batches, with diagnostics too costly for every
  step (otherwise held-out evaluation logs `loss`'s metrics)."""
  def init(self, rng: jax.Array, batch: dict) -> Any: ...
  def loss(self, params, batch: dict, rng: jax.Array) -> tuple[jax.Array, dict]: ...


def _mean_metrics(rows: list) -> dict:
  return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows and rows[0] else {}


class NonFiniteError(FloatingPointError):
  """A training step produced a NaN or Inf; its update was not applied."""


def make_train_step(learner: Learner, tx: optax.GradientTransformation, base: jax.Array) -> Callable:
  """The jit-able update; the step's random key is `fold_in(base, step)`, so a resumed run replays it. A
  step whose loss terms or gradient norm are not finite leaves the state as it was (`finite` False), so
  the state the loop may still checkpoint is the last good one."""

  def train_step(state: state_lib.TrainState, batch):
    rng = jax.random.fold_in(base, state.step)
    batch = {**batch, state_lib.STEP_KEY: state.step}
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


def make_optimizer(config, values: dict | None = None) -> optax.GradientTransformation:
  """The config's optimiser; `values` overrides swept fields ('optimizer.learning_rate': traced value)."""
  o, values = config.optimizer, values or {}
  lr = values.get('optimizer.learning_rate', o.learning_rate)
  wd = values.get('optimizer.weight_decay', o.weight_decay)
  return state_lib.make_optimizer(lr, config.num_steps, o.warmup_steps, wd, o.grad_clip, ema_rate=o.get('ema_rate', 0.0))


def evaluate(loss_fn: Callable, params, batches: Callable, num_batches: int) -> dict:
  """Mean metrics over `num_batches` held-out batches (`batches()`: a fresh iterator of global batches, so
  the same batches each time); with stacked runs, each metric is an array over the runs."""
  it = batches()
  rows = [jax.device_get(loss_fn(params, next(it))) for _ in range(num_batches)]
  return {k: np.mean([r[k] for r in rows], axis=0) for k in rows[0]}


def _member_metrics(metrics_: dict, i: int | None) -> dict:
  """Run i's metrics from `evaluate`'s (arrays over the runs; scalars when `i` is None)."""
  return {k: float(np.asarray(v) if i is None else np.asarray(v)[i]) for k, v in metrics_.items()}


def train(config, learner: Learner, train_data: pipeline.PipelineConfig, workdir: str,
          eval_data: pipeline.PipelineConfig | None = None, progress: bool = True, members: list | None = None) -> dict:
  """Trains (or resumes) to `config.num_steps`; returns the last logged and evaluated metrics.

  With `num_seeds` > 1 or a `sweep` (glam_jax.train.sweep) it trains every member run in one program, each
  in `workdir/<member>/` (its own config.json, metrics and checkpoints, like a separate run), and also
  returns each member's metrics under 'members'. `members` [(sweep.Member, directory), ...] names the runs
  and the directory of each instead (the main job's: each where its separate run would be); `workdir` then
  only holds sweep.json."""
  group = [m for m, _ in members] if members else sweep.members(config)
  stacked = len(group) > 1
  dirs = [d for _, d in members] if members else [os.path.join(workdir, m.name) for m in group]
  os.makedirs(workdir, exist_ok=True)
  n_dev = len(jax.devices())
  mesh = (sharding.make_sweep_mesh(sweep.sweep_devices(len(group), n_dev)) if stacked
          else sharding.make_mesh(sharding.training_devices()))
  sharding.check_batch_size(train_data.batch_size, mesh)
  repl = sharding.replicated(mesh)
  state_sh = sharding.sweep_sharding(mesh) if stacked else repl
  batch_sh = sharding.stacked_batch_sharding(mesh) if stacked else sharding.batch_sharding(mesh)
  vmap = jax.vmap if stacked else (lambda f, in_axes=0: f)
  pick = (lambda tree, i: sweep.take(tree, i)) if stacked else (lambda tree, i: tree)

  ckpts = [checkpoint.Checkpointer(os.path.join(d, 'checkpoints'), config.keep_checkpoints) for d in dirs]
  start = _common_start(ckpts)
  layout = {'num_workers': train_data.num_workers, 'process_count': jax.process_count()}
  if start:                # an iterator saved under another layout is refused before anything is built
    for ckpt in ckpts:
      ckpt.check_layout(start, layout)

  # Each member reads the data its own run would: pipelines seeded like the member (one per distinct seed).
  seeds = sorted({m.seed for m in group})
  shift = lambda p, s: dataclasses.replace(p, seed=p.seed + s - config.seed)
  datasets = {s: pipeline.make_dataset(shift(train_data, s))[0] for s in seeds}
  iterators = {s: pipeline.make_iterator(datasets[s], shift(train_data, s)) for s in seeds}

  def to_global(hosts: dict):
    """{seed: host batch} -> the global batch (stacked over members when several)."""
    local = sweep.stack([hosts[m.seed] for m in group]) if stacked else hosts[group[0].seed]
    return sharding.global_batch(local, mesh, batch_sh)

  tx = make_optimizer(config)
  keys = [jax.random.split(jax.random.PRNGKey(m.seed), 3) for m in group]
  init_keys, train_keys, eval_keys = (jnp.stack([k[j] for k in keys]) if stacked else keys[0][j] for j in range(3))
  values = sweep.hyperparameters(group) if stacked else {}
  sample = sharding.global_batch(datasets[seeds[0]][0], mesh)
  create = lambda k, b: state_lib.create(learner.init(k, b), tx)
  state = jax.jit(vmap(create, in_axes=(0, None)), out_shardings=state_sh)(init_keys, sample)

  if start:
    like = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape[1:] if stacked else x.shape, x.dtype,
                                                       sharding=repl), state)
    restored, done = [], set()
    for m, ckpt in zip(group, ckpts):      # an iterator shared by members is restored once
      s, it = ckpt.restore(like, None if m.seed in done else iterators[m.seed], start)
      iterators[m.seed] = it or iterators[m.seed]
      done.add(m.seed)
      restored.append(s)
    state = jax.device_put(sweep.stack(restored) if stacked else restored[0], state_sh)
  elif config.get('init_from'):
    exclude = tuple(config.get('init_from_exclude', ())) + tuple(getattr(learner, 'fresh_on_init', ()))
    params = []
    for i in range(len(group)):
      p, report = init_from(jax.device_get(pick(state.params, i)), config.init_from,
                            config.get('init_from_key', ''), exclude)
      params.append(p)
    params = sweep.stack(params) if stacked else params[0]
    state = jax.jit(vmap(lambda p: state_lib.create(p, tx)), out_shardings=state_sh)(jax.device_put(params, state_sh))
    if jax.process_index() == 0:
      print(report, flush=True)
  if jax.process_index() == 0:
    for m, d in zip(group, dirs):
      os.makedirs(d, exist_ok=True)
      with open(os.path.join(d, 'config.json'), 'w') as f:
        f.write((sweep.member_config(config, m) if stacked else config).to_json_best_effort(indent=1))
    if stacked:
      with open(os.path.join(workdir, 'sweep.json'), 'w') as f:
        json.dump({'members': [m.name for m in group], 'directories': [os.path.relpath(d, workdir) for d in dirs],
                   'config': json.loads(config.to_json_best_effort())}, f, indent=1)
  writers = [metrics.MetricWriter(d, resume_step=start) for d in dirs]
  if jax.process_index() == 0 and not start:
    print(f'{state_lib.num_params(pick(state.params, 0)):,} parameters; {mesh.size} x {jax.devices()[0].platform}; '
          f'global batch {train_data.batch_size}'
          + (f'; {len(group)} runs in one program over mesh {dict(mesh.shape)}' if stacked else ''), flush=True)

  def member_step(state, batch, key, values):
    return make_train_step(sweep.with_hyperparameters(learner, values), make_optimizer(config, values), key)(
        state, batch)

  def member_eval(params, batch, key, values):
    member = sweep.with_hyperparameters(learner, values)
    if hasattr(member, 'eval_metrics'):
      return member.eval_metrics(params, batch, key)
    return member.loss(params, batch, key)[1]

  # keys and swept values are arguments, not constants: runs that differ only in them share one program
  each = (lambda f: sweep.over_members(f, mesh)) if stacked else (lambda f: f)
  step_fn = jax.jit(each(member_step), in_shardings=(state_sh, batch_sh, state_sh, state_sh),
                    out_shardings=(state_sh, state_sh), donate_argnums=0)
  eval_fn = jax.jit(each(member_eval), in_shardings=(state_sh, batch_sh, state_sh, state_sh), out_shardings=state_sh)
  eval_sets = {s: pipeline.make_dataset(shift(eval_data, s))[0] for s in seeds} if eval_data is not None else {}

  def eval_batches():
    its = {s: pipeline.held_out_iterator(ds, config.eval_batches) for s, ds in eval_sets.items()}
    while True:
      yield to_global({s: next(it) for s, it in its.items()})

  last, last_eval, pending, pending_ids = [{}] * len(group), [{}] * len(group), [], []
  source_names = [os.path.basename(os.path.normpath(s.path)) for s in train_data.sources]
  data_s, t_window = 0.0, time.time()
  bar = tqdm(total=config.num_steps, initial=start, disable=not progress or jax.process_index() != 0,
             desc=os.path.basename(os.path.normpath(workdir)), dynamic_ncols=True)
  step = start

  def save_all(force: bool) -> None:
    for i, (m, ckpt) in enumerate(zip(group, ckpts)):
      ckpt.save(step, pick(state, i), iterators[m.seed], force=force, layout=layout)

  try:
    while step < config.num_steps:
      t = time.time()
      hosts = {s: next(iterators[s]) for s in seeds}
      batch = to_global(hosts)
      data_s += time.time() - t
      state, out = step_fn(state, batch, train_keys, values)
      pending.append(out)
      pending_ids.append({s: tuple(np.asarray(h[k]) for k in ('source', 'episode', 'step')) for s, h in hosts.items()})
      step += 1
      bar.update(1)
      saving = step % config.checkpoint_every == 0 or step == config.num_steps
      log_now = step % config.log_every == 0 or step == config.num_steps
      if saving or log_now:                           # never log or save past a non-finite step
        fetched = jax.device_get(pending)
        for i, (m, ckpt) in enumerate(zip(group, ckpts)):
          try:
            check_finite([pick(r, i) for r in fetched], step - len(pending) + 1, [ids[m.seed] for ids in pending_ids],
                         source_names, ckpt.latest_step())
          except NonFiniteError as e:
            raise NonFiniteError(f'{m.name}: {e}' if stacked else str(e)) from None
      if log_now:
        elapsed = time.time() - t_window
        timing = {'steps_per_s': len(fetched) / elapsed, 'data_wait_fraction': data_s / elapsed}
        for i, w in enumerate(writers):
          rows = [{k: v for k, v in pick(r, i).items() if k != 'finite'} for r in fetched]
          last[i] = {**_mean_metrics(rows), **timing}
          w.write(step, last[i], 'train/')
        bar.set_postfix(loss=f'{np.mean([x["loss"] for x in last]):.4f}')
        pending, pending_ids, data_s, t_window = [], [], 0.0, time.time()
      if eval_data is not None and (step % config.eval_every == 0 or step == config.num_steps):
        mean = evaluate(lambda p, b: eval_fn(p, b, eval_keys, values), state.params, eval_batches,
                        config.eval_batches)
        for i, w in enumerate(writers):
          last_eval[i] = _member_metrics(mean, i if stacked else None)
          w.write(step, last_eval[i], 'eval/')
      if saving:
        save_all(force=step == config.num_steps)
  except KeyboardInterrupt:
    if step > start and ckpts[0].latest_step() != step:
      print(f'\ninterrupted: saving step {step} to {workdir}', flush=True)
      save_all(force=True)
    raise
  finally:
    bar.close()
    for ckpt, w in zip(ckpts, writers):
      ckpt.close()
      w.close()
  out = {'train': _mean_metrics(last), 'eval': _mean_metrics(last_eval), 'step': step, 'state': state}
  if stacked:
    out['members'] = [{'name': m.name, 'workdir': d, 'train': a, 'eval': b}
                      for m, d, a, b in zip(group, dirs, last, last_eval)]
  return out


def _common_start(ckpts: list) -> int:
  """The latest step every member saved (0: none saved); members saved at different steps only when a run
  was killed between their saves, and their earlier checkpoints are kept."""
  steps = [set(c.manager.all_steps()) for c in ckpts]
  common = set.intersection(*steps)
  if not common and any(steps):
    raise ValueError(f'{ckpts[0].directory} and the other runs of this sweep share no checkpoint step '
                     f'(have {[sorted(s) for s in steps]}); resume them one by one or start a new workdir.')
  start = max(common, default=0)
  for c in ckpts:                      # a member's later steps are redone (deterministically) from `start`
    for s in c.manager.all_steps():
      if s > start:
        c.manager.delete(s)
  return start


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
  device count can restore what any other saved): their moving average where the run kept one
  (`optimizer.ema_rate`), the parameters evaluation uses. `example_batch` only gives shapes."""
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
  ema = state_lib.ema_params(state.opt_state)
  return state.params if ema is None else ema
