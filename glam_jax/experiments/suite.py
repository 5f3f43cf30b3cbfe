"""The paper's experiments as cells, each one run of the main job (`task_pipeline.run`) in a directory
named by a hash of its config, and the suite's results assembled from the finished cells.

A rerun skips the cells whose config is unchanged and finished, resumes the unfinished ones stage by stage,
and redoes those whose config changed. A cell that fails is recorded (its error in `<cell>/error.txt` and
in `cells.json`) and the suite goes on with the next; the report lists it.
"""
from __future__ import annotations

import concurrent.futures
import copy
import dataclasses
import functools
import itertools
import json
import os
import threading
import time
import traceback

from glam_jax import config_rules, configs, methods
from glam_jax.demos import generate, heterogeneity
from glam_jax.eval import scaling
from glam_jax.experiments import protocol, task_pipeline, verdicts
from glam_jax.experiments.stages import config_hash, say, write_json
from glam_jax.sim import backends


PER_STAGE_FIELDS = ('seeds', 'trials')      # pipeline fields the main job's stages key themselves


@dataclasses.dataclass(frozen=True)
class Cell:
  """One run of the main job: `section` of the suite, the `task` and the `method` it evaluates."""
  section: str
  task: str
  method: str
  config: object             # the pipeline ConfigDict
  variant: str = ''          # what else sets the cell apart, e.g. its data: 't100-u400'

  @property
  def name(self) -> str:
    return '/'.join(p for p in (self.section, self.task, self.method, self.variant) if p)

  @functools.cached_property
  def key(self) -> str:
    """What the cell's record means: its pipeline config, the world-model, pre-training and policy configs
    the main job resolves from it (the method's sources, losses and networks), and the protocol version."""
    return config_hash(_portable(self.config), resolved_configs(self.config), protocol.VERSION)

  def directory(self, workdir: str) -> str:
    """Named by the config alone: two cells of one config (a scaling point that is also the main table's
    cell) share their run, and the second finds every stage done. The seeds and trials are left out of the
    name, since the main job keys each seed's training and each evaluation itself: a cell rerun with a seed
    added trains and evaluates only that seed."""
    return os.path.join(workdir, 'cells', f'{self.task}-{self.method}-{config_hash(_portable(self.config, *PER_STAGE_FIELDS))}')


# pipeline fields added after records were made, at the value that runs what the records ran: left out of
# what a cell's key and directory hash at that value, so a record made before the field existed stays its own
NEUTRAL = {'runs_in_one_program': 'auto', 'sweep': ''}
NEUTRAL_STAGE = {'frame_gap_s': 0.0}     # the same for the stage configs a cell's key resolves


def _portable(config, *drop):
  """The config without its data directory (which names the suite's workdir; the recipe that fixes the
  data is in the config anyway), the fields `drop` and the `NEUTRAL` fields at their neutral value: what a
  cell's key and directory hash, so that a suite's record means the same under any workdir and machine
  (`merge_records`), with the physics it runs on (`auto` resolved: a cpu record's cells are not a GPU's)."""
  named = copy.deepcopy(config)
  with named.unlocked():
    named.backend = backends.resolve(named.backend)
    for field in ('data_dir', *drop, *(f for f, v in NEUTRAL.items() if named.get(f) == v)):
      del named[field]
    for stage in ('world_model', 'policy'):
      named[stage] = configs.only_set(named[stage])
  return named


def resolved_configs(config) -> dict:
  """The stage configs the main job builds from pipeline config `config` (`task_pipeline.plan`), without
  the fields that name directories or the policy seed: the same on every machine and workdir."""
  p = task_pipeline.plan(config.copy_and_resolve_references(), '')
  drop = ('data_dir', 'world_model_dir', 'init_from', 'seed')
  portable = lambda c: {k: v for k, v in c.to_dict().items()
                        if k not in drop and not (k in NEUTRAL_STAGE and v == NEUTRAL_STAGE[k])}
  return {'world_models': {m: portable(wc) for m, (wc, _) in p.world_models.items()},
          'pretrained': {m: portable(prc) for m, (prc, _) in p.pretrained.items()},
          'policies': {m: portable(pc) for m, _, pc, _ in p.runs}}


