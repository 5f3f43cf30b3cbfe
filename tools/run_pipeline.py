"""The main job: data -> GLAM-O world model -> relabelling -> policies -> closed-loop evaluation -> report.

  python tools/run_pipeline.py [--config=experiments/configs/pipeline.py:lift[,smoke|paper]] \
      [--workdir=runs/pipeline_lift] [--config.trials=100 --config.world_model.num_steps=4000 ...]

Stages, each with its own progress bar: generate the task's data recipe (100 target + 400 auxiliary
episodes), train the world model, relabel every transition with its IDM, train each method's policy
(GLAM-O on the labels of every source, MIP on the target demonstrations) for every seed, evaluate each in
closed loop on the same episodes, and write into the workdir:
  report.md, results.json (per method: success rate, Wilson bounds, trials, smoothness; GLAM-O vs MIP by
  Newcombe's interval), success.png (bars with Wilson error bars), rollouts_<method>.gif.
A rerun with the same workdir skips finished stages (`stages.json`) and resumes an interrupted training.
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

import json  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from glam_jax import compile_cache, configs  # noqa: E402
from glam_jax.demos import generate  # noqa: E402
from glam_jax.eval import policy_eval, report, stats  # noqa: E402
from glam_jax.stage1 import experiment as stage1  # noqa: E402
from glam_jax.stage2 import experiment as stage2  # noqa: E402
from glam_jax.train import loop, sharding  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file('config', 'experiments/configs/pipeline.py:lift',
                                          'Pipeline config file and argument.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory (default runs/pipeline_<task>).')


class Stages:
  """Finished stages and their wall times, kept in `<workdir>/stages.json` so a rerun skips them."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, 'stages.json')
    self.done = {}
    if os.path.exists(self.path):
      with open(self.path) as f:
        self.done = json.load(f)

  def run(self, name: str, fn, index: int, total: int):
    if name in self.done:
      print(f'[{index}/{total}] {name}: done earlier ({self.done[name]:.0f} s), skipped', flush=True)
      return
    print(f'[{index}/{total}] {name}', flush=True)
    t0 = time.time()
    fn()
    self.done[name] = round(time.time() - t0, 1)
    tmp = self.path + '.tmp'
    with open(tmp, 'w') as f:
      json.dump(self.done, f, indent=1)
    os.replace(tmp, self.path)


def _override(config, overrides):
  for k, v in overrides.items():
    if k not in config:
      raise ValueError(f'unknown override {k!r}; the config has {sorted(config.keys())}')
    config[k] = v
  return config


