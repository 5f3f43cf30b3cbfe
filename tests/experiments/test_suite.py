"""The suite's bookkeeping with the main job replaced by a fake: every task x method gets a cell, a failing
cell is recorded and the others go on, a rerun skips finished cells and redoes failed and changed ones, and
the report covers every task with the power of each comparison."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from glam_jax import configs
from glam_jax.demos import store
from glam_jax.eval import stats
from glam_jax.experiments import suite, suite_report, task_pipeline
from glam_jax.sim import backends


def _fake_results(task, method, successes, trials=100):
  m = {'success': stats.rate_summary(successes, trials), 'seeds': [successes / trials],
       'smoothness': {'ldlj': -5.0, 'sparc': -2.0, 'fft': 0.1, 'valid': trials}}
  if method != 'mip':
    m['replay'] = {'umi->kinova': stats.rate_summary(successes // 10, 10)}
  return {'task': task, 'methods': {method: m}}


def _recipe_dir(cell) -> str:
  """The directory of links to the datasets a cell reads (the main job plans it from the cell's config)."""
  return task_pipeline.plan(cell.config.copy_and_resolve_references(), '').data_dir


@pytest.fixture
def fake_pipeline(monkeypatch):
  calls = []

  def run(c, workdir, log=print):
    task, (method,) = c.task, c.methods
    calls.append((task, method))
    task_pipeline.prepare_data(task_pipeline.plan(c, workdir), task, log)     # the real data stage, faked ensure
    if (task, method) == ('knock_down', 'mip') and not os.environ.get('FAKE_FIXED'):
      raise RuntimeError('simulated crash')
    os.makedirs(workdir, exist_ok=True)
    e = c.episodes
    rate = ({'glam_o': 50, 'mip': 40}[method] + len(task) + 2 * e['kinova'] + e.get('umi', 0)
            + 5 * e.get('ur5e', 0) // 6)        # smoke sizes: 6-12 episodes; 2 UMI buy one target
    results = _fake_results(task, method, rate)
    field, values = task_pipeline.parse_sweep(c)
    if field:                                   # a swept run: an arm per value
      block = results['methods'].pop(method)
      results['methods'].update({f'{method}@{task_pipeline.point_label(field, v)}': block for v in values})
    with open(os.path.join(workdir, 'results.json'), 'w') as f:
      json.dump({**results,
                 'timings': {'data': 60.0, f'train_{method}_seed0': 600.0, f'evaluate_{method}_seed0': 120.0}}, f)

  def ensure(root, cfg, log=print, progress=True):
    out = store.dataset_path(root, cfg)
    if not os.path.exists(out):                         # the real one skips complete datasets too
      calls.append(('generate', cfg.task, cfg.source, cfg.episodes))
      os.makedirs(out)
    return out

  monkeypatch.setattr(task_pipeline, 'run', run)
  monkeypatch.setattr(store, 'ensure', ensure)
  return calls


def test_cells_failures_reruns_and_report(tmp_path, fake_pipeline, monkeypatch):
  sc = configs.load('suite', 'smoke')
  sc.pipeline.replay_sources = ('umi',)             # the pipeline's fields reach every cell
  sc.lock()                                         # as the command line gives it
  w = str(tmp_path)
  cells = suite.cells_of(sc, w)
  assert all(c.config.replay_sources == ('umi',) and c.config.task == c.task for c in cells)
  main = [c for c in cells if c.section == 'main']
  assert [(c.task, c.method) for c in main] == [(t, m) for t in sc.tasks for m in ('glam_o', 'mip')]
  scaling = {c.name for c in cells if c.section == 'scaling'}
  assert scaling == {'scaling/stack_two/mip/k6-u0', 'scaling/stack_two/mip/k9-u0', 'scaling/stack_two/mip/k12-u0',
                     'scaling/stack_two/glam_o/k6-u0', 'scaling/stack_two/glam_o/k6-u6',
                     'scaling/stack_two/glam_o/k6-u12', 'scaling/stack_two/glam_o/k9-u12',
                     'scaling/stack_two/glam_o/k12-u12'}
  third = [c for c in cells if c.section == 'third_source']
  assert [c.name for c in third] == ['third_source/lift/glam_o/with_ur5e'] and third[0].config.episodes.ur5e == 6
  # the scaling point of the smoke recipe (6 + 6) is the main table's stack_two cell: one run serves both
  shared = [c for c in cells if c.name in ('main/stack_two/glam_o', 'scaling/stack_two/glam_o/k6-u6')]
  assert len({c.directory(w) for c in shared}) == 1 and len({c.key for c in cells}) == len(cells) - 1
  # the cells of one recipe share its data directory, other recipes have their own
  data = {c.task: _recipe_dir(c) for c in main}
  assert all(_recipe_dir(c) == data[c.task] for c in main) and len(set(data.values())) == len(sc.tasks)
  # scaling recipes: k6-u0 (MIP and GLAM-O), k9-u0, k12-u0, k6-u12, k9-u12, k12-u12 (k6-u6 is main's)
  assert len({_recipe_dir(c) for c in cells}) == len(sc.tasks) + 6 + 1
  assert all(c.config.trials == sc.trials and tuple(c.config.seeds) == tuple(sc.seeds) for c in cells)

  status = suite.run_cells(cells, w, log=lambda m: None)
  generated = [c[1:] for c in fake_pipeline if c[0] == 'generate']
  runs = [c for c in fake_pipeline if c[0] != 'generate']
  # each (task, source, episodes) once: 5 tasks x 6 + 6, then stack_two's 9 and 12 target and 12 UMI, lift's 6 UR5e
  assert len(generated) == len(set(generated)) == 14, generated
  assert ('stack_two', 'kinova', 12) in generated and ('lift', 'ur5e', 6) in generated
  link = os.path.join(_recipe_dir(third[0]), 'lift', 'kinova')
  assert os.path.islink(link) and os.path.samefile(link, os.path.join(_recipe_dir(main[0]), 'lift', 'kinova'))
  assert len(runs) == 19           # the fake does not skip; the real job finds the shared run done
  assert status['main/knock_down/mip']['status'] == 'failed'
  assert 'simulated crash' in status['main/knock_down/mip']['error']
  assert 'RuntimeError' in open(os.path.join(w, status['main/knock_down/mip']['dir'], 'error.txt')).read()
  assert sum(s['status'] == 'done' for s in status.values()) == 18, {n: s for n, s in status.items() if s['status'] != 'done'}

  results = suite.assemble(sc, cells, status, w)
  assert set(results['main']) == set(sc.tasks) and 'mip' not in results['main']['knock_down']
  c = results['comparisons']['lift']['mip']
  assert c['difference'] == pytest.approx(0.1) and c['trials'] == [100, 100]
  # 72 % against 62 % on 100 trials each: not significant, and below what 100 trials detect
  ex = results['scaling']['exchange_rate']
  assert ex['aux_per_target'] == pytest.approx(2.0) and ex['interval'][0] < 2.0 < ex['interval'][1]
  assert [p['target'] for p in results['scaling']['series']['mip']] == [6, 9, 12]
  # GLAM-O at 6 target + 12 UMI (50+9+12+12 = 83 %) is beyond MIP's curve (40+9+24 = 73 % at most)
  assert results['scaling']['mip_matching']['level'] == {'target': 6, 'aux': 12}
  assert np.isnan(results['scaling']['mip_matching']['episodes'])
  t = results['third_source']['lift']
  assert t['with']['successes'] - t['without']['successes'] == 5 and t['comparison']['difference'] == pytest.approx(0.05)
  assert 0.1 < c['detectable_difference'] < 0.25 and c['newcombe_two_sided'][0] < 0 < c['newcombe_two_sided'][1]
  assert 'mip' not in results['comparisons']['knock_down']
  text = suite_report.markdown(results, 'python tools/run_suite.py', 'abc123')
  assert all(t in text for t in sc.tasks) and 'detectable' in text
  assert '18 of 19 cells finished' in text and 'UMI episodes that buy one target episode' in text
  assert '| lift | glam_o | umi->kinova | ' in text and 'TCP error' in text
  assert 'Third source' in text and 'main/knock_down/mip: failed (RuntimeError: simulated crash' in text
  assert 'No method succeeded' not in text
  for r in results['main']['lift'].values():     # a task no method learned is said so under the table
    r['success'] = stats.rate_summary(0, 100)
  assert 'No method succeeded on lift:' in suite_report.markdown(results)
  assert [suite_report.seeds_label(c) for c in ([3, 3], [1], [1, 3, 3], [])] == ['3 seeds', '1 seed', '1-3 seeds',
                                                                                 'not run']
  chart = suite_report.main_table_chart(results, str(tmp_path / 'main.png'))
  assert Image.open(tmp_path / 'main.png').size == (chart.shape[1], chart.shape[0])
  heat = suite_report.replay_heatmap(results, str(tmp_path / 'replay.png'))
  rows, cols, blocks = suite_report.replay_rows(results)
  assert rows == ['glam_o'] and len(cols) == 5 and all(b is not None for b in blocks[0]) and heat is not None
  suite_report.scaling_chart(results, str(tmp_path / 'scaling.png'))
  # one meaning of x per panel: target episodes (MIP; GLAM-O with all UMI), UMI episodes (GLAM-O at 6 target)
  panels = suite_report.scaling_panels(results)
  assert [x for x, _ in panels] == ['target episodes', 'UMI episodes']
  assert [[x for x, _ in pts] for _, pts in panels[0][1]] == [[6, 9, 12], [6, 9, 12]]
  assert [x for x, _ in panels[1][1][0][1]] == [0, 6, 12]

  # a rerun skips the finished cells and retries the failed one
  del fake_pipeline[:]
  monkeypatch.setenv('FAKE_FIXED', '1')
  lines = []
  status = suite.run_cells(cells, w, log=lines.append)
  assert fake_pipeline == [('knock_down', 'mip')]                 # its data was linked before: no generation and status['main/knock_down/mip']['status'] == 'done'
  # a changed setting redoes exactly the cells it changes
  del fake_pipeline[:]
  sc.trials = 6
  status = suite.run_cells(suite.cells_of(sc, w), w, log=lambda m: None)
  assert len(fake_pipeline) == 19


def test_bad_names_fail_before_any_work(tmp_path, fake_pipeline):
  sc = configs.load('suite', 'smoke')
  sc.methods = ('glam_o', 'glam_x')
  with pytest.raises(ValueError, match="unknown method 'glam_x'; valid methods: glam_o"):
    suite.cells_of(sc, str(tmp_path))
  sc = configs.load('suite', 'smoke')
  sc.tasks = ('lift', 'liftt')
  with pytest.raises(ValueError, match="unknown task 'liftt'"):
    suite.cells_of(sc, str(tmp_path))
  with pytest.raises(ValueError, match='unknown suite preset'):
    configs.load('suite', 'huge')
  assert not fake_pipeline and not os.listdir(tmp_path)


def test_two_jobs_run_tasks_at_once_with_the_same_outcome(tmp_path, fake_pipeline, monkeypatch):
  import threading
  import time
  threads = {}
  run = task_pipeline.run

  def slow_run(c, workdir, log=print):
    threads.setdefault(c.task, set()).add(threading.current_thread().name)
    time.sleep(0.01)
    run(c, workdir, log)

  monkeypatch.setattr(task_pipeline, 'run', slow_run)
  sc = configs.load('suite', 'smoke')
  serial_dir, parallel_dir = str(tmp_path / 'serial'), str(tmp_path / 'parallel')
  serial = suite.run_cells(suite.cells_of(sc, serial_dir), serial_dir, log=lambda m: None)
  calls_serial = list(fake_pipeline)
  del fake_pipeline[:]
  threads.clear()
  parallel = suite.run_cells(suite.cells_of(sc, parallel_dir), parallel_dir, log=lambda m: None, jobs=2)
  assert {n: s['status'] for n, s in parallel.items()} == {n: s['status'] for n, s in serial.items()}
  assert sorted(fake_pipeline) == sorted(calls_serial)
  generated = [c for c in fake_pipeline if c[0] == 'generate']
  assert len(generated) == len(set(generated)) == 14             # no source generated twice
  for task in sc.tasks:                                          # a task's cells in order, on one thread
    assert [c for c in fake_pipeline if c[0] == task] == [c for c in calls_serial if c[0] == task]
    assert len(threads[task]) == 1
  assert len(set().union(*threads.values())) == 2                # two threads shared the tasks
  with open(os.path.join(parallel_dir, 'cells.json')) as f:
    assert json.load(f) == parallel


def test_data_of_each_physics_backend_has_its_own_directory(tmp_path):
  sc = configs.load('suite', 'smoke')
  assert sc.pipeline.backend == 'native'              # the smoke preset compiles no MJX physics
  native = _recipe_dir(suite.Cell('main', 'lift', 'glam_o', suite.pipeline_config(sc, 'lift', 'glam_o', str(tmp_path))))
  sc.pipeline.backend = 'mjx'
  mjx = _recipe_dir(suite.Cell('main', 'lift', 'mip', suite.pipeline_config(sc, 'lift', 'mip', str(tmp_path))))
  assert native != mjx
  assert _recipe_dir(suite.Cell('main', 'lift', 'glam_o', suite.pipeline_config(sc, 'lift', 'glam_o', str(tmp_path)))) == mjx
  # `auto` (the default) is the engine it resolves to, native on the CPU: the same data, key and directory
  sc.pipeline.backend = 'native'
  named = suite.Cell('main', 'lift', 'glam_o', suite.pipeline_config(sc, 'lift', 'glam_o', str(tmp_path)))
  sc.pipeline.backend = 'auto'
  auto = suite.Cell('main', 'lift', 'glam_o', suite.pipeline_config(sc, 'lift', 'glam_o', str(tmp_path)))
  assert _recipe_dir(auto) == native and auto.key == named.key
  assert auto.directory(str(tmp_path)) == named.directory(str(tmp_path))


def test_a_cell_keeps_its_directory_when_seeds_or_trials_change(tmp_path):
  sc = configs.load('suite', 'smoke')
  sc.tasks = ('lift',)
  one = {c.name: c for c in suite.main_table_cells(sc, str(tmp_path))}
  sc.seeds, sc.trials = (0, 1), 8
  two = {c.name: c for c in suite.main_table_cells(sc, str(tmp_path))}
  for name, cell in one.items():
    assert cell.directory(str(tmp_path)) == two[name].directory(str(tmp_path))   # seed 0's stages are reused
    assert cell.key != two[name].key                                             # and the cell is rerun
  sc.pipeline.image_size = 16
  assert suite.main_table_cells(sc, str(tmp_path))[0].directory(str(tmp_path)) != one['main/lift/glam_o'].directory(
      str(tmp_path))


def test_one_seed_methods_get_the_first_seed_only(tmp_path):
  sc = configs.load('suite', 'smoke')
  sc.tasks, sc.seeds, sc.one_seed_methods = ('lift',), (3, 4, 5), ('mip',)
  seeds = {c.method: tuple(c.config.seeds) for c in suite.main_table_cells(sc, str(tmp_path))}
  assert seeds == {'glam_o': (3, 4, 5), 'mip': (3,)}
  sc.one_seed_methods = ('mipp',)
  with pytest.raises(ValueError, match="unknown method 'mipp'"):
    suite.main_table_cells(sc, str(tmp_path))


def test_scaling_points_take_their_own_seeds_and_share_the_main_cells_run(tmp_path):
  sc = configs.load('suite', 'smoke')
  sc.seeds, sc.scaling.seeds = (0, 1, 2), (7,)
  cells = suite.main_table_cells(sc, str(tmp_path)) + suite.scaling_cells(sc, str(tmp_path))
  assert {tuple(c.config.seeds) for c in cells if c.section == 'scaling'} == {(7,)}
  assert {tuple(c.config.seeds) for c in cells if c.section == 'main'} == {(0, 1, 2)}
  # the point that is the main table's recipe is another config (its seeds) in the same run directory
  main, point = [c for c in cells if c.name in ('main/stack_two/glam_o', 'scaling/stack_two/glam_o/k6-u6')]
  assert main.key != point.key and main.directory(str(tmp_path)) == point.directory(str(tmp_path))
  assert configs.load('suite', 'cpu').scaling.seeds == () and configs.load('suite', 'paper').scaling.seeds == ()


def test_report_of_a_suite_run_in_pieces(tmp_path, fake_pipeline):
  """A cell finished with fewer seeds is reported as such (with the seeds it has) until it is rerun; a cell
  never run is listed; the time of every run of a cell adds up."""
  w = str(tmp_path)
  sc = configs.load('suite', 'smoke')
  sc.tasks, sc.scaling.task, sc.third_source.tasks = ('lift',), '', ()
  status = suite.run_cells(suite.cells_of(sc, w), w)
  assert status == suite.read_status(w)
  assert status['main/lift/glam_o']['seconds_all_runs'] == status['main/lift/glam_o']['seconds'] >= 0
  status['main/lift/glam_o']['seconds_all_runs'] = 100.0          # as if its first run had taken 100 s
  with open(os.path.join(w, 'cells.json'), 'w') as f:
    json.dump(status, f)

  sc.seeds, sc.tasks = (0, 1), ('lift', 'pick_place')
  cells = suite.cells_of(sc, w)
  results = suite.assemble(sc, cells, suite.read_status(w), w)      # nothing run with this config yet
  states = {n: c['status'] for n, c in results['cells'].items()}
  assert states == {'main/lift/glam_o': 'earlier seeds or trials', 'main/lift/mip': 'earlier seeds or trials',
                    'main/pick_place/glam_o': 'not run', 'main/pick_place/mip': 'not run'}
  assert set(results['main']) == {'lift'} and set(results['comparisons']['lift']) == {'mip'}
  text = suite_report.markdown(results)
  assert '0 of 4 cells finished' in text and '- main/lift/mip: earlier seeds or trials' in text
  assert '- main/pick_place/glam_o: not run' in text

  status = suite.run_cells(cells, w, commit='abc1234')
  results = suite.assemble(sc, cells, status, w)
  assert {c['status'] for c in results['cells'].values()} == {'done'}
  assert {c['commit'] for c in results['cells'].values()} == {'abc1234'}
  assert "last runs: commit `abc1234`." in suite_report.markdown(results)
  lift = status['main/lift/glam_o']
  assert lift['seconds_all_runs'] == pytest.approx(100.0 + lift['seconds'], abs=0.11)
  assert 'every run of the command in this directory): 0.03 h' in suite_report.markdown(results)
  sc.pipeline.image_size = 16                       # another config: another directory, not this cell's run
  assert {c['status'] for c in suite.assemble(sc, suite.main_table_cells(sc, w), status, w)['cells'].values()} == {
      'not run'}


def test_pieces_run_on_other_machines_merge_into_one_report(tmp_path, fake_pipeline):
  """Each piece's cells.json carries its cells' results: merged into a new workdir (on a machine without the
  pieces' run directories) they make the report, and the merged cells are not run again."""
  import shutil
  sc = configs.load('suite', 'smoke')
  sc.scaling.task, sc.third_source.tasks = '', ()
  for task, piece in (('lift', 'a'), ('pick_place', 'b')):
    sc.tasks = (task,)
    suite.run_cells(suite.cells_of(sc, str(tmp_path / piece)), str(tmp_path / piece), log=lambda m: None)
  shutil.rmtree(tmp_path / 'a' / 'cells')                  # only the record travels
  shutil.rmtree(tmp_path / 'b' / 'cells')
  sc.tasks = ('lift', 'pick_place')
  w = str(tmp_path / 'c')
  cells = suite.cells_of(sc, w)
  status = suite.merge_records(cells, w, [str(tmp_path / 'a'), str(tmp_path / 'b' / 'cells.json')], log=lambda m: None)
  assert status == suite.read_status(w) and {s['status'] for s in status.values()} == {'done'} and len(status) == 4
  results = suite.assemble(sc, cells, status, w)
  assert set(results['main']) == {'lift', 'pick_place'}
  assert results['main']['lift']['glam_o']['success']['successes'] == 50 + 4 + 2 * 6 + 6
  assert set(results['comparisons']['pick_place']) == {'mip'}
  del fake_pipeline[:]
  suite.run_cells(cells, w, log=lambda m: None)
  assert fake_pipeline == []                                # nothing left to run
  # the report says where the time went and what the cells not run yet would take
  status['main/lift/glam_o']['seconds'] = 3600.0
  sc.tasks = ('lift', 'pick_place', 'knock_down')
  text = suite_report.markdown(suite.assemble(sc, suite.cells_of(sc, w), status, w))
  assert '| main/lift/glam_o | 1.00 | 1 min | – | – | – | – | – | 10 min | 2 min |' in text
  assert 'Left: 2 cells; 2 of them' in text
  sc.tasks = ('lift', 'pick_place')
  # a record finished with other seeds is reported as such until the cell is rerun, which runs it whole
  sc.seeds = (0, 1)
  cells = suite.cells_of(sc, str(tmp_path / 'd'))
  status = suite.merge_records(cells, str(tmp_path / 'd'), [w], log=lambda m: None)
  states = {n: c['status'] for n, c in suite.assemble(sc, cells, status, str(tmp_path / 'd'))['cells'].items()}
  assert set(states.values()) == {'earlier seeds or trials'}
  suite.run_cells(cells, str(tmp_path / 'd'), log=lambda m: None)
  assert sorted(c for c in fake_pipeline if c[0] != 'generate') == [(t, m) for t in sc.tasks for m in ('glam_o', 'mip')]
  with pytest.raises(configs.ConfigError, match='holds no suite record'):
    suite.merge_records(cells, w, [str(tmp_path / 'nowhere')])


def test_records_are_keyed_by_protocol_and_resolved_configs(tmp_path, fake_pipeline, monkeypatch):
  """A cell's key follows the configs the main job resolves (a method's sources, losses, networks) and the
  protocol version; its record says the version; --merge refuses a record of another version; an older
  record read on its own reports its cells under today's names, never pooled with today's."""
  from glam_jax.experiments import protocol
  sc = configs.load('suite', 'smoke')
  sc.tasks, sc.scaling.task, sc.third_source.tasks = ('lift',), '', ()
  w = str(tmp_path / 'a')
  cells = suite.cells_of(sc, w)
  keys = {c.name: c.key for c in cells}
  status = suite.run_cells(cells, w, log=lambda m: None)
  assert {s['protocol_version'] for s in status.values()} == {protocol.VERSION}
  # each record names its physics and machine, and the report says them, not the reporting machine's
  engine = backends.resolve(sc.pipeline.backend)
  assert {(s['backend'], s['machine']) for s in status.values()} == {(engine, suite.machine())}
  assert suite.assemble(sc, cells, status, w)['backend'] == engine
  # a change inside a resolved config (not in the pipeline config) changes the key, not the directory
  plan = task_pipeline.plan

  def other_policy_loss(c, workdir):
    p = plan(c, workdir)
    for _, _, pc, _ in p.runs:
      pc.loss.scale = 0.5
    return p

  monkeypatch.setattr(task_pipeline, 'plan', other_policy_loss)
  changed = suite.cells_of(sc, w)
  dirs = {c.name: c.directory(w) for c in cells}
  assert all(c.key != keys[c.name] and c.directory(w) == dirs[c.name] for c in changed)
  monkeypatch.setattr(task_pipeline, 'plan', plan)
  monkeypatch.setattr(protocol, 'VERSION', protocol.VERSION + 1)
  assert all(c.key != keys[c.name] for c in suite.cells_of(sc, w))
  monkeypatch.setattr(protocol, 'VERSION', protocol.VERSION - 1)

  # a record of version 1 (no version field: made before versions existed), with today's clam_o name
  old = {n.replace('/mip', '/clam_o'): {k: v for k, v in r.items() if k not in ('protocol_version', 'backend',
                                                                                 'machine')}
         for n, r in status.items()}
  os.makedirs(tmp_path / 'old')
  with open(tmp_path / 'old' / 'cells.json', 'w') as f:
    json.dump(old, f)
  with pytest.raises(configs.ConfigError, match='protocol version 1'):
    suite.merge_records(cells, str(tmp_path / 'b'), [str(tmp_path / 'old')], log=lambda m: None)
  assert not os.path.exists(tmp_path / 'b' / 'cells.json')
  # read on its own: its clam_o is today's clam_o_aux, labelled with what it lacks
  old_cells, old_status = suite.cells_of_record(sc, old, str(tmp_path / 'old'), 1)
  results = suite.assemble(sc, old_cells, old_status, str(tmp_path / 'old'), version=1)
  assert results['methods'] == ['glam_o', 'clam_o_aux'] and set(results['main']['lift']) == {'glam_o', 'clam_o_aux'}
  assert results['main']['lift']['clam_o_aux']['success'] == status['main/lift/mip']['results']['success']
  text = suite_report.markdown(results)
  assert 'Protocol version 1' in text and "the record's `clam_o` is `clam_o_aux` here" in text and 'lacks' in text
  assert "Physics of the main table's cells: mjx " in text and 'Cells ran on' not in text   # version 1: MJX only
  # read with today's cells, an older cell is not pooled: it is listed as of an earlier protocol
  mixed = {**status, 'main/lift/mip': {**status['main/lift/mip'], 'protocol_version': 1}}
  today = suite.assemble(sc, cells, mixed, w)
  assert 'mip' not in today['main']['lift'] and today['cells']['main/lift/mip']['status'] == 'earlier protocol'


def test_cells_keep_each_episodes_outcome():
  per_seed = [{'success': stats.rate_summary(2, 3), 'seed': 1000, 'smoothness': {'ldlj': -1, 'sparc': -1, 'fft': 0,
                                                                                'valid': 3},
               'episodes': {'success': [1, 0, 1], 'first_success': [4, -1, 9]}},
              {'success': stats.rate_summary(1, 3), 'seed': 1000, 'smoothness': {'ldlj': -1, 'sparc': -1, 'fft': 0,
                                                                                'valid': 3},
               'episodes': {'success': [0, 0, 1], 'first_success': [-1, -1, 2]}}]
  out = task_pipeline.pooled(per_seed, (0, 2))
  assert out['policy_seeds'] == [0, 2] and out['success']['successes'] == 3
  assert out['episodes'] == [{'seed': 0, 'eval_seed': 1000, 'success': [1, 0, 1], 'first_success': [4, -1, 9]},
                             {'seed': 2, 'eval_seed': 1000, 'success': [0, 0, 1], 'first_success': [-1, -1, 2]}]
  del per_seed[1]['episodes']                    # an evaluation made before episodes were kept
  assert 'episodes' not in task_pipeline.pooled(per_seed, (0, 2))


def test_the_committed_protocol_1_record_stays_readable():
  """docs/results/suite_cpu (protocol 1) reports as before, its clam_o under today's name clam_o_aux."""
  path = os.path.join(os.path.dirname(__file__), '..', '..', 'docs', 'results', 'suite_cpu')
  with open(os.path.join(path, 'cells.json')) as f:
    status = json.load(f)
  from glam_jax.experiments import protocol
  assert protocol.of_record(status) == {1}
  sc = configs.load('suite', 'cpu')
  cells, renamed = suite.cells_of_record(sc, status, path, 1)
  results = suite.assemble(sc, cells, renamed, path, version=1)
  assert results['main']['lift']['clam_o_aux']['success']['successes'] == status['main/lift/clam_o']['results'][
      'success']['successes']
  assert len(results['main']) == 5 and results['scaling']['exchange_rate']['aux_per_target'] > 0
  assert results['third_source']['lift']['with']['trials'] == 300


def test_cpu_preset_has_the_papers_table_with_three_seeds_each(tmp_path):
  sc = configs.load('suite', 'cpu')
  cells = suite.main_table_cells(sc, str(tmp_path))
  by_method = {}
  for c in cells:
    by_method.setdefault(c.method, []).append(c.task)
    assert tuple(c.config.seeds) == (0, 1, 2), c.name
  assert set(by_method) == {'glam_o', 'glam', 'glam_o_symmetric', 'glam_o_action_on_idm', 'clam_o', 'clam',
                            'clam_o_aux', 'lapa_o', 'lapa', 'lawm', 'mip'}
  for m in ('glam', 'clam', 'lapa', 'glam_o_symmetric', 'glam_o_action_on_idm'):
    assert by_method[m] == ['lift', 'pick_place'], m
  assert all(len(by_method[m]) == 5 for m in ('glam_o', 'clam_o', 'clam_o_aux', 'lapa_o', 'lawm', 'mip'))
  sc.only_on = {'glam': ('lfit',)}
  with pytest.raises(ValueError, match="unknown task 'lfit'"):
    suite.main_table_cells(sc, str(tmp_path))


def test_heterogeneity_section_runs_each_level_and_joins_level_0_from_the_main_table(tmp_path, fake_pipeline):
  sc = configs.load('suite', 'smoke')
  sc.tasks = ('lift',)
  sc.scaling.task = ''
  sc.third_source.tasks = ()
  sc.heterogeneity.update(tasks=('lift',), levels=(1, 2), methods=('glam_o', 'mip'))
  w = str(tmp_path)
  cells = suite.cells_of(sc, w)
  het = [c for c in cells if c.section == 'heterogeneity']
  assert [c.name for c in het] == ['heterogeneity/lift/glam_o/level1', 'heterogeneity/lift/mip/level1',
                                   'heterogeneity/lift/glam_o/level2', 'heterogeneity/lift/mip/level2']
  main_dir = _recipe_dir(next(c for c in cells if c.section == 'main'))
  assert len({main_dir, _recipe_dir(het[0]), _recipe_dir(het[2])}) == 3     # each level its own data
  assert [c.config.heterogeneity for c in het] == [1, 1, 2, 2]
  status = suite.run_cells(cells, w, log=lambda m: None)
  assert {s['status'] for s in status.values()} == {'done'}
  results = suite.assemble(sc, cells, status, w)
  t = results['heterogeneity']['lift']
  assert sorted(t['levels']) == [0, 1, 2] and set(t['levels'][0]) == {'glam_o', 'mip'}
  assert set(t['comparisons']) == {1, 2} and set(t['comparisons'][1]) == {'mip'}
  # its verdicts are in the record's Holm family: one main-table comparison and one per level
  assert results['family']['tests'] + results['family']['untestable'] == 3
  text = suite_report.markdown(results)
  assert '## Heterogeneity of the auxiliary source' in text and '| lift | 2 | mip |' in text
  assert suite_report.heterogeneity_chart(results, str(tmp_path / 'h.png')).shape[1] == 440
  sc.heterogeneity.levels = (3,)
  with pytest.raises(configs.ConfigError, match='heterogeneity.levels: unknown heterogeneity level 3'):
    suite.cells_of(sc, w)


def test_grid_runs_each_main_cell_at_each_point_it_has(tmp_path, fake_pipeline):
  sc = configs.load('suite', 'smoke')
  sc.tasks, sc.scaling.task, sc.third_source.tasks = ('lift',), '', ()
  sc.grid = 'world_model.loss.align_weight=0.5,2.0;policy.optimizer.learning_rate=1e-4,3e-4'
  w = str(tmp_path)
  cells = suite.cells_of(sc, w)
  grid = {c.name: c for c in cells if c.section == 'grid'}
  # GLAM-O has both fields: its align weights in one run's in-program sweep (the first key one program can
  # sweep), a run per learning rate; MIP has no world model: its learning rates in one run
  assert sorted(grid) == ['grid/lift/glam_o/learning_rate=0.0001,align_weight=0.5|2',
                          'grid/lift/glam_o/learning_rate=0.0003,align_weight=0.5|2',
                          'grid/lift/mip/learning_rate=0.0001|0.0003']
  point = grid['grid/lift/glam_o/learning_rate=0.0001,align_weight=0.5|2']
  assert point.config.sweep == 'world_model.loss.align_weight=0.5,2.0'
  resolved = suite.resolved_configs(point.config)
  assert {a: wm['loss']['align_weight'] for a, wm in resolved['world_models'].items()} == {
      'glam_o@align_weight=0.5': 0.5, 'glam_o@align_weight=2': 2.0}
  assert resolved['policies']['glam_o@align_weight=2']['optimizer']['learning_rate'] == 1e-4
  assert grid['grid/lift/mip/learning_rate=0.0001|0.0003'].config.sweep == 'policy.optimizer.learning_rate=0.0001,0.0003'
  assert len({c.key for c in cells}) == len(cells)
  status = suite.run_cells(cells, w, log=lambda m: None)
  assert set(status['grid/lift/mip/learning_rate=0.0001|0.0003']['results']['sweep']) == {
      'learning_rate=0.0001', 'learning_rate=0.0003'}
  results = suite.assemble(sc, cells, status, w)
  assert set(results['grid']['lift']['glam_o']) == {f'learning_rate={lr},align_weight={a}'
                                                    for lr in ('0.0001', '0.0003') for a in ('0.5', '2')}
  assert set(results['grid']['lift']['mip']) == {'learning_rate=0.0001', 'learning_rate=0.0003'}
  base = results['main']['lift']['mip']['success']
  results['grid']['lift']['mip']['learning_rate=0.0001']['success'] = stats.rate_summary(base['successes'] // 2,
                                                                                         base['trials'])
  text = suite_report.markdown(results)
  assert '## Hyper-parameter grid' in text
  # each point against its main-table cell: the difference of the rates and Newcombe's interval
  point = results['grid']['lift']['mip']['learning_rate=0.0001']['success']
  lo, hi = stats.newcombe(point['successes'], point['trials'], base['successes'], base['trials'])
  row = next(line for line in text.splitlines() if line.startswith('| lift | mip | learning_rate=0.0001 |'))
  assert row.endswith(f"| {point['rate'] - base['rate']:+.3f} [{lo:.3f}, {hi:.3f}] |"), row
  sc.grid = 'trials=4,8'                        # not a stage field: a cell per point
  assert sorted(c.name for c in suite.cells_of(sc, w) if c.section == 'grid') == [
      'grid/lift/glam_o/trials=4', 'grid/lift/glam_o/trials=8', 'grid/lift/mip/trials=4', 'grid/lift/mip/trials=8']
  for bad, message in [(';', 'empty'), ('world_model.loss.nothing=1', "grid key 'world_model.loss.nothing' is a field "
                       "of no cell's run"), ('trials=4,4', 'repeated'), ('x', 'expected FIELD=V1,V2'),
                       ('policy.optimizer.learning_rate=abc', 'cannot be casted')]:
    sc.grid = bad
    with pytest.raises(configs.ConfigError, match=message):
      suite.cells_of(sc, w)


def test_a_field_added_later_leaves_the_key_at_its_neutral_value(tmp_path):
  """A pipeline field at its NEUTRAL value gives the key and directory of a config without the field (the
  records made before it stay theirs); any other value gives another key."""
  import copy
  sc = configs.load('suite', 'smoke')
  cell = next(c for c in suite.cells_of(sc, str(tmp_path)) if c.section == 'main')
  for field, neutral in suite.NEUTRAL.items():
    assert cell.config[field] == neutral
    without = copy.deepcopy(cell.config)
    with without.unlocked():
      del without[field]
    older = suite.Cell(cell.section, cell.task, cell.method, without)
    assert older.key == cell.key and older.directory('w') == cell.directory('w')
  other = copy.deepcopy(cell.config)
  other.runs_in_one_program = 'on'
  assert suite.Cell(cell.section, cell.task, cell.method, other).key != cell.key