def pipeline_config(sc, task: str, method: str, workdir: str, seeds=(), level: int | None = None, **episodes):
  """The main job's config for one (task, method) of suite config `sc`: the suite's pipeline config with
  this task and method, `seeds` or else the suite's seeds (only the first for `one_seed_methods`), the
  suite's trials, the heterogeneity `level` when given, and the suite's data root: each dataset is made once
  for every cell that reads it (the main job keys datasets by their settings)."""
  configs.parse_arg(task, ())                 # an unknown task fails here, listing the valid ones
  pc = copy.deepcopy(sc.pipeline)
  pc.task = task
  pc.methods = (method,)
  pc.seeds = (tuple(int(s) for s in seeds)
              or (tuple(sc.seeds)[:1] if method in sc.one_seed_methods else tuple(sc.seeds)))
  pc.trials = sc.trials
  if level is not None:
    pc.heterogeneity = level
  with pc.unlocked():                         # command-line configs come locked; a cell may add a source
    for source, n in episodes.items():
      pc.episodes[source] = n
  pc.data_dir = os.path.join(workdir, 'data')     # datasets keyed by their settings (glam_jax/demos/store.py)
  return pc


def main_table_cells(sc, workdir: str) -> list:
  only_on = {m: task_pipeline.comma_list(t) for m, t in sc.get('only_on', {}).items()}
  for m in (*sc.methods, *sc.one_seed_methods, *only_on):
    try:
      methods.get(m)                 # an unknown name fails before any work, listing the valid ones
    except ValueError as e:
      raise configs.ConfigError(str(e)) from None
  for m, tasks in only_on.items():
    for t in tasks:
      configs.parse_arg(t, ())       # an unknown task fails here, listing the valid ones
  return [Cell('main', t, m, pipeline_config(sc, t, m, workdir)) for t in sc.tasks for m in sc.methods
          if t in only_on.get(m, sc.tasks)]


def _data_label(episodes: dict) -> str:
  return '-'.join(f'{s[0]}{n}' for s, n in episodes.items())      # {'kinova': 100, 'umi': 400} -> k100-u400


def scaling_cells(sc, workdir: str) -> list:
  """MIP against target episodes; GLAM-O against auxiliary episodes at base_target, and against target
  episodes at full_aux (the point both GLAM-O series share runs once); policy seeds `scaling.seeds`, or the
  suite's when empty."""
  g = sc.scaling
  if not g.task:
    return []
  runs = [('mip', {'kinova': n, 'umi': 0}) for n in g.target]
  runs += [('glam_o', {'kinova': g.base_target, 'umi': u}) for u in g.aux]
  runs += [('glam_o', {'kinova': n, 'umi': g.full_aux}) for n in g.target]
  unique = {(m, _data_label(e)): e for m, e in runs}
  return [Cell('scaling', g.task, m, pipeline_config(sc, g.task, m, workdir, g.seeds, **e), label)
          for (m, label), e in unique.items()]


def third_source_cells(sc, workdir: str) -> list:
  return [Cell('third_source', t, sc.reference, pipeline_config(sc, t, sc.reference, workdir,
                                                                ur5e=sc.third_source.episodes), 'with_ur5e')
          for t in sc.third_source.tasks]


def heterogeneity_cells(sc, workdir: str) -> list:
  """Each method of `heterogeneity.methods` on each of its tasks at each level of `heterogeneity.levels`
  above 0 (level 0 is the main table's cell of that task and method)."""
  h = sc.get('heterogeneity')
  if not h or not h.tasks:
    return []
  for m in h.methods:
    try:
      methods.get(m)
    except ValueError as e:
      raise configs.ConfigError(str(e)) from None
  try:
    levels = [heterogeneity.check_level(int(lv)) for lv in h.levels]
  except ValueError as e:
    raise configs.ConfigError(f'heterogeneity.levels: {e}') from None
  return [Cell('heterogeneity', t, m, pipeline_config(sc, t, m, workdir, level=lv), f'level{lv}')
          for t in h.tasks for lv in levels if lv > 0 for m in h.methods]


