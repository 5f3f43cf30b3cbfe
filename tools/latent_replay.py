"""Cross-source latent replay of a trained world model: per source, replay success and TCP tracking error.

  python tools/latent_replay.py --workdir=runs/wm [--sources=umi,kinova,ur5e --episodes=50 --seed=10007 --backend=mjx|native
                                 --level=0 --source_style=...]

Works for the world model of any latent method (GLAM, CLAM, LAPA, ...). Unseen scripted episodes of each
source are encoded by the frozen model (e.g. its IDM), decoded into Kinova actions by its action decoder,
and replayed open loop on the Kinova from the same placement (glam_jax/eval/latent_replay.py); a replay
succeeds when the task predicate holds at some step, as in closed-loop evaluation.
Source episodes are made in each source's style at `--level` (glam_jax/demos/heterogeneity.py): give the
level the world model's data was made at (a source dataset of the run made in another style is an error).
Writes `<workdir>/latent_replay/results.json` and `replay.png` (per source, two episodes: source frames over
the replayed Kinova's frames at the same steps).
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

from absl import app, flags  # noqa: E402

from glam_jax import compile_cache  # noqa: E402
from glam_jax.data import schema, sources  # noqa: E402
from glam_jax.data.reader import read_meta  # noqa: E402
from glam_jax.demos import heterogeneity  # noqa: E402
from glam_jax.eval import latent_replay as lr  # noqa: E402
from glam_jax.sim import backends  # noqa: E402
from glam_jax.stage1 import experiment as stage1  # noqa: E402

_WORKDIR = flags.DEFINE_string('workdir', None, 'World-model run directory.', required=True)
_SOURCES = flags.DEFINE_list('sources', list(lr.ReplayConfig.sources), 'Sources whose episodes are replayed.')
_EPISODES = flags.DEFINE_integer('episodes', 50, 'Episodes per source.')
_SEED = flags.DEFINE_integer('seed', lr.ReplayConfig.seed, 'Seed of the unseen source episodes.')
_BACKEND = flags.DEFINE_enum('backend', 'auto', backends.CHOICES, 'Physics of the source episodes and replays: mjx, '
                             'native or auto (native on the CPU, mjx on accelerators).')
_OUT = flags.DEFINE_string('out', None, 'Output directory (default: <workdir>/latent_replay).')
_LEVEL = flags.DEFINE_integer('level', 0, 'Heterogeneity level of the source episodes: 0, 1 or 2.')
_SOURCE_STYLE = flags.DEFINE_string('source_style', '', "Style overrides 'SOURCE.GROUP.FIELD=VALUE;...'.")


def check_styles(cfg) -> None:
  """The sources the world model's run stores were made in the styles the replay will use."""
  _, _, config = stage1.load(_WORKDIR.value)
  for source in cfg.sources:
    path = sources.source_path(config, source)
    try:
      style = cfg.style(source)
    except ValueError as e:
      raise app.UsageError(str(e)) from None
    if os.path.exists(os.path.join(path, schema.META_FILE)):
      stored = heterogeneity.Style.from_dict(read_meta(path).get('style', heterogeneity.DEFAULT.to_dict()))
      if stored != style:
        raise app.UsageError(f'{path} was made at heterogeneity level {read_meta(path).get("heterogeneity_level", 0)} '
                             f'(or with other style overrides); pass the --level and --source_style it was made with')


def main(argv):
  del argv
  compile_cache.enable()
  cfg = lr.ReplayConfig(sources=tuple(_SOURCES.value), episodes=_EPISODES.value, seed=_SEED.value,
                        backend=_BACKEND.value, heterogeneity=_LEVEL.value, source_style=_SOURCE_STYLE.value)
  check_styles(cfg)
  out = lr.run(_WORKDIR.value, cfg, _OUT.value or '')
  print(f'{"replay":18s} {"success":>9s} {"rate":>6s} {"95% Wilson":>15s} {"TCP error (m)":>13s}')
  for name, r in out['results'].items():
    print(f'{name:18s} {r["successes"]:4d}/{r["trials"]:<4d} {r["rate"]:6.1%} '
          f'[{r["wilson_low"]:.2f}, {r["wilson_high"]:.2f}] {r["tracking_error_m"]:13.4f}')
  print(f'wrote {_OUT.value or _WORKDIR.value + "/latent_replay"}/results.json and replay.png')


if __name__ == '__main__':
  app.run(main)
