"""The main job end to end at smoke size: every stage runs, the report files are written with consistent
numbers, and a rerun skips the finished stages."""
import json
import os
import subprocess
import sys

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(workdir):
  return subprocess.run([sys.executable, 'tools/run_pipeline.py',
                         '--config=experiments/configs/pipeline.py:lift,smoke', f'--workdir={workdir}'],
                        cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_smoke_pipeline_runs_end_to_end_and_resumes(tmp_path):
  workdir = str(tmp_path / 'run')
  first = _run(workdir)
  assert first.returncode == 0, first.stderr[-4000:]
  with open(os.path.join(workdir, 'results.json')) as f:
    results = json.load(f)
  assert set(results['methods']) == {'glam_o', 'mip'}
  for m in results['methods'].values():
    s = m['success']
    assert s['trials'] == 4 and 0 <= s['successes'] <= 4
    assert s['wilson_low'] <= s['rate'] <= s['wilson_high']
    assert set(m['smoothness']) >= {'ldlj', 'sparc', 'fft', 'valid'}
  (comp,) = results['comparisons']
  assert (comp['a'], comp['b']) == ('glam_o', 'mip')
  assert comp['newcombe_two_sided'][0] <= comp['newcombe_two_sided'][1]
  assert set(results['timings']) >= {'data', 'world_model', 'relabel', 'train_glam_o_seed0', 'train_mip_seed0',
                                     'evaluate_glam_o_seed0', 'evaluate_mip_seed0'}
  report = open(os.path.join(workdir, 'report.md')).read()
  assert 'glam_o' in report and 'mip' in report and 'Wilson' in report
  assert Image.open(os.path.join(workdir, 'success.png')).size == (640, 420)
  for m in ('glam_o', 'mip'):
    gif = Image.open(os.path.join(workdir, f'rollouts_{m}.gif'))
    assert gif.n_frames > 10
  labels = os.path.join(workdir, 'world_model', 'labels')
  assert sorted(os.listdir(labels)) == ['kinova.npy', 'stats.json', 'umi.npy']

  again = _run(workdir)
  assert again.returncode == 0, again.stderr[-4000:]
  assert again.stdout.count('skipped') >= 7              # every stage but the report
  assert 'evaluate lift' not in again.stderr             # no evaluation ran again