def parse_grid(spec: str) -> list:
  """'a.b=v1,v2;c=v3' -> [('a.b', (v1, v2)), ('c', (v3,))]: each value a Python literal (a number, a bool, a
  quoted string) or else the bare word. An item without values, a repeated key or value, or a grid of no items
  once given is a ConfigError."""
  import ast
  items = [item.strip() for item in spec.split(';')]
  if not any(items):
    raise configs.ConfigError(f'grid {spec!r}: empty; expected FIELD=V1,V2;FIELD2=V3,... (fields of the pipeline)')
  out = []
  for item in items:
    if not item:
      continue
    key, eq, raw = item.partition('=')
    values = [v.strip() for v in raw.split(',') if v.strip()]
    if not eq or not key.strip() or not values:
      raise configs.ConfigError(f'grid item {item!r}: expected FIELD=V1,V2,...')

    def literal(text):
      try:
        return ast.literal_eval(text)
      except (ValueError, SyntaxError):
        if not text.replace('_', '').isalnum():
          raise configs.ConfigError(f'grid item {item!r}: cannot read the value {text!r}') from None
        return text
    parsed = tuple(literal(v) for v in values)
    if len(set(map(repr, parsed))) != len(parsed) or key.strip() in dict(out):
      raise configs.ConfigError(f'grid item {item!r}: a key or a value is repeated')
    out.append((key.strip(), parsed))
  return out


def _has(config, dotted: str) -> bool:
  node = config
  for part in dotted.split('.'):
    if not hasattr(node, 'items') or part not in node:
      return False
    node = node[part]
  return True


def _applies(cell: 'Cell', key: str) -> bool:
  """Whether a grid key (relative to the pipeline config) is a field of this cell's run: a pipeline field, or a
  field of the stage config its method builds (`world_model.*` only for methods with a world model)."""
  stage, _, rest = key.partition('.')
  if stage in ('world_model', 'policy') and rest:
    method = methods.get(cell.method)
    if stage == 'world_model' and not method.learner:
      return False
    return _has(configs.load(stage, f'{cell.task},{cell.method}'), rest)
  return _has(cell.config, key) and stage not in ('world_model', 'policy')


def _label(value) -> str:
  return f'{value:g}' if isinstance(value, float) else str(value)


def grid_cells(sc, main: list) -> list:
  """Every main-table cell at every point of `grid` over the keys that are fields of its run (a key no cell
  has is an error): the section 'grid', named `grid/<task>/<method>/<field=value,...>`."""
  if not sc.get('grid'):
    return []
  items = parse_grid(sc.grid)
  used = {key for key, _ in items if any(_applies(cell, key) for cell in main)}
  unused = [key for key, _ in items if key not in used]
  if unused:
    raise configs.ConfigError(f'grid key {unused[0]!r} is a field of no cell\'s run (keys are fields of the '
                              'suite\'s pipeline config, world_model.* and policy.* those of the stage configs)')
  out = []
  for cell in main:
    mine = [(key, values) for key, values in items if _applies(cell, key)]
    if not mine:
      continue
    # the first key one compiled program can sweep is the cell's own `sweep` (every value in one run, sharing
    # its data and, for a policy field, its world model); the other keys make a cell per point
    swept = next(((key, values) for key, values in mine if _sweepable(key, values)), None)
    rest = [(key, values) for key, values in mine if (key, values) != swept]
    for point in itertools.product(*(values for _, values in rest)):
      pc = copy.deepcopy(cell.config)
      with pc.unlocked():
        for (key, _), value in zip(rest, point):
          try:
            configs.apply_overrides(pc, {key: value})
          except configs.ConfigError as e:
            raise configs.ConfigError(f'grid: {e}') from None
        if swept:
          pc.sweep = f'{swept[0]}={",".join(repr(float(v)) for v in swept[1])}'
      label = ','.join([f'{key.rsplit(".", 1)[-1]}={_label(v)}' for (key, _), v in zip(rest, point)]
                       + ([f'{swept[0].rsplit(".", 1)[-1]}=' + '|'.join(_label(float(v)) for v in swept[1])] if swept else []))
      out.append(Cell('grid', cell.task, cell.method, pc, label))
  return out


def _sweepable(key: str, values) -> bool:
  """Whether a grid key with these values can be one run's in-program `sweep` (task_pipeline.parse_sweep)."""
  if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
    return False
  try:
    return bool(task_pipeline.parse_sweep({'sweep': f'{key}=' + ','.join(repr(float(v)) for v in values)})[0])
  except configs.ConfigError:
    return False


