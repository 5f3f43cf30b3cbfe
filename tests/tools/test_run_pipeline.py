"""The main job end to end at smoke size: every stage runs, each latent method trains its own world model
(named by its config's hash) and is replayed, the report covers every method and every pair, a rerun with
unchanged config skips every stage, one with changed settings redoes exactly the stages they feed (with
`gifs=0`, no GIFs and no crash), and one killed (SIGKILL) at a random moment finishes with the results of
the uninterrupted run when the same command is run again (GLAM_KILL_SEED fixes the moment; the slow test
kills in every stage). CI runs GLAM-O, LAWM (the only method with a pre-training stage) and MIP; the slow
test runs every method of the registry (each extra latent method costs its own evaluation and replay
compiles, about 3 minutes cold on the 2-core CPU)."""
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

from glam_jax import methods

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ALL = tuple(methods.METHODS)
CI = ('glam_o', 'lawm', 'mip')


def _command(workdir, chosen, *overrides):
  return [sys.executable, 'tools/run_pipeline.py', '--config=experiments/configs/pipeline.py:lift,smoke',
          f'--workdir={workdir}', f'--config.methods={",".join(chosen)}', *overrides]


def _run(workdir, chosen, *overrides):
  return subprocess.run(_command(workdir, chosen, *overrides), cwd=ROOT, capture_output=True, text=True, timeout=2400)


def _run_killed(workdir, chosen, stage: int, delay: float, *overrides) -> str:
  """Starts the main job, and `delay` seconds after stage `stage` starts (or at the end of the job, if
  sooner) kills it and every process it started with SIGKILL; returns the last stage line it printed. Its
  output is drained all along, so it never waits on a full pipe."""
  p = subprocess.Popen(_command(workdir, chosen, *overrides), cwd=ROOT, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, start_new_session=True)
  started, stages = threading.Event(), []

  def drain():
    for line in p.stdout:
      if re.match(r'\[\d+/\d+\] ', line):
        stages.append(line.strip())
        if line.startswith(f'[{stage}/'):
          started.set()
    started.set()                      # the job ended first

  threading.Thread(target=drain, daemon=True).start()
  started.wait(timeout=2400)
  time.sleep(delay)
  try:
    os.killpg(p.pid, signal.SIGKILL)
  except ProcessLookupError:           # it had finished
    pass
  p.wait()
  return stages[-1] if stages else 'before the first stage'


def _outcome(results: dict) -> dict:
  """Everything a run's results.json holds but its timings, compile counts and the world models' directory
  names (their hash holds the run's own data directory, inside its workdir): per method success, smoothness, seeds and
  the replay with its tracking errors (which move with every weight and every simulated step), the
  comparisons, the task and the machine."""
  return {k: v for k, v in results.items() if k not in ('timings', 'world_models', 'compile_cache')}


def _method_outcome(results: dict, method: str) -> dict:
  """What `_outcome` holds about one method, to hold against a run of that method alone (no pairs)."""
  out = _outcome(results)
  return {**out, 'methods': out['methods'][method], 'comparisons': None}


