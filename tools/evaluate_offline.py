"""Open-loop evaluation of a trained policy on recorded episodes (a simulator dataset, or an imported real one).

  python tools/evaluate_offline.py --workdir=POLICY_RUN --data=DATASET_DIR [--episodes=5 --stride=1 --out=DIR]

For each step of the chosen episodes (default: the run's held-out episodes when --data is its target dataset,
else the last 5) the policy predicts its action chunk from that step's observation; its error against the
actions the episode recorded over the next H steps, per horizon step and per action dimension, goes to
`<out>/results.json` (default `<workdir>/offline/`), with `<out>/trajectories.png`.
"""
from __future__ import annotations

import json
import os

from absl import app, flags, logging

from glam_jax import cli
from glam_jax.configs import ConfigError
from glam_jax.data.reader import Dataset
from glam_jax.data.schema import DatasetError
from glam_jax.eval import offline
from glam_jax.serving import policy_api

_WORKDIR = flags.DEFINE_string('workdir', None, 'Policy run directory.', required=True)
_DATA = flags.DEFINE_string('data', None, 'Dataset directory with recorded actions.', required=True)
_EPISODES = flags.DEFINE_integer('episodes', 0, 'The last N episodes (0: the run\'s held-out ones, or 5).')
_STRIDE = flags.DEFINE_integer('stride', 1, 'Predict at every k-th step.')
_OUT = flags.DEFINE_string('out', '', 'Output directory (default <workdir>/offline).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  if _EPISODES.value < 0 or _STRIDE.value < 1:
    raise ConfigError('--episodes must be at least 0 and --stride at least 1')
  try:
    policy = policy_api.load_policy(_WORKDIR.value)
    ds = Dataset(_DATA.value)
  except (FileNotFoundError, DatasetError) as e:
    raise ConfigError(str(e)) from None
  n = ds.num_episodes
  if _EPISODES.value:
    episodes = list(range(max(0, n - _EPISODES.value), n))
  else:
    with open(os.path.join(_WORKDIR.value, 'config.json')) as f:
      run = json.load(f)
    own = os.path.realpath(os.path.join(run['data_dir'], run['task'], run['target'])) == os.path.realpath(_DATA.value)
    episodes = offline.held_out(run, n) if own and run.get('eval_episodes') else list(range(max(0, n - 5), n))
  out = _OUT.value or os.path.join(_WORKDIR.value, 'offline')
  os.makedirs(out, exist_ok=True)
  try:
    results = offline.evaluate(policy, _DATA.value, episodes, _STRIDE.value, os.path.join(out, 'trajectories.png'))
  except DatasetError as e:
    raise ConfigError(str(e)) from None
  offline.write(results, out)
  print(f'{len(episodes)} episodes, {results["predictions"]} predictions: MAE {results["mae"]:.4f}, RMSE '
        f'{results["rmse"]:.4f} ({results["units"]}); per horizon step '
        + ' '.join(f'{v:.4f}' for v in results['mae_per_step']))
  print(f'wrote {out}/results.json and trajectories.png')


if __name__ == '__main__':
  cli.run(main)