def cell_results(cell: 'Cell', methods_: dict) -> dict:
  """A cell's block of its run's results.json `methods`: its method's, or for a cell with a `sweep` that
  changes the method, {'sweep': {point label: block}} with each arm's."""
  if cell.method in methods_:
    return methods_[cell.method]
  prefix = cell.method + '@'
  return {'sweep': {arm[len(prefix):]: block for arm, block in methods_.items() if arm.startswith(prefix)}}


def cells_of(sc, workdir: str) -> list:
  """Every cell of the suite, each cell's configs built and checked (`task_pipeline.plan`): a config that
  cannot work fails here, before any cell runs."""
  config_rules.check(sc, 'suite')
  main = main_table_cells(sc, workdir)
  cells = (main + scaling_cells(sc, workdir) + third_source_cells(sc, workdir)
           + heterogeneity_cells(sc, workdir) + grid_cells(sc, main))
  for cell in cells:
    _ = cell.key             # builds the cell's plan (`resolved_configs`): a bad config raises here
  return cells


def read_status(workdir: str) -> dict:
  """`cells.json`: what every earlier run of the suite in `workdir` recorded of its cells."""
  path = os.path.join(workdir, 'cells.json')
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def merge_records(cells: list, workdir: str, paths, log=say) -> dict:
  """Adds to `<workdir>/cells.json` the cells that other runs of the suite finished, from their records
  (`paths`: cells.json files, or suite directories holding one): pieces run on other machines, or a record
  committed under docs/results/. For each of `cells`, the record finished with the cell's current config
  wins, this workdir's first; a cell no record finished with its config keeps this workdir's record, or
  else takes one finished with other seeds or trials (reported as such). A merged cell is not run again;
  one rerun with seeds added is run whole, since its directory stays on the machine that ran it.
  Returns the merged record, written back to `<workdir>/cells.json`."""
  status = read_status(workdir)
  others = []
  for path in paths:
    file = os.path.join(path, 'cells.json') if os.path.isdir(path) else path
    if not os.path.exists(file):
      raise configs.ConfigError(f'--merge: {path} holds no suite record (no cells.json)')
    with open(file) as f:
      others.append(json.load(f))
    older = sorted(protocol.of_record(others[-1]) - {protocol.VERSION})
    if older:
      raise configs.ConfigError(
          f'--merge: {path} holds cells of {protocol.describe(older[0])}; this code runs protocol version '
          f'{protocol.VERSION}, whose cells mean something else, so none of them can stand for a cell here. Run '
          f'those cells again; the old record stays readable on its own (--report_only with --workdir at it).')
  merged = 0
  for cell in cells:
    records = [r for r in [status.get(cell.name)] + [o.get(cell.name) for o in others]
               if r and r['status'] == 'done' and 'results' in r]
    current = [r for r in records if r['key'] == cell.key]
    same_dir = [r for r in records if r['dir'] == os.path.relpath(cell.directory(workdir), workdir)]
    best = (current or ([status[cell.name]] if cell.name in status else same_dir) or [None])[0]
    if best is not None and best is not status.get(cell.name):
      status[cell.name] = best
      merged += 1
  os.makedirs(workdir, exist_ok=True)
  write_json(os.path.join(workdir, 'cells.json'), status)
  log(f'merged {merged} finished cell(s) from {", ".join(paths)} into {workdir}/cells.json')
  return status


def _by_task(cells: list) -> list:
  """Cells grouped by task, the largest group first: a task's cells share its source datasets, so one
  thread runs them in order and no two threads ever generate the same source."""
  groups = {}
  for cell in cells:
    groups.setdefault(cell.task, []).append(cell)
  return sorted(groups.values(), key=len, reverse=True)


def _recorded(records: list, field: str, unrecorded: dict = protocol.PHYSICS_UNRECORDED) -> str:
  """What the main table's cell records say of `field` (their physics, their machines), each value once; a
  record made before records named it counts as its protocol version's `unrecorded` value, if any."""
  values = [r.get(field) or unrecorded.get(protocol.of_cell(r)) for r in records]
  return '; '.join(dict.fromkeys(v for v in values if v))