@pytest.mark.parametrize('chosen', [CI, pytest.param(ALL, marks=pytest.mark.slow)], ids=['ci', 'every_method'])
def test_smoke_pipeline_runs_end_to_end_and_reruns(tmp_path, chosen):
  workdir = str(tmp_path / 'run')
  sources = ('umi', 'kinova') if chosen == ALL else ('umi',)
  replay = f'--config.replay_sources={",".join(sources)}'
  first = _run(workdir, chosen, replay)
  assert first.returncode == 0, first.stderr[-4000:]
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  assert list(results['methods']) == list(chosen)
  for name, m in results['methods'].items():
    s = m['success']
    assert s['trials'] == 4 and 0 <= s['successes'] <= 4
    assert s['wilson_low'] <= s['rate'] <= s['wilson_high']
    assert set(m['smoothness']) >= {'ldlj', 'sparc', 'fft', 'valid'}
    if methods.get(name).learner:
      assert set(m['replay']) == {f'{s}->kinova' for s in sources}
      assert all(r['trials'] == 2 for r in m['replay'].values())
      probe = m['alignment']
      assert set(probe['results']) == {'target_held_out', 'umi'} and probe['truth']['umi'] == 'simulator'
      assert all(np.isfinite(r['r2']) and np.isfinite(r['reference_r2']) for r in probe['results'].values())
    else:
      assert 'replay' not in m and 'alignment' not in m
  pairs = {(c['a'], c['b']) for c in results['comparisons']}
  assert len(pairs) == len(chosen) * (len(chosen) - 1) // 2 and ('glam_o', 'mip') in pairs
  # one world model per latent method, named by method and config hash; its labels beside it
  wms = results['world_models']
  latent = [m for m in chosen if methods.get(m).learner]
  assert set(wms) == set(latent) and len(set(wms.values())) == len(wms)
  for name, d in wms.items():
    assert os.path.basename(d).startswith(f'{name}-')
    assert sorted(os.listdir(os.path.join(workdir, d, 'labels'))) == ['kinova.npy', 'stats.json', 'umi.npy']
    with open(os.path.join(workdir, d, 'config.json')) as f:
      assert json.load(f)['method'] == name
  report = open(os.path.join(workdir, 'report.md')).read()
  assert all(f'| {m} |' in report for m in chosen) and 'Wilson' in report and 'Latent replay' in report
  assert 'Alignment probe' in report
  if 'lawm' in chosen:
    assert any(d.startswith('lawm-') for d in os.listdir(os.path.join(workdir, 'pretrained')))
  assert Image.open(os.path.join(workdir, 'success.png')).size == (640, 420)
  for m in chosen:
    assert Image.open(os.path.join(workdir, f'rollouts_{m}.gif')).n_frames > 10

  # killed at a random moment (a random stage, a random delay into it), the same command finishes with the
  # results of the uninterrupted run
  # (GLAM-O alone: its stages are data, world model, relabelling, replay, policy, evaluation and report, and
  # its results do not depend on the other methods of the run)
  rng = random.Random(int(os.environ.get('GLAM_KILL_SEED', time.time())))
  stage, delay = rng.randint(1, 6), rng.uniform(0, 20)
  killed_dir = str(tmp_path / 'killed')
  where = _run_killed(killed_dir, ('glam_o',), stage, delay, replay)
  print(f'killed {delay:.1f} s after stage {stage} started, in "{where}"')
  resumed = _run(killed_dir, ('glam_o',), replay)
  assert resumed.returncode == 0, f'killed {delay:.1f} s into "{where}": {resumed.stderr[-4000:]}'
  with open(os.path.join(killed_dir, 'results.json')) as f:
    assert _method_outcome(json.load(f), 'glam_o') == _method_outcome(results, 'glam_o'), \
        f'killed {delay:.1f} s into "{where}"'

  again = _run(workdir, chosen, replay)
  assert again.returncode == 0, again.stderr[-4000:]
  assert 'redoing' not in again.stdout
  pretrained = sum(methods.get(m).pretrain for m in chosen)
  assert again.stdout.count('skipped') == 1 + 4 * len(latent) + pretrained + 2 * len(chosen)

  for m in chosen:
    os.remove(os.path.join(workdir, f'rollouts_{m}.gif'))
  # 2 trials on the 2 CPU devices: one episode each is padded to two (one each grew XLA's program past 7 GB)
  changed = _run(workdir, chosen, replay, '--config.eval_seed=1001', '--config.gifs=0', '--config.trials=2')
  assert changed.returncode == 0, changed.stderr[-4000:]
  assert changed.stdout.count('its config changed since the last run, redoing') == len(chosen)   # evaluations
  for m in chosen:
    d = next(p for p in os.listdir(os.path.join(workdir, 'policies')) if p.startswith(f'{m}-seed0-'))
    with open(os.path.join(workdir, 'policies', d, 'eval', 'results.json')) as f:
      evaluated = json.load(f)
    assert evaluated['seed'] == 1001 and evaluated['trials'] == 2
  assert not any(n.endswith('.gif') for n in os.listdir(workdir))


