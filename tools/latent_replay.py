"""Cross-source latent replay of a trained world model: per source, replay success and TCP tracking error.

  python tools/latent_replay.py --workdir=runs/wm [--sources=umi,kinova,ur5e --episodes=50 --seed=10007]

Unseen scripted episodes of each source are encoded by the frozen IDM, decoded into Kinova actions by the
action decoder, and replayed open loop on the Kinova from the same placement (glam_jax/eval/latent_replay.py).
Writes `<workdir>/latent_replay/results.json` and `replay.png` (per source, two episodes: source frames over
the replayed Kinova's frames at the same steps).
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

import json  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from tqdm import tqdm  # noqa: E402

from glam_jax import compile_cache, viz  # noqa: E402
from glam_jax.data import action_space  # noqa: E402
from glam_jax.data.pipeline import NORM_KEYS  # noqa: E402
from glam_jax.data.reader import Dataset  # noqa: E402
from glam_jax.data.stats import Normalizer  # noqa: E402
from glam_jax.demos import collect  # noqa: E402
from glam_jax.eval import latent_replay as lr  # noqa: E402
from glam_jax.eval import stats  # noqa: E402
from glam_jax.sim import camera, make_env  # noqa: E402
from glam_jax.stage1 import experiment  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'World-model run directory.', required=True)
_SOURCES = flags.DEFINE_list('sources', list(lr.ReplayConfig.sources), 'Sources whose episodes are replayed.')
_EPISODES = flags.DEFINE_integer('episodes', 50, 'Episodes per source.')
_SEED = flags.DEFINE_integer('seed', lr.ReplayConfig.seed, 'Seed of the unseen source episodes.')
_OUT = flags.DEFINE_string('out', None, 'Output directory (default: <workdir>/latent_replay).')
_PICTURE_EPISODES, _PICTURE_STEPS = 2, 6


def main(argv):
  del argv
  compile_cache.enable()
  learner, params, config = experiment.load(_WORKDIR.value)
  out_dir = _OUT.value or os.path.join(_WORKDIR.value, 'latent_replay')
  os.makedirs(out_dir, exist_ok=True)
  target = Dataset(experiment.source_path(config, config.target))
  normalizer = Normalizer(target.stats, NORM_KEYS)
  space = action_space.of(config)
  image_size = learner.model_config.image_shape[0]
  views = tuple(dict.fromkeys([k.split('/')[0] for k in learner.image_keys] + [lr.REPLAY_VIEW.split('/')[0]]))
  cfg = lr.ReplayConfig(sources=tuple(_SOURCES.value), episodes=_EPISODES.value, seed=_SEED.value)

  env = make_env(config.task, config.target, render=False)
  replay = lr.make_replayer(env, action_space.env_converter(space, env, normalizer))
  render = collect.make_renderer(camera.make_rig(env.mj_model, (lr.REPLAY_VIEW.split('/')[0],), image_size,
                                                 image_size, env.mask_geoms))
  decode = lr.make_latent_decoder(learner, params, normalizer)
  results, picture_rows, labels = {}, [], []
  for source in tqdm(cfg.sources, desc='sources'):
    eps = lr.source_episodes(config.task, source, cfg, views, image_size)
    n = len(eps['lengths'])
    actions = np.stack([np.asarray(decode({k: eps['images'][k][i] for k in learner.image_keys},
                                          eps['ee_pose'][i], eps['gripper'][i])) for i in range(n)])
    actions = lr.hold_after_end(actions, eps['lengths'], space, len(env.arms))
    tcp, success, gpos, gmat = jax.device_get(replay(eps['keys'], actions))
    ok = success[:, -1]
    err = lr.tracking_error(tcp, eps['ee_pose'], eps['lengths'])
    results[f'{source}->{config.target}'] = {
        **stats.rate_summary(int(ok.sum()), n), 'tracking_error_m': float(err.mean()),
        'tracking_error_median_m': float(np.median(err)), 'source_length_mean': float(eps['lengths'].mean())}
    for i in range(min(_PICTURE_EPISODES, n)):
      steps = np.linspace(0, eps['lengths'][i] - 1, _PICTURE_STEPS).astype(int)
      replayed = jax.device_get(render(gpos[i, steps], gmat[i, steps]))[lr.REPLAY_VIEW]
      picture_rows += [[eps['images'][lr.REPLAY_VIEW][i, t] for t in steps], list(replayed)]
      labels += [f'{source} #{i}', f'-> {config.target} {"ok" if ok[i] else "fail"}']

  with open(os.path.join(out_dir, 'results.json'), 'w') as f:
    json.dump({'workdir': os.path.abspath(_WORKDIR.value), 'task': config.task, 'loss': dict(config.loss),
               'action_space': space,
               'image_keys': list(learner.image_keys), 'seed': cfg.seed, 'results': results}, f, indent=1)
  viz.save_png(os.path.join(out_dir, 'replay.png'), viz.grid(picture_rows, scale=3, labels=labels))
  print(f'{"replay":18s} {"success":>9s} {"rate":>6s} {"95% Wilson":>15s} {"TCP error (m)":>13s}')
  for name, r in results.items():
    print(f'{name:18s} {r["successes"]:4d}/{r["trials"]:<4d} {r["rate"]:6.1%} '
          f'[{r["wilson_low"]:.2f}, {r["wilson_high"]:.2f}] {r["tracking_error_m"]:13.4f}')
  print(f'wrote {out_dir}/results.json and replay.png')


if __name__ == '__main__':
  app.run(main)
