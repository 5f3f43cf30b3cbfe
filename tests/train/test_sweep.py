"""Runs stacked in one program (seeds, a learning rate, a loss weight) equal the separate runs their
configs describe, and a sweep killed between its members' saves resumes."""
import json
import os
import subprocess
import sys

import ml_collections
import pytest

from glam_jax import configs
from glam_jax.train import sweep
from tests.data.helpers import write_synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(part, tmp_path) -> dict:
  data = tmp_path / 'data'
  write_synthetic(str(data / 'lift' / 'kinova'), 0, [6, 9, 5, 12, 7, 8], size=16)
  write_synthetic(str(data / 'lift' / 'umi'), 1, [7, 4, 10, 8, 6, 9], has_actions=False, name='umi', size=16)
  out = subprocess.run([sys.executable, '-m', 'tests.train.sweep_runs', part, str(data), str(tmp_path / 'runs')],
                       cwd=ROOT, capture_output=True, text=True, timeout=1200, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert out.returncode == 0, out.stderr[-3000:]
  diffs = json.loads(out.stdout.strip().splitlines()[-1])
  assert diffs['devices'] == 2
  return diffs


def _assert_equal_runs(diffs: dict, names) -> None:
  for name in names:
    d = diffs[name]
    assert d['loss_change'] > 1e-3, (name, d)                 # the runs did train
    assert d['loss'] < 1e-4 and d['eval_loss'] < 1e-4 and d['params'] < 1e-5, (name, d)


def test_stacked_seeds_match_separate_runs_and_resume(tmp_path):
  diffs = _run('seeds', tmp_path)
  assert diffs['different_seeds_differ']
  _assert_equal_runs(diffs, ('seed4', 'seed5', 'resumed'))


@pytest.mark.slow
def test_stacked_learning_rates_and_kl_weights_match_separate_runs(tmp_path):
  diffs = _run('hyperparameters', tmp_path)
  assert diffs['lr_members'] == [f'seed{s}-learning_rate{v}' for s in (0, 1, 2) for v in ('0.0003', '0.01')]
  assert diffs['lr_values_differ']
  _assert_equal_runs(diffs, ('lr', 'kl'))


def _config(**fields):
  c = configs.load('world_model', 'lift,tiny')
  c.update(fields)
  return c


def test_members_and_their_configs():
  assert [m.name for m in sweep.members(_config())] == ['']
  group = sweep.members(_config(seed=3, num_seeds=2, sweep='loss.prior_weight=0.1,1e-3'))
  assert [m.name for m in group] == ['seed3-prior_weight0.1', 'seed3-prior_weight0.001',
                                     'seed4-prior_weight0.1', 'seed4-prior_weight0.001']
  c = sweep.member_config(_config(seed=3, num_seeds=2, sweep='loss.prior_weight=0.1,1e-3'), group[3])
  assert (c.seed, c.num_seeds, c.sweep, c.loss.prior_weight) == (4, 1, '', 0.001)
  assert isinstance(c, ml_collections.ConfigDict)


@pytest.mark.parametrize('fields, message', [
    (dict(num_seeds=0), 'at least 1'),
    (dict(sweep='optimizer.learning_rate'), 'expected FIELD=V1,V2'),
    (dict(sweep='optimizer.learning_rate=fast,slow'), 'must be numbers'),
    (dict(sweep='optimizer.learning_rate=1e-3,1e-3'), 'repeated'),
    (dict(sweep='optimizer.grad_clip=1,2'), 'cannot be swept in one program'),
    (dict(sweep='loss.alignment=1,2'), 'not a float'),
    (dict(sweep='loss.nope=1,2'), "no 'nope'"),
])
def test_bad_sweeps_are_refused(fields, message):
  with pytest.raises(ValueError, match=message):
    sweep.members(_config(**fields))