def test_unknown_method_lists_the_valid_ones(tmp_path):
  out = subprocess.run([sys.executable, 'tools/run_pipeline.py', '--config=experiments/configs/pipeline.py:lift,smoke',
                        f'--workdir={tmp_path}', '--config.methods=glam_o,lapa_x'],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode != 0
  assert "unknown method 'lapa_x'; valid methods: " + ', '.join(ALL) in out.stderr
  assert not os.path.exists(os.path.join(tmp_path, 'stages.json'))


@pytest.mark.slow
def test_killed_in_every_stage_finishes_with_the_uninterrupted_results(tmp_path):
  rng = random.Random(int(os.environ.get('GLAM_KILL_SEED', 0)))
  reference = _run(str(tmp_path / 'reference'), CI)
  assert reference.returncode == 0, reference.stderr[-4000:]
  with open(os.path.join(tmp_path, 'reference', 'results.json')) as f:
    expected = _outcome(json.load(f))
  total = int(re.search(r'\[1/(\d+)\]', reference.stdout).group(1))
  for stage in range(1, total + 1):    # the last is the report
    for attempt in range(2):            # early in the stage, and anywhere in it
      workdir = str(tmp_path / f'killed-{stage}-{attempt}')
      delay = rng.uniform(0, 2) if attempt == 0 else rng.uniform(0, 30)
      where = _run_killed(workdir, CI, stage, delay)
      if attempt == 1:                   # killed twice: once more while the rerun redoes the stage
        _run_killed(workdir, CI, stage, rng.uniform(0, 10))
      resumed = _run(workdir, CI)
      assert resumed.returncode == 0, f'killed {delay:.1f} s into "{where}": {resumed.stderr[-4000:]}'
      with open(os.path.join(workdir, 'results.json')) as f:
        assert _outcome(json.load(f)) == expected, f'killed {delay:.1f} s into "{where}"'


def test_smoke_pipeline_with_a_umi_like_source(tmp_path):
  """Heterogeneity level 1 end to end: the UMI recorded at 25 Hz through its wrist camera only, with human
  motion and pose error; the target gains the wrist view; GLAM-O's world model reads the wrist masks, the
  policies every target view; probe and replay run on the re-timed UMI episodes."""
  workdir = str(tmp_path / 'run')
  r = _run(workdir, ('glam_o', 'mip'), '--config.heterogeneity=1', '--config.replay_sources=umi')
  assert r.returncode == 0, r.stderr[-4000:]
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  wm = os.path.join(workdir, results['world_models']['glam_o'])
  with open(os.path.join(wm, 'config.json')) as f:
    wm_config = json.load(f)
  assert wm_config['image_keys'] == ['wrist/mask']
  data = wm_config['data_dir']                  # the recipe's links, inside the run's data root
  assert data.startswith(os.path.join(workdir, 'data', 'recipes'))
  with open(os.path.join(data, 'lift', 'umi', 'meta.json')) as f:
    umi = json.load(f)
  assert umi['views'] == ['wrist'] and umi['ctrl_dt'] == 0.04 and umi['heterogeneity_level'] == 1
  assert 'true_ee_pose' in umi['lowdim_fields']
  with open(os.path.join(data, 'lift', 'kinova', 'meta.json')) as f:
    assert json.load(f)['views'] == ['overhead', 'front', 'wrist']
  for m in ('glam_o', 'mip'):
    policy = next(d for d in os.listdir(os.path.join(workdir, 'policies')) if d.startswith(f'{m}-'))
    with open(os.path.join(workdir, 'policies', policy, 'config.json')) as f:
      assert json.load(f)['image_keys'] == ['overhead/rgb', 'front/rgb', 'wrist/rgb']
    assert results['methods'][m]['success']['trials'] == 4
  probe = results['methods']['glam_o']['alignment']
  assert probe['truth'] == {'kinova': 'simulator', 'umi': 'simulator'}
  assert np.isfinite(probe['results']['umi']['reference_r2'])
  assert results['methods']['glam_o']['replay']['umi->kinova']['trials'] == 2


GENERATED = re.compile(r'^(\S+): \d+ episodes, \d+ steps; scripted success')


def _start(workdir, data, size):
  return subprocess.Popen(_command(workdir, ('mip',), f'--config.data_dir={data}', f'--config.image_size={size}',
                                   '--config.gifs=0', '--config.episodes.umi=0'), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})


