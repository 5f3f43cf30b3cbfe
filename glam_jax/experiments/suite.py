"""The paper's experiments as cells, each one run of the main job (`task_pipeline.run`) in a directory
named by a hash of its config, and the suite's results assembled from the finished cells.

A rerun skips the cells whose config is unchanged and finished, resumes the unfinished ones stage by stage,
and redoes those whose config changed. A cell that fails is recorded (its error in `<cell>/error.txt` and
in `cells.json`) and the suite goes on with the next; the report lists it.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
import time
import traceback

from glam_jax import configs, methods
from glam_jax.eval import stats
from glam_jax.experiments import task_pipeline
from glam_jax.experiments.stages import config_hash, say, write_json


@dataclasses.dataclass(frozen=True)
class Cell:
  """One run of the main job: `section` of the suite, the `task` and the `method` it evaluates."""
  section: str
  task: str
  method: str
  config: object             # the pipeline ConfigDict

  @property
  def name(self) -> str:
    return f'{self.section}/{self.task}/{self.method}'

  @property
  def key(self) -> str:
    return config_hash(self.config)

  def directory(self, workdir: str) -> str:
    return os.path.join(workdir, 'cells', self.section, f'{self.task}-{self.method}-{self.key}')


def pipeline_config(sc, task: str, method: str, workdir: str):
  """The main job's config for one (task, method) of suite config `sc`: the suite's pipeline config with
  this task and method, the suite's seeds and trials, and a data directory shared by every cell with the
  same data recipe."""
  configs.load('pipeline', task)              # an unknown task fails here, listing the valid ones
  pc = copy.deepcopy(sc.pipeline)
  pc.task = task
  pc.methods = (method,)
  pc.seeds = tuple(sc.seeds)
  pc.trials = sc.trials
  recipe = config_hash(task, pc.episodes.to_dict(), pc.image_size)
  pc.data_dir = os.path.join(workdir, 'data', recipe)
  return pc


def main_table_cells(sc, workdir: str) -> list:
  for m in sc.methods:
    methods.get(m)                   # an unknown name fails before any work, listing the valid ones
  return [Cell('main', t, m, pipeline_config(sc, t, m, workdir)) for t in sc.tasks for m in sc.methods]


def cells_of(sc, workdir: str) -> list:
  return main_table_cells(sc, workdir)


def _read_status(path: str) -> dict:
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def run_cells(cells: list, workdir: str, log=say) -> dict:
  """Runs every cell not yet finished with its current config; returns `cells.json`'s record:
  {name: {'key', 'status': 'done' | 'failed', 'dir', 'seconds', 'error'}}."""
  path = os.path.join(workdir, 'cells.json')
  status = _read_status(path)
  for i, cell in enumerate(cells, 1):
    d, prev = cell.directory(workdir), status.get(cell.name)
    head = f'[cell {i}/{len(cells)}] {cell.name}'
    if prev and prev['key'] == cell.key and prev['status'] == 'done':
      log(f'{head}: done earlier ({prev["seconds"]:.0f} s), skipped')
      continue
    log(head + (': its config changed, redoing' if prev and prev['key'] != cell.key else ''))
    t0 = time.time()
    try:
      task_pipeline.run(copy.deepcopy(cell.config), d, log=lambda m, n=cell.name: log(f'  {n}: {m}'))
      status[cell.name] = {'key': cell.key, 'status': 'done', 'dir': os.path.relpath(d, workdir),
                           'seconds': round(time.time() - t0, 1)}
    except Exception as e:                      # noqa: BLE001 - recorded; the other cells go on
      os.makedirs(d, exist_ok=True)
      with open(os.path.join(d, 'error.txt'), 'w') as f:
        f.write(traceback.format_exc())
      status[cell.name] = {'key': cell.key, 'status': 'failed', 'dir': os.path.relpath(d, workdir),
                           'seconds': round(time.time() - t0, 1), 'error': f'{type(e).__name__}: {e}'}
      log(f'{head}: FAILED ({type(e).__name__}: {e}); its traceback is in {d}/error.txt, going on')
    write_json(path, status)
  return status


def comparison(a: dict, b: dict) -> dict:
  """Reference arm `a` against arm `b` (pooled success blocks): Newcombe's intervals, trials per arm and
  the smallest difference those trials detect with 80 % power at the reference's rate."""
  args = (a['successes'], a['trials'], b['successes'], b['trials'])
  return {'difference': a['rate'] - b['rate'], 'newcombe_two_sided': list(stats.newcombe(*args)),
          'newcombe_one_sided_low': stats.newcombe(*args, two_sided=False)[0],
          'trials': [a['trials'], b['trials']],
          'detectable_difference': stats.detectable_difference(a['rate'], a['trials'], b['trials'])}


def assemble(sc, cells: list, status: dict, workdir: str) -> dict:
  """The suite's results from the finished cells: per task and method the pooled success, per-seed rates,
  smoothness and latent replay; the reference's comparison against every other method per task."""
  main = {}
  for cell in cells:
    st = status.get(cell.name)
    if cell.section != 'main' or not st or st['status'] != 'done':
      continue
    with open(os.path.join(workdir, st['dir'], 'results.json')) as f:
      main.setdefault(cell.task, {})[cell.method] = json.load(f)['methods'][cell.method]
  comparisons = {}
  for task, by_method in main.items():
    ref = by_method.get(sc.reference)
    if ref:
      comparisons[task] = {m: comparison(ref['success'], r['success']) for m, r in by_method.items()
                           if m != sc.reference}
  return {'preset': sc.preset, 'reference': sc.reference, 'tasks': list(sc.tasks), 'methods': list(sc.methods),
          'main': main, 'comparisons': comparisons,
          'cells': {c.name: status.get(c.name, {'status': 'not run'}) for c in cells}}
