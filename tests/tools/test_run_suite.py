"""The smoke suite end to end on every task, with the scaling and third-source sections, and the same command
on the same machine gives the same results, under the local executor and as Ray tasks. 15 minutes on the 2-core
machine while it ran other work (native MuJoCo: no MJX physics to compile), so it has its own marker: CI runs it
after the tests (`.ci/run`)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TASKS = ('lift', 'pick_place', 'knock_down', 'stack_two', 'stack_three')


def _suite(workdir, *overrides):
  return subprocess.run([sys.executable, 'tools/run_suite.py', '--config=experiments/configs/suite.py:smoke',
                         f'--workdir={workdir}', '--config.pipeline.replay_sources=umi', *overrides],
                        cwd=ROOT, capture_output=True, text=True, timeout=3 * 3600)


@pytest.mark.smoke_suite
def test_smoke_suite_covers_every_task_and_repeats_itself(tmp_path):
  first = _suite(tmp_path / 'a')
  assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
  results = json.load(open(tmp_path / 'a' / 'results.json'))
  assert set(results['main']) == set(TASKS)
  for task in TASKS:
    assert set(results['main'][task]) == {'glam_o', 'mip'}
    assert results['comparisons'][task]['mip']['trials'] == [4, 4]
  report = open(tmp_path / 'a' / 'report.md').read()
  assert all(t in report for t in TASKS) and '19 of 19 cells finished' in report
  assert 'exchange_rate' in results['scaling'] and results['third_source']['lift']['with']['trials'] == 4
  for png in ('main_table.png', 'replay.png', 'scaling.png'):
    assert os.path.exists(tmp_path / 'a' / png)
  again = _suite(tmp_path / 'a')
  assert again.returncode == 0 and again.stdout.count('skipped') == 19
  # the same command in a new directory: the same results (one task, to keep it short)
  other = _suite(tmp_path / 'b', '--config.tasks=lift', '--config.scaling.task=', '--config.third_source.tasks=')
  assert other.returncode == 0, other.stderr[-3000:]
  repeat = json.load(open(tmp_path / 'b' / 'results.json'))['main']['lift']
  for m in ('glam_o', 'mip'):
    assert repeat[m]['success'] == results['main']['lift'][m]['success']
    assert repeat[m]['seeds'] == results['main']['lift'][m]['seeds']
    # smoothness and replay tracking errors move with every weight and simulated step: equal means identical
    same = lambda key: json.dumps(repeat[m].get(key)) == json.dumps(results['main']['lift'][m].get(key))  # NaN too
    assert same('smoothness') and same('replay')
  # the same cells as Ray tasks on a Ray started for the run (glam_jax/experiments/ray_cells.py): the same numbers
  pytest.importorskip('ray')
  on_ray = _suite(tmp_path / 'c', '--config.tasks=lift', '--config.scaling.task=', '--config.third_source.tasks=',
                  '--executor=ray')
  assert on_ray.returncode == 0, on_ray.stdout[-3000:] + on_ray.stderr[-3000:]
  assert 'cells on Ray' in on_ray.stdout + on_ray.stderr
  ray_lift = json.load(open(tmp_path / 'c' / 'results.json'))['main']['lift']
  for m in ('glam_o', 'mip'):
    for key in ('success', 'seeds', 'smoothness', 'replay', 'episodes', 'alignment'):
      assert json.dumps(ray_lift[m].get(key)) == json.dumps(repeat[m].get(key)), (m, key)
  assert os.path.exists(tmp_path / 'c' / json.load(open(tmp_path / 'c' / 'cells.json'))['main/lift/mip']['dir'] / 'cell.log')