def machine() -> str:
  """This process's machine as records name it: host, CPU cores and devices."""
  import platform
  import jax
  return f'{platform.node()}: {os.cpu_count()} CPU cores, {jax.device_count()} x {jax.devices()[0].device_kind}'


def run_cell(cell: Cell, workdir: str, prev: dict | None = None, commit: str = '', log=say) -> dict:
  """Runs one cell (the main job in its directory, resuming its finished stages) and returns its record for
  `cells.json`; a failure of the cell is recorded (its traceback in `<dir>/error.txt`), not raised. `prev`:
  the cell's earlier record, whose time in the same directory adds to `seconds_all_runs`."""
  d = cell.directory(workdir)
  t0 = time.time()
  rel = os.path.relpath(d, workdir)
  before = prev.get('seconds_all_runs', prev['seconds']) if prev and prev.get('dir') == rel else 0.0

  def timed(record):
    seconds = round(time.time() - t0, 1)
    return {**record, 'dir': rel, 'seconds': seconds, 'seconds_all_runs': round(before + seconds, 1),
            **({'commit': commit} if commit else {})}

  os.makedirs(d, exist_ok=True)
  try:
    task_pipeline.run(copy.deepcopy(cell.config), d, log=lambda m: log(f'  {cell.name}: {m}'))
    with open(os.path.join(d, 'results.json')) as f:
      out = json.load(f)
    # the record carries the cell's results: cells.json alone makes the report, on any machine
    return timed({'key': cell.key, 'status': 'done', 'protocol_version': protocol.VERSION,
                  'backend': backends.resolve(cell.config.backend), 'machine': machine(),
                  'results': cell_results(cell, out['methods']), 'stage_seconds': out.get('timings', {}),
                  **({'compile_cache': out['compile_cache']} if 'compile_cache' in out else {})})
  except Exception as e:                      # noqa: BLE001 - recorded; the other cells go on
    with open(os.path.join(d, 'error.txt'), 'w') as f:
      f.write(traceback.format_exc())
    return timed({'key': cell.key, 'status': 'failed', 'protocol_version': protocol.VERSION,
                  'error': f'{type(e).__name__}: {e}'})


def run_cells(cells: list, workdir: str, log=say, jobs: int = 1, commit: str = '') -> dict:
  """Runs every cell not yet finished with its current config; returns `cells.json`'s record:
  {name: {'key', 'status': 'done' | 'failed', 'dir', 'seconds', 'seconds_all_runs', 'commit', 'error',
  'results', 'stage_seconds'}}: `seconds` of the cell's last run, `seconds_all_runs` of every run in its
  directory (a seed added later adds its time), `commit` the code's version (given by the caller) at the
  cell's last run, `results` the method's block of the cell's results.json, `stage_seconds` the wall time
  of each of its stages.
  `jobs` > 1 runs that many tasks at once in threads (XLA compiles on one core, and compiling dominates
  small cells on a CPU)."""
  path = os.path.join(workdir, 'cells.json')
  status = read_status(workdir)
  lock = threading.Lock()
  number = {cell.name: i for i, cell in enumerate(cells, 1)}

  def run_one(cell):
    prev = status.get(cell.name)
    head = f'[cell {number[cell.name]}/{len(cells)}] {cell.name}'
    if prev and prev['key'] == cell.key and prev['status'] == 'done':
      log(f'{head}: done earlier ({prev["seconds"]:.0f} s), skipped')
      return
    log(head + (': its config changed, redoing' if prev and prev['key'] != cell.key else ''))
    record = run_cell(cell, workdir, prev, commit, log)
    if record['status'] == 'failed':
      log(f'{head}: FAILED ({record["error"]}); its traceback is in {record["dir"]}/error.txt, going on')
    with lock:
      status[cell.name] = record
      write_json(path, status)

  def run_group(group):
    for cell in group:
      run_one(cell)

  groups = _by_task(cells)
  if jobs <= 1:
    for cell in cells:
      run_one(cell)
  else:
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
      for done in [pool.submit(run_group, g) for g in groups]:
        done.result()
  return status


