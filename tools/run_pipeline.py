"""The main job: data -> each method's world model -> relabelling -> policies -> closed-loop evaluation ->
report, for any subset of the methods of `glam_jax.methods`.

  python tools/run_pipeline.py [--config=experiments/configs/pipeline.py:lift[,smoke|paper]] \
      [--workdir=runs/pipeline_lift] [--config.methods=glam_o,clam_o,lapa_o,mip --config.trials=100 ...]

Stages, each with its own progress bar: generate the task's data recipe (100 target + 400 auxiliary
episodes); for every latent method, train its own world model (`world_models/<method>-<hash>/`, named by
a hash of its config, so another run of the same config reuses it) and relabel every transition with it;
pre-train the methods that pre-train their policy without labels (LAWM, `pretrained/<method>-<hash>/`);
replay unseen episodes of every source through it on the Kinova (latent replay, `replay_episodes` per
source; 0 skips); train each method's policy for every seed (`policies/<method>-seed<k>-<hash>/`);
evaluate each in closed loop on the same episodes; write into the workdir:
  report.md, results.json (per method: success rate, Wilson bounds, trials, smoothness; every pair of
  methods by Newcombe's interval), success.png (bars with Wilson error bars), rollouts_<method>.gif.
A rerun with the same workdir skips the stages whose inputs are unchanged (`stages.json` keeps a hash of
each stage's config), redoes those whose config changed, and resumes an interrupted training.
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

import dataclasses  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from glam_jax import compile_cache, configs, methods  # noqa: E402
from glam_jax.demos import generate  # noqa: E402
from glam_jax.eval import latent_replay, policy_eval, report, stats  # noqa: E402
from glam_jax.stage1 import experiment as stage1  # noqa: E402
from glam_jax.stage2 import experiment as stage2  # noqa: E402
from glam_jax.train import loop, sharding  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file('config', 'experiments/configs/pipeline.py:lift',
                                          'Pipeline config file and argument.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory (default runs/pipeline_<task>).')


class Stages:
  """Finished stages with the hash of their inputs and their wall times, kept in `<workdir>/stages.json`: a
  rerun skips a stage whose key is unchanged and redoes one whose config changed."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, 'stages.json')
    self.done = {}
    if os.path.exists(self.path):
      with open(self.path) as f:
        self.done = {k: v for k, v in json.load(f).items() if isinstance(v, dict)}   # older files: no keys

  def run(self, name: str, key: str, fn, index: int, total: int):
    previous = self.done.get(name)
    if previous and previous['key'] == key:
      print(f'[{index}/{total}] {name}: done earlier ({previous["seconds"]:.0f} s), skipped', flush=True)
      return
    why = ': its config changed since the last run, redoing' if previous else ''
    print(f'[{index}/{total}] {name}{why}', flush=True)
    t0 = time.time()
    fn()
    self.done[name] = {'key': key, 'seconds': round(time.time() - t0, 1)}
    tmp = self.path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(self.done, f, indent=1)
    os.replace(tmp, self.path)

  def timings(self) -> dict:
    return {name: v['seconds'] for name, v in self.done.items()}


def config_hash(*parts) -> str:
  """A short hash of configs (ConfigDicts, dicts, strings): what names a run directory and a stage key."""
  text = json.dumps([p.to_json_best_effort(sort_keys=True) if hasattr(p, 'to_json_best_effort') else p
                     for p in parts], sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:10]


def comparisons(results: dict, names) -> list:
  """Newcombe's interval of p_A − p_B for every pair of methods, A before B in `names`."""
  rows = []
  for i, first in enumerate(names):
    a = results[first]['success']
    for other in names[i + 1:]:
      b = results[other]['success']
      args = (a['successes'], a['trials'], b['successes'], b['trials'])
      rows.append({'a': first, 'b': other, 'newcombe_two_sided': list(stats.newcombe(*args)),
                   'newcombe_one_sided_low': stats.newcombe(*args, two_sided=False)[0]})
  return rows