def _finish(p) -> list:
  out = p.communicate(timeout=1200)[0]
  assert p.returncode == 0, out[-3000:]
  return out.splitlines()


def test_main_jobs_with_other_settings_share_a_data_dir_without_regenerating(tmp_path):
  """Two main jobs with other image sizes on one data_dir, one after the other and then at the same time
  (with a third that needs the same new data as one of them): each runs on its own data, no dataset is made
  twice or rewritten, and a second run in a busy workdir is refused naming the first."""
  data, made = tmp_path / 'data', []
  for size in (32, 16):                                       # one after the other
    made += [m.group(1) for line in _finish(_start(tmp_path / f'w{size}', data, size)) if (m := GENERATED.match(line))]
  assert len(made) == len(set(made)) == 2, made
  stamps = {p: os.stat(os.path.join(p, 'meta.json')).st_mtime_ns for p in made}
  jobs = [_start(tmp_path / 'a', data, 24), _start(tmp_path / 'b', data, 24), _start(tmp_path / 'c', data, 20)]
  for line in jobs[0].stdout:                                 # 'a' holds its workdir from its first stage on
    if line.startswith('[1/'):
      break
  busy = subprocess.run(_command(tmp_path / 'a', ('mip',), f'--config.data_dir={data}', '--config.image_size=24',
                                 '--config.episodes.umi=0'),
                        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert busy.returncode == 2 and f'is in use by pid {jobs[0].pid} on ' in busy.stderr, busy.stderr[-2000:]
  assert 'Traceback' not in busy.stderr
  lines = [_finish(p) for p in jobs]
  again = [m.group(1) for out in lines for line in out if (m := GENERATED.match(line))]
  assert len(again) == len(set(again)) == 2 and not set(again) & set(made), again   # 24's and 20's, once each
  assert {p: os.stat(os.path.join(p, 'meta.json')).st_mtime_ns for p in made} == stamps
  sizes = {}
  for recipe in (data / 'recipes').iterdir():                 # each run read a recipe of its own size
    sizes[recipe.name] = {json.load(open(recipe / 'lift' / 'kinova' / 'meta.json'))['image_size']}
  assert sorted(sizes.values(), key=min) == [{16}, {20}, {24}, {32}]
  for w in ('w32', 'w16', 'a', 'b', 'c'):
    assert json.load(open(tmp_path / w / 'results.json'))['methods']['mip']['success']['trials'] == 4


def _final_losses(workdir: str) -> dict:
  """{policy directory without its hash (which holds the workdir's world model's path): its last logged
  training loss}."""
  out = {}
  for d in sorted(os.listdir(os.path.join(workdir, 'policies'))):
    path = os.path.join(workdir, 'policies', d, 'metrics.jsonl')
    if os.path.exists(path):
      rows = [json.loads(line) for line in open(path) if '"train/loss"' in line]
      out[d.rsplit('-', 1)[0]] = rows[-1]['train/loss']
  return out


def test_a_methods_runs_in_one_program_give_the_results_of_separate_runs(tmp_path):
  """A cell's three policy seeds trained in one compiled program (`runs_in_one_program=on`) give each seed
  the run directory, losses (to float rounding) and per-episode outcomes of the three seeds trained one by
  one; the record says how they were trained. (Without the probe and replay, `probe_episodes=0` and
  `replay_episodes=0`: no stage of theirs runs, and the stages are counted without them.)"""
  data = tmp_path / 'data'
  common = ('--config.seeds=0,1,2', f'--config.data_dir={data}', '--config.replay_episodes=0', '--config.gifs=0',
            '--config.probe_episodes=0')
  runs = {}
  for mode in ('off', 'on'):
    r = _run(str(tmp_path / mode), ('glam_o',), *common, f'--config.runs_in_one_program={mode}')
    assert r.returncode == 0, r.stderr[-4000:]
    assert ('3 runs in one program' in r.stdout) == (mode == 'on')
    assert re.search(r'\[(\d+)/\1\] report', r.stdout) and 'alignment_' not in r.stdout
    with open(tmp_path / mode / 'results.json') as f:
      runs[mode] = json.load(f)['methods']['glam_o']
    assert 'alignment' not in runs[mode]
  apart, together = runs['off'], runs['on']
  assert together['training'].pop('runs_in_one_program') and not apart['training'].pop('runs_in_one_program')
  assert together['policy_seeds'] == apart['policy_seeds'] == [0, 1, 2]
  assert together['episodes'] == apart['episodes'] and together['seeds'] == apart['seeds']
  losses = {mode: _final_losses(str(tmp_path / mode)) for mode in ('off', 'on')}
  assert list(losses['on']) == list(losses['off']) == [f'glam_o-seed{s}' for s in (0, 1, 2)]
  assert len(set(losses['off'].values())) == 3                                      # the seeds did differ
  for d, loss in losses['off'].items():
    assert abs(losses['on'][d] - loss) <= 1e-4 * max(1.0, abs(loss)), (d, losses)


def test_a_swept_world_model_field_gives_each_point_the_run_it_would_have_alone(tmp_path):
  """`sweep=world_model.loss.align_weight=0.5,1` trains both world models in one program and gives the arm at
  0.5 the world-model directory and per-episode outcomes of a run with align_weight=0.5 alone; MIP, which
  the field does not change, is one arm."""
  data = tmp_path / 'data'
  common = (f'--config.data_dir={data}', '--config.replay_episodes=0', '--config.gifs=0')
  swept = _run(str(tmp_path / 'swept'), ('glam_o', 'mip'), *common, '--config.runs_in_one_program=on',
               '--config.sweep=world_model.loss.align_weight=0.5,1')
  assert swept.returncode == 0, swept.stderr[-4000:]
  assert '2 runs in one program' in swept.stdout
  alone = _run(str(tmp_path / 'alone'), ('glam_o',), *common, '--config.world_model.loss.align_weight=0.5')
  assert alone.returncode == 0, alone.stderr[-4000:]
  with open(tmp_path / 'swept' / 'results.json') as f:
    sw = json.load(f)
  with open(tmp_path / 'alone' / 'results.json') as f:
    al = json.load(f)
  assert list(sw['methods']) == ['glam_o@align_weight=0.5', 'glam_o@align_weight=1', 'mip']
  assert sw['sweep'] == {'field': 'world_model.loss.align_weight', 'values': [0.5, 1.0]}
  arm = sw['methods']['glam_o@align_weight=0.5']
  assert arm['sweep_point'] == {'world_model.loss.align_weight': 0.5, 'label': 'align_weight=0.5'}
  assert os.path.basename(sw['world_models']['glam_o@align_weight=0.5']) == os.path.basename(al['world_models']['glam_o'])
  assert sw['world_models']['glam_o@align_weight=0.5'] != sw['world_models']['glam_o@align_weight=1']
  assert arm['episodes'] == al['methods']['glam_o']['episodes']
  other = sw['methods']['glam_o@align_weight=1']['alignment']['results']
  assert other['umi']['r2'] != pytest.approx(arm['alignment']['results']['umi']['r2'], rel=1e-3)   # trained at 1
  for source, probe in al['methods']['glam_o']['alignment']['results'].items():
    assert arm['alignment']['results'][source]['r2'] == pytest.approx(probe['r2'], rel=1e-3, abs=1e-4), source