def cell_state(cell: Cell, status: dict, workdir: str, version: int | None = None) -> dict:
  """The cell's record in `cells.json`, its status 'earlier seeds or trials' where it finished in its
  directory with other seeds or trials than the config now asks for (a report written before the rest was
  run), 'earlier protocol' where it finished under another protocol version, 'not run' where it never
  finished in that directory. `version`: an older record read on its own (`cells_of_record`), whose cells
  are taken by name as they stand."""
  st = status.get(cell.name)
  if version is not None:
    return st if st and protocol.of_cell(st) == version else {'status': 'not run'}
  if not st or st.get('dir') != os.path.relpath(cell.directory(workdir), workdir):
    return {'status': 'not run'}
  if st['status'] == 'done' and protocol.of_cell(st) != protocol.VERSION:
    return {**st, 'status': 'earlier protocol'}
  if st['status'] == 'done' and st['key'] != cell.key:
    return {**st, 'status': 'earlier seeds or trials'}
  return st


def _finished(cell: Cell, status: dict, workdir: str, version: int | None = None) -> dict | None:
  """The cell's method block as its record holds it, None unless the cell finished (with this config, or
  with other seeds or trials: the block says which seeds it holds)."""
  if cell_state(cell, status, workdir, version)['status'] not in ('done', 'earlier seeds or trials'):
    return None
  return status[cell.name]['results']


def cells_of_record(sc, status: dict, workdir: str, version: int) -> tuple:
  """An older record read on its own: (cells, status) of its finished cells of protocol `version`, named
  by its cell names with each method under today's name for what it ran (`protocol.NAMES_NOW`; the
  record's clam_o of version 1 is today's clam_o_aux). The cells carry the episodes their names give."""
  renamed = protocol.NAMES_NOW.get(version, {})
  cells, out = [], {}
  for name, record in status.items():
    if protocol.of_cell(record) != version:
      continue
    section, task, method, *variant = name.split('/')
    method = renamed.get(method, method)
    episodes = {}
    if variant and variant[0] == 'with_ur5e':
      episodes = {'ur5e': sc.third_source.episodes}
    elif variant:
      # the scaling points' labels (`_data_label`): the first source of that initial, target and UMI
      first = lambda initial: next(s for s in generate.SOURCES if s[0] == initial)
      episodes = {first(part[0]): int(part[1:]) for part in variant[0].split('-')}
    cell = Cell(section, task, method, pipeline_config(sc, task, method, workdir, **episodes), '/'.join(variant))
    cells.append(cell)
    out[cell.name] = record
  return cells, out


def _scaling(sc, cells: list, status: dict, workdir: str, version: int | None = None) -> dict | None:
  g = sc.scaling
  series = {'mip': [], 'glam_o_aux': [], 'glam_o_target': []}
  for cell in cells:
    r = cell.section == 'scaling' and _finished(cell, status, workdir, version)
    if not r:
      continue
    e = dict(cell.config.episodes)
    point = {'target': e['kinova'], 'aux': e.get('umi', 0), 'success': r['success'], 'seeds': r.get('seeds', []),
             'cell': cell.name}
    if cell.method == 'mip':
      series['mip'].append(point)
    else:
      if e['kinova'] == g.base_target and e.get('umi', 0) in g.aux:
        series['glam_o_aux'].append(point)
      if e.get('umi', 0) == g.full_aux and e['kinova'] in g.target:
        series['glam_o_target'].append(point)
  if not any(series.values()):
    return None
  as_points = lambda rows, x: [scaling.point(p[x], p['success']['successes'], p['success']['trials'], p['seeds'],
                                             p['cell']) for p in rows]
  out = {'task': g.task, 'series': series}
  if len(series['glam_o_aux']) > 1 and len(series['glam_o_target']) > 1:
    out['exchange_rate'] = scaling.exchange_rate(as_points(series['glam_o_aux'], 'aux'),
                                                 as_points(series['glam_o_target'], 'target'))
  level = [p for p in series['glam_o_aux'] if p['aux'] == g.full_aux]
  if len(series['mip']) > 1 and level:
    m = scaling.matching_episodes(as_points(series['mip'], 'target'), as_points(level, 'target')[0])
    out['mip_matching'] = {'level': {'target': g.base_target, 'aux': g.full_aux}, **m,
                           'multiple': m['episodes'] / g.base_target,
                           'multiple_interval': [v / g.base_target for v in m['interval']],
                           'determined': scaling.determined(m['interval'])}
  return out