def pooled(per_seed: list) -> dict:
  """One method's evaluation over its seeds: pooled success (Wilson), mean smoothness, per-seed rates."""
  k = sum(r['success']['successes'] for r in per_seed)
  n = sum(r['success']['trials'] for r in per_seed)
  smooth = {key: float(np.nanmean([r['smoothness'][key] for r in per_seed])) for key in ('ldlj', 'sparc', 'fft')}
  smooth['valid'] = sum(r['smoothness']['valid'] for r in per_seed)
  out = {'success': stats.rate_summary(k, n), 'smoothness': smooth, 'seeds': [r['success']['rate'] for r in per_seed]}
  if len(per_seed) > 1:
    out['seed_mean'], out['seed_std'] = stats.mean_std(out['seeds'])
  return out


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)     # library INFO lines (Orbax) would drown the progress bars
  c = _CONFIG.value
  names = (c.methods,) if isinstance(c.methods, str) else c.methods
  c.methods = tuple(m for n in names for m in n.split(',') if m)     # --config.methods=glam_o,mip
  chosen = [methods.get(m) for m in c.methods]          # unknown names fail here, listing the valid ones
  if len({m.name for m in chosen}) != len(chosen):
    raise ValueError(f'a method is named twice in methods={list(c.methods)}')
  compile_cache.enable()
  sharding.maybe_initialize_distributed()
  workdir = _WORKDIR.value or os.path.join('runs', f'pipeline_{c.task}')
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, 'pipeline_config.json'), 'w') as f:
    f.write(c.to_json_best_effort(indent=1))
  data_dir = c.data_dir or os.path.join(workdir, 'data')
  stages = Stages(workdir)

  def recipe():
    r = configs.load('data', c.task)
    r.episodes = c.episodes
    r.image_size = c.image_size
    return r

  def world_model_config(method):
    wc = configs.load('world_model', ','.join(p for p in (c.task, method.name, c.world_model_arg) if p))
    configs.apply_overrides(wc, c.world_model)
    wc.data_dir = data_dir
    return wc

  data_key = config_hash(recipe())   # in every run directory's name: new data never meets an old run
  world_models = {}       # method -> (config, directory)
  for m in chosen:
    if m.learner:
      wc = world_model_config(m)
      world_models[m.name] = (wc, os.path.join(workdir, 'world_models', f'{m.name}-{config_hash(wc, data_key)}'))

  def policy_config(method, seed, *options):
    pc = configs.load('policy', ','.join(p for p in (c.task, method.name, c.policy_arg, *options) if p))
    pc.data_dir, pc.seed = data_dir, seed
    pc.world_model_dir = world_models[method.name][1] if method.learner else ''
    if method.pretrain and not options:
      pc.init_from = pretrained[method.name][1]
    configs.apply_overrides(pc, c.policy)
    return pc

  pretrained = {}         # method -> (pre-training config, directory)
  for m in chosen:
    if m.pretrain:
      prc = policy_config(m, 0, 'pretrain')
      pretrained[m.name] = (prc, os.path.join(workdir, 'pretrained', f'{m.name}-{config_hash(prc, data_key)}'))

  runs = []               # (method, seed, policy config, directory)
  for m in chosen:
    for s in c.seeds:
      pc = policy_config(m, s)
      runs.append((m.name, s, pc, os.path.join(workdir, 'policies', f'{m.name}-seed{s}-{config_hash(pc, data_key)}')))
  replay = c.replay_episodes > 0
  total = 2 + (3 if replay else 2) * len(world_models) + len(pretrained) + 2 * len(runs)
  step = iter(range(1, total + 1))

  def train_world_model(wc, wm_dir):
    learner, train, held_out = stage1.build(wc)
    loop.train(wc, learner, train, wm_dir, held_out)

  def train_policy(pc, run_dir):
    learner, train, held_out = stage2.prepare(pc, run_dir)
    loop.train(pc, learner, train, run_dir, held_out)

  def evaluate(method, seed, run_dir):
    out = policy_eval.evaluate_policy(run_dir, c.trials, seed=c.eval_seed, chunk=c.eval_chunk, gifs=c.gifs)
    s = out['success']
    print(f'{method} seed {seed}: {s["successes"]}/{s["trials"]} = {s["rate"]:.1%} '
          f'(95 % Wilson {s["wilson_low"]:.2f}-{s["wilson_high"]:.2f}); {out["seconds"]:.0f} s', flush=True)

  stages.run('data', data_key, lambda: generate.generate_recipe(recipe(), data_dir), next(step), total)
  for name, (wc, wm_dir) in world_models.items():
    key = config_hash(wc, data_key)
    stages.run(f'world_model_{name}', key, lambda wc=wc, d=wm_dir: train_world_model(wc, d), next(step), total)
    # labels live with the world model: one relabelling serves every seed (stage2.prepare relabels first)
    first = next(pc for m, _, pc, _ in runs if m == name)
    stages.run(f'relabel_{name}', key, lambda pc=first: stage2.relabel_sources(pc), next(step), total)
  # the data stage's batch of scripted attempts: its compiled collector serves the replay episodes too
  replay_cfg = latent_replay.ReplayConfig(sources=tuple(c.replay_sources), episodes=c.replay_episodes,
                                          batch=generate.GenerateConfig.batch)
  replay_dir = os.path.join(workdir, 'replay_episodes')     # the same unseen episodes for every method
  replay_compiled = {}
  for name, (wc, wm_dir) in world_models.items():
    if replay:
      stages.run(f'replay_{name}', config_hash(wc, data_key, dataclasses.asdict(replay_cfg)),
                 lambda d=wm_dir: latent_replay.run(d, replay_cfg, episodes_dir=replay_dir, compiled=replay_compiled),
                 next(step), total)
  for name, (prc, pre_dir) in pretrained.items():
    stages.run(f'pretrain_{name}', config_hash(prc, data_key), lambda pc=prc, d=pre_dir: train_policy(pc, d),
               next(step), total)
  for m, s, pc, d in runs:
    stages.run(f'train_{m}_seed{s}', config_hash(pc, data_key), lambda pc=pc, d=d: train_policy(pc, d), next(step), total)
  eval_settings = {'trials': c.trials, 'eval_seed': c.eval_seed}
  for m, s, pc, d in runs:
    stages.run(f'evaluate_{m}_seed{s}', config_hash(pc, data_key, eval_settings),
               lambda m=m, s=s, d=d: evaluate(m, s, d), next(step), total)

  def write_report():
    results = {}
    for m in chosen:
      per_seed = []
      for name, _, _, d in runs:
        if name == m.name:
          with open(os.path.join(d, 'eval', 'results.json')) as f:
            per_seed.append(json.load(f))
      results[m.name] = pooled(per_seed)
      gif = os.path.join(next(d for name, _, _, d in runs if name == m.name), 'eval', 'rollouts.gif')
      if c.gifs and os.path.exists(gif):
        shutil.copyfile(gif, os.path.join(workdir, f'rollouts_{m.name}.gif'))
      if replay and m.learner:
        with open(os.path.join(world_models[m.name][1], 'latent_replay', 'results.json')) as f:
          results[m.name]['replay'] = json.load(f)['results']
    out = {'task': c.task, 'methods': results, 'comparisons': comparisons(results, [m.name for m in chosen]),
           'world_models': {n: os.path.relpath(d, workdir) for n, (_, d) in world_models.items()},
           'machine': f'{platform.node()}: {os.cpu_count()} CPU cores, {jax.device_count()} x '
                      f'{jax.devices()[0].device_kind}', 'timings': stages.timings()}
    with open(os.path.join(workdir, 'results.json'), 'w') as f:
      json.dump(out, f, indent=1)
    report.bar_chart(out, os.path.join(workdir, 'success.png'))
    with open(os.path.join(workdir, 'report.md'), 'w') as f:
      f.write(report.markdown(out))

  print(f'[{next(step)}/{total}] report', flush=True)                 # always rewritten: it reads every stage
  write_report()
  with open(os.path.join(workdir, 'report.md')) as f:
    print(f.read())
  print(f'wrote {workdir}/report.md, results.json, success.png' + (', rollouts_*.gif' if c.gifs else ''))


if __name__ == '__main__':
  app.run(main)