def _comparisons(methods: dict, names) -> list:
  first, rows = names[0], []
  a = methods[first]['success']
  for other in names[1:]:
    b = methods[other]['success']
    args = (a['successes'], a['trials'], b['successes'], b['trials'])
    rows.append({'a': first, 'b': other, 'newcombe_two_sided': list(stats.newcombe(*args)),
                 'newcombe_one_sided_low': stats.newcombe(*args, two_sided=False)[0]})
  return rows


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)     # library INFO lines (Orbax) would drown the progress bars
  compile_cache.enable()
  sharding.maybe_initialize_distributed()
  c = _CONFIG.value
  workdir = _WORKDIR.value or os.path.join('runs', f'pipeline_{c.task}')
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, 'pipeline_config.json'), 'w') as f:
    f.write(c.to_json_best_effort(indent=1))
  data_dir = c.data_dir or os.path.join(workdir, 'data')
  wm_dir = os.path.join(workdir, 'world_model')
  stages = Stages(workdir)
  runs = [(m, s, os.path.join(workdir, f'{m}_seed{s}')) for m in c.methods for s in c.seeds]
  total = 4 + 2 * len(runs)
  step = iter(range(1, total + 1))

  def data():
    recipe = configs.load('data', c.task)
    recipe.episodes = c.episodes
    recipe.image_size = c.image_size
    generate.generate_recipe(recipe, data_dir)

  def policy_config(method, seed):
    pc = configs.load('policy', ','.join(p for p in (c.task, method, c.policy_arg) if p))
    pc.data_dir, pc.seed = data_dir, seed
    pc.world_model_dir = wm_dir if method != 'mip' else ''
    return _override(pc, c.policy)

  def world_model():
    wc = _override(configs.load('world_model', c.world_model_arg), c.world_model)
    wc.data_dir = data_dir
    learner, train, held_out = stage1.build(wc)
    loop.train(wc, learner, train, wm_dir, held_out)

  def relabel():    # labels live with the world model: one relabelling serves every seed
    for m, s, d in runs:
      if m != 'mip':
        stage2.prepare(policy_config(m, s), d)
        break

  def train_policy(method, seed, run_dir):
    pc = policy_config(method, seed)
    learner, train, held_out = stage2.prepare(pc, run_dir)
    loop.train(pc, learner, train, run_dir, held_out)

  def evaluate(method, seed, run_dir):
    out = policy_eval.evaluate_policy(run_dir, c.trials, seed=c.eval_seed, chunk=c.eval_chunk, gifs=c.gifs)
    s = out['success']
    print(f'{method} seed {seed}: {s["successes"]}/{s["trials"]} = {s["rate"]:.1%} '
          f'(95 % Wilson {s["wilson_low"]:.2f}-{s["wilson_high"]:.2f}); {out["seconds"]:.0f} s', flush=True)

  stages.run('data', data, next(step), total)
  stages.run('world_model', world_model, next(step), total)
  stages.run('relabel', relabel, next(step), total)
  for m, s, d in runs:
    stages.run(f'train_{m}_seed{s}', lambda m=m, s=s, d=d: train_policy(m, s, d), next(step), total)
  for m, s, d in runs:
    stages.run(f'evaluate_{m}_seed{s}', lambda m=m, s=s, d=d: evaluate(m, s, d), next(step), total)

  def write_report():
    methods = {}
    for m in c.methods:
      per_seed = []
      for s in c.seeds:
        with open(os.path.join(workdir, f'{m}_seed{s}', 'eval', 'results.json')) as f:
          per_seed.append(json.load(f))
      k = sum(r['success']['successes'] for r in per_seed)
      n = sum(r['success']['trials'] for r in per_seed)
      smooth = {key: float(sum(r['smoothness'][key] for r in per_seed) / len(per_seed))
                for key in ('ldlj', 'sparc', 'fft')}
      smooth['valid'] = sum(r['smoothness']['valid'] for r in per_seed)
      methods[m] = {'success': stats.rate_summary(k, n), 'smoothness': smooth,
                    'seeds': [r['success']['rate'] for r in per_seed]}
      if len(per_seed) > 1:
        methods[m]['seed_mean'], methods[m]['seed_std'] = stats.mean_std(methods[m]['seeds'])
      shutil.copyfile(os.path.join(workdir, f'{m}_seed{c.seeds[0]}', 'eval', 'rollouts.gif'),
                      os.path.join(workdir, f'rollouts_{m}.gif'))
    results = {'task': c.task, 'methods': methods, 'comparisons': _comparisons(methods, list(c.methods)),
               'machine': f'{platform.node()}: {os.cpu_count()} CPU cores, {jax.device_count()} x '
                          f'{jax.devices()[0].device_kind}', 'timings': dict(stages.done)}
    with open(os.path.join(workdir, 'results.json'), 'w') as f:
      json.dump(results, f, indent=1)
    report.bar_chart(results, os.path.join(workdir, 'success.png'))
    with open(os.path.join(workdir, 'report.md'), 'w') as f:
      f.write(report.markdown(results))

  stages.run('report', write_report, next(step), total)
  with open(os.path.join(workdir, 'report.md')) as f:
    print(f.read())
  print(f'wrote {workdir}/report.md, results.json, success.png, rollouts_*.gif')


if __name__ == '__main__':
  app.run(main)