def _heterogeneity(sc, cells: list, status: dict, workdir: str, version, main: dict) -> dict:
  """{task: {'levels': {level: {method: block}}, 'comparisons': {level: {method: comparison}}}}: the
  section's cells, level 0 from the main table, and the reference against each method per level."""
  out = {}
  h = sc.get('heterogeneity')
  for cell in cells:
    r = cell.section == 'heterogeneity' and _finished(cell, status, workdir, version)
    if r:
      level = int(cell.config.heterogeneity)
      out.setdefault(cell.task, {'levels': {}}).setdefault('levels', {}).setdefault(level, {})[cell.method] = r
  for task in out:
    base = {m: b for m, b in main.get(task, {}).items() if h and m in h.methods}
    if base:
      out[task]['levels'][0] = base
    out[task]['levels'] = dict(sorted(out[task]['levels'].items()))
    out[task]['comparisons'] = {
        level: {m: verdicts.comparison(by[sc.reference], b) for m, b in by.items() if m != sc.reference}
        for level, by in out[task]['levels'].items() if level > 0 and sc.reference in by}
  return out


def assemble(sc, cells: list, status: dict, workdir: str, version: int | None = None) -> dict:
  """The suite's results from the finished cells: per task and method the pooled success, per-seed rates,
  smoothness and latent replay; the reference's comparison against every other method per task; the
  scaling curves with the exchange rate; the third source against target + UMI; the methods at each
  heterogeneity level (`_heterogeneity`). Cells of one protocol
  version only: today's, or `version` for an older record read on its own (`cells_of_record`)."""
  main, done = {}, []                     # done: the finished main cells' records (their physics, machines)
  for cell in cells:
    r = cell.section == 'main' and _finished(cell, status, workdir, version)
    if r:
      main.setdefault(cell.task, {})[cell.method] = r
      done.append(status[cell.name])
  comparisons = {}
  for task, by_method in main.items():
    ref = by_method.get(sc.reference)
    if ref:
      comparisons[task] = {m: verdicts.comparison(ref, r) for m, r in by_method.items() if m != sc.reference}
  third = {}
  for cell in cells:
    r = cell.section == 'third_source' and _finished(cell, status, workdir, version)
    base = main.get(cell.task, {}).get(sc.reference)
    if r:
      third[cell.task] = {'with': r['success'], 'without': base and base['success'],
                          'comparison': base and verdicts.comparison(r, base)}
  hetero = _heterogeneity(sc, cells, status, workdir, version, main)
  grid = {}
  for cell in cells:
    r = cell.section == 'grid' and _finished(cell, status, workdir, version)
    if r:
      points = grid.setdefault(cell.task, {}).setdefault(cell.method, {})
      if 'sweep' not in r:
        points[cell.variant] = r
        continue
      fixed = cell.variant.rsplit(',', 1)[0] if ',' in cell.variant else ''   # the swept key is the label's last
      for label, block in r['sweep'].items():
        points[','.join(p for p in (fixed, label) if p)] = block
  shown = protocol.VERSION if version is None else version
  names = list(sc.methods) if version is None else list(dict.fromkeys(c.method for c in cells if c.section == 'main'))
  out = {'preset': sc.preset, 'reference': sc.reference, 'backend': _recorded(done, 'backend'),
         'cell_machines': _recorded(done, 'machine', unrecorded={}),
          'tasks': list(sc.tasks),
          'methods': names, 'protocol': {'version': shown, 'text': protocol.HISTORY.get(shown, ''),
                                         'lacks': protocol.LACKS.get(shown, ''),
                                         'renamed': protocol.NAMES_NOW.get(shown, {})},
          'main': main, 'comparisons': comparisons, 'scaling': _scaling(sc, cells, status, workdir, version),
          'third_source': third, 'heterogeneity': hetero, 'grid': grid,
          'cells': {c.name: {k: v for k, v in cell_state(c, status, workdir, version).items() if k != 'results'}
                    for c in cells}}
  verdicts.adjust(out)
  return out
