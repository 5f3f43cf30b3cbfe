"""Run by tests/train/test_sweep.py in a process with 2 CPU devices: stacked runs against separate runs.

  python -m tests.train.sweep_runs seeds|hyperparameters DATA_DIR WORKDIR

Prints one JSON line: for each comparison the largest relative loss difference per step and the largest
parameter difference between a member of a stacked program and the separate run its config describes."""
import os

os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=2'

import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

from glam_jax import compile_cache, configs  # noqa: E402
from glam_jax.stage1 import experiment  # noqa: E402
from glam_jax.train import loop, metrics  # noqa: E402


def config(data_dir, **overrides):
  c = configs.load('world_model', 'lift,tiny')
  c.data_dir = data_dir
  c.image_keys = ('overhead/rgb', 'overhead/mask')
  c.model.conv_features = (8, 16)
  c.update({**dict(batch_size=8, num_steps=6, log_every=1, checkpoint_every=2, eval_every=3, num_workers=0),
            **overrides})
  return c


def train(c, workdir):
  t = time.time()
  learner, train_data, eval_data = experiment.build(c)
  out = loop.train(c, learner, train_data, workdir, eval_data, progress=False)
  print(f'{os.path.basename(workdir)}: {time.time() - t:.1f} s', file=sys.stderr, flush=True)
  return out


def losses(workdir, key='train/loss'):
  return {r['step']: r[key] for r in metrics.read_jsonl(os.path.join(workdir, 'metrics.jsonl')) if key in r}


def params(workdir):
  return experiment.load(workdir)[1]


def compare(member_dir, separate_dir) -> dict:
  a, b = losses(member_dir), losses(separate_dir)
  assert sorted(a) == sorted(b) == list(range(1, 7)), (sorted(a), sorted(b))
  ea, eb = losses(member_dir, 'eval/loss'), losses(separate_dir, 'eval/loss')
  assert sorted(ea) == sorted(eb)
  pa, pb = params(member_dir), params(separate_dir)
  return {'loss': max(abs(a[s] - b[s]) / abs(b[s]) for s in a),
          'eval_loss': max((abs(ea[s] - eb[s]) / abs(eb[s]) for s in ea), default=0.0),
          'params': max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
                        for x, y in zip(jax.tree.leaves(pa), jax.tree.leaves(pb))),
          'loss_change': abs(b[6] - b[1]) / abs(b[1])}


def seeds(data_dir, root) -> dict:
  """Two seeds, one per device (`sweep` axis 2) with held-out evaluation; then resumed after a kill that
  fell between the members' saves."""
  out = {}
  train(config(data_dir, seed=4, num_seeds=2), f'{root}/seeds')
  for s in (4, 5):
    train(config(data_dir, seed=s), f'{root}/seed{s}')
    out[f'seed{s}'] = compare(f'{root}/seeds/seed{s}', f'{root}/seed{s}')
  out['different_seeds_differ'] = losses(f'{root}/seed4')[1] != losses(f'{root}/seed5')[1]
  shutil.copytree(f'{root}/seeds', f'{root}/crashed')
  for member, steps in (('seed4', (6,)), ('seed5', (4, 6))):
    for s in steps:
      shutil.rmtree(f'{root}/crashed/{member}/checkpoints/{s}')
  train(config(data_dir, seed=4, num_seeds=2), f'{root}/crashed')
  out['resumed'] = compare(f'{root}/crashed/seed5', f'{root}/seed5')
  return out


def hyperparameters(data_dir, root) -> dict:
  """Three seeds x two learning rates (six runs, three per device), and three KL weights (three runs on two
  devices: each run's batch split over both); one run of each against its separate run."""
  out = {}
  lr = config(data_dir, num_seeds=3, sweep='optimizer.learning_rate=0.01,0.0003', eval_every=100)
  train(lr, f'{root}/lr')
  separate = config(data_dir, seed=1, eval_every=100)
  separate.optimizer.learning_rate = 0.0003
  train(separate, f'{root}/lr_separate')
  out['lr'] = compare(f'{root}/lr/seed1-learning_rate0.0003', f'{root}/lr_separate')
  out['lr_members'] = sorted(d for d in os.listdir(f'{root}/lr') if d.startswith('seed'))
  out['lr_values_differ'] = (losses(f'{root}/lr/seed1-learning_rate0.01')[6]
                             != losses(f'{root}/lr/seed1-learning_rate0.0003')[6])
  train(config(data_dir, sweep='loss.prior_weight=0.001,0.5,0.1', eval_every=100), f'{root}/kl')
  separate = config(data_dir, eval_every=100)
  separate.loss.prior_weight = 0.5
  train(separate, f'{root}/kl_separate')
  out['kl'] = compare(f'{root}/kl/seed0-prior_weight0.5', f'{root}/kl_separate')
  return out


def main(part, data_dir, root):
  compile_cache.enable()
  out = {'devices': len(jax.devices()), **{'seeds': seeds, 'hyperparameters': hyperparameters}[part](data_dir, root)}
  print(json.dumps(out))


if __name__ == '__main__':
  main(*sys.argv[1:])
