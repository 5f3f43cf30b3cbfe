"""The shared training loop: a sharded step equals the single-device step, a crashed run resumes to the
losses of an uninterrupted one, and a run writes its metrics and checkpoints."""
import json
import os
import subprocess
import sys

import pytest

from glam_jax import configs
from glam_jax.stage1 import experiment
from glam_jax.train import loop, metrics
from tests.data.helpers import write_synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_sharded_step_equals_single_device_step():
  out = subprocess.run([sys.executable, '-m', 'tests.train.sharded_step'], cwd=ROOT, capture_output=True,
                       text=True, timeout=600, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert out.returncode == 0, out.stderr[-3000:]
  diffs = json.loads(out.stdout.strip().splitlines()[-1])
  assert diffs['moved'] > 1e-4                  # the steps did change the parameters
  assert diffs['param_diff'] < 1e-5, diffs
  assert diffs['metric_rel_diff'] < 1e-4, diffs


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp('wm_data')
  write_synthetic(str(root / 'lift' / 'kinova'), 0, [6, 9, 5, 12, 7, 8], size=16)
  write_synthetic(str(root / 'lift' / 'umi'), 1, [7, 4, 10, 8, 6, 9], has_actions=False, name='umi', size=16)
  return str(root)


def _config(data_dir, **overrides):
  c = configs.load('world_model', 'lift,tiny')
  c.data_dir = data_dir
  c.image_keys = ('overhead/rgb', 'overhead/mask')
  c.model.conv_features = (8, 16)
  c.update({**dict(batch_size=8, num_steps=12, log_every=1, checkpoint_every=4, eval_every=6), **overrides})
  return c


def _losses(workdir):
  return {r['step']: r['train/loss'] for r in metrics.read_jsonl(os.path.join(workdir, 'metrics.jsonl'))
          if 'train/loss' in r}


def test_run_writes_metrics_checkpoints_and_evaluates(data_dir, tmp_path):
  c = _config(data_dir)
  learner, train_data, eval_data = experiment.build(c)
  out = loop.train(c, learner, train_data, str(tmp_path), eval_data, progress=False)
  assert out['step'] == 12 and out['eval']['loss'] > 0
  losses = _losses(str(tmp_path))
  assert sorted(losses) == list(range(1, 13))
  rows = metrics.read_jsonl(str(tmp_path / 'metrics.jsonl'))
  assert [r['step'] for r in rows if 'eval/loss' in r] == [6, 12]
  assert os.listdir(tmp_path / 'tensorboard')
  assert sorted(int(s) for s in os.listdir(tmp_path / 'checkpoints') if s.isdigit()) == [4, 8, 12]
  assert json.load(open(tmp_path / 'config.json'))['num_steps'] == 12
  # the trained parameters load back for downstream use
  _, params, config = experiment.load(str(tmp_path))
  assert config.num_steps == 12
  import jax
  import numpy as np
  for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(out['state'].params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # rerunning a finished run does nothing and keeps the metrics
  again = loop.train(c, learner, train_data, str(tmp_path), eval_data, progress=False)
  assert again['step'] == 12 and _losses(str(tmp_path)) == losses


def test_crashed_run_resumes_to_the_same_losses(data_dir, tmp_path, monkeypatch):
  c = _config(data_dir)
  learner, train_data, _ = experiment.build(c)
  loop.train(c, learner, train_data, str(tmp_path / 'straight'), progress=False)
  expected = _losses(str(tmp_path / 'straight'))

  real = loop.sharding.global_batch
  calls = {'n': 0}

  def crash_at_step_10(batch, mesh, *sharding):
    calls['n'] += 1
    if calls['n'] == 11:            # one call builds the init batch, then one per step
      raise RuntimeError('simulated crash')
    return real(batch, mesh, *sharding)

  monkeypatch.setattr(loop.sharding, 'global_batch', crash_at_step_10)
  with pytest.raises(RuntimeError, match='simulated crash'):
    loop.train(c, learner, train_data, str(tmp_path / 'crashed'), progress=False)
  monkeypatch.setattr(loop.sharding, 'global_batch', real)
  assert max(_losses(str(tmp_path / 'crashed'))) == 9
  loop.train(c, learner, train_data, str(tmp_path / 'crashed'), progress=False)   # resumes from step 8
  resumed = _losses(str(tmp_path / 'crashed'))
  assert sorted(resumed) == sorted(expected)
  for step in expected:
    assert resumed[step] == pytest.approx(expected[step], rel=1e-6), step


def test_bad_config_errors(data_dir):
  with pytest.raises(ValueError, match='unknown option'):
    configs.load('world_model', 'lift,glam_x')
  with pytest.raises(ValueError, match='valid tasks'):
    configs.load('world_model', 'lifting')
  c = _config(data_dir, target='ur5e')
  with pytest.raises(ValueError, match='target source'):
    experiment.build(c)


class _Poisoned:
  """A learner whose loss is NaN on any batch holding one (source, episode, step) transition."""

  def __init__(self, inner, ids):
    self.inner, self.ids = inner, ids

  def init(self, rng, batch):
    return self.inner.init(rng, batch)

  def loss(self, params, batch, rng):
    import jax.numpy as jnp
    loss, m = self.inner.loss(params, batch, rng)
    s, e, t = self.ids
    hit = jnp.any((batch['source'] == s) & (batch['episode'] == e) & (batch['step'] == t))
    nan = jnp.where(hit, jnp.nan, 0.0)
    return loss + nan, {**m, 'loss': m['loss'] + nan}


def test_nan_stops_naming_step_term_and_batch_and_keeps_the_last_good_checkpoint(data_dir, tmp_path):
  import jax
  import numpy as np
  from glam_jax.data import pipeline
  c = _config(data_dir, checkpoint_every=2, log_every=4, num_steps=12)
  learner, train_data, _ = experiment.build(c)
  it = pipeline.make_iterator(pipeline.make_dataset(train_data)[0], train_data)
  batches = [next(it) for _ in range(12)]
  poison = tuple(int(batches[5][k][0]) for k in ('source', 'episode', 'step'))      # first held at step 6
  first = next(i + 1 for i, b in enumerate(batches)
               if any((b['source'] == poison[0]) & (b['episode'] == poison[1]) & (b['step'] == poison[2])))
  good_ckpt = (first - 1) // 2 * 2
  with pytest.raises(loop.NonFiniteError) as err:
    loop.train(c, _Poisoned(learner, poison), train_data, str(tmp_path), progress=False)
  message = str(err.value)
  assert message.startswith(f'step {first}: non-finite loss;')      # the gradient stayed finite
  assert f'({"kinova" if poison[0] == 0 else "umi"}, {poison[1]}, {poison[2]})' in message
  assert f'last good checkpoint is step {good_ckpt}' in message
  steps = sorted(int(s) for s in os.listdir(tmp_path / 'checkpoints') if s.isdigit())
  assert steps[-1] == good_ckpt                       # nothing saved at or past the bad step
  _, params, _ = experiment.load(str(tmp_path))
  assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(params))
  assert max(_losses(str(tmp_path)), default=0) < first   # no metrics logged past it either


def test_resuming_under_another_worker_count_is_refused(data_dir, tmp_path):
  c = _config(data_dir, num_workers=0)          # the training program of the tests above (compiled once)
  learner, train_data, _ = experiment.build(c)
  loop.train(c, learner, train_data, str(tmp_path), progress=False)
  more = _config(data_dir, num_steps=16, num_workers=2)
  learner, train_data, _ = experiment.build(more)
  with pytest.raises(ValueError, match=r'num_workers: saved with 0, now 2.*--config.num_workers=0'):
    loop.train(more, learner, train_data, str(tmp_path), progress=False)
  assert max(_losses(str(tmp_path))) == 12                 # nothing trained under the wrong layout


def test_parameter_moving_average_follows_its_recursion():
  """ema_k = r ema_{k-1} + (1 - r) params_k after each update, starting at the initial parameters; the
  updates themselves are untouched (training is the same with or without the average)."""
  import jax.numpy as jnp
  import numpy as np
  from glam_jax.train import state as state_lib
  params = {'w': jnp.array([1.0, -2.0])}
  plain = state_lib.make_optimizer(0.1, num_steps=10)
  averaged = state_lib.make_optimizer(0.1, num_steps=10, ema_rate=0.5)
  a, b = state_lib.create(params, plain), state_lib.create(params, averaged)
  expected = np.array([1.0, -2.0])
  for g in (jnp.array([1.0, 1.0]), jnp.array([-3.0, 0.5])):
    a = state_lib.apply_gradients(a, {'w': g}, plain)
    b = state_lib.apply_gradients(b, {'w': g}, averaged)
    expected = 0.5 * expected + 0.5 * np.asarray(b.params['w'])
  np.testing.assert_array_equal(a.params['w'], b.params['w'])
  np.testing.assert_allclose(state_lib.ema_params(b.opt_state)['w'], expected, rtol=1e-6)
  assert state_lib.ema_params(a.opt_state) is None
  with pytest.raises(ValueError, match='ema_rate'):
    state_lib.params_ema(1.0)
