"""Generates scripted demonstrations as datasets (meta.json + ArrayRecord shards).

One dataset:
  python tools/generate_demos.py --task=lift --source=kinova --episodes=100 --out=data/lift/kinova \
      [--seed=0 --image_size=64 --views=overhead,front --depth --batch=64 --overwrite --backend=auto|mjx|native
       --level=0|1|2 --source_style='umi.pose.noise_pos=0.005;...']
A whole recipe (experiments/configs/data.py: 100 kinova + 400 umi, + 100 ur5e with --second_arm), laid out
as <data_dir>/<task>/<source>/; sources already complete with the same settings are skipped:
  python tools/generate_demos.py --task=lift --recipe --data_dir=data [--second_arm]

`--level` sets how far a source without action labels (UMI) differs from the target (motion, pose error,
appearance: glam_jax/demos/heterogeneity.py), `--source_style` overrides single settings.
Failed attempts are dropped and counted; the scripted success rate is printed and stored in meta.json.
The batch of attempts is sharded over all host CPU devices (one per core). `--backend` is the physics
(glam_jax/sim/backends.py): `native` (C MuJoCo: seconds to compile instead of minutes), `mjx`, or `auto`
(default): native on the CPU, MJX on accelerators. Both step grasps alike since scene version 2; meta.json
names the engine.
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

import time  # noqa: E402

from absl import app, flags  # noqa: E402

from glam_jax import compile_cache, configs  # noqa: E402
from glam_jax.demos import generate as gen  # noqa: E402
from glam_jax.demos import heterogeneity  # noqa: E402
from glam_jax.sim import backends  # noqa: E402

_TASK = flags.DEFINE_string('task', None, 'Task: lift, pick_place, knock_down, stack_two, stack_three.')
_SOURCE = flags.DEFINE_string('source', 'kinova', 'Source: kinova (target), umi, ur5e.')
_EPISODES = flags.DEFINE_integer('episodes', 100, 'Successful episodes to write.')
_OUT = flags.DEFINE_string('out', None, 'Output dataset directory (single dataset).')
_SEED = flags.DEFINE_integer('seed', 0, 'Random seed.')
_IMAGE_SIZE = flags.DEFINE_integer('image_size', 64, 'Image height and width.')
_VIEWS = flags.DEFINE_list('views', ['overhead', 'front'], 'Camera views to store.')
_DEPTH = flags.DEFINE_bool('depth', False, 'Also store depth images (float32).')
_BATCH = flags.DEFINE_integer('batch', 64, 'Attempts simulated per compiled call.')
_OVERWRITE = flags.DEFINE_bool('overwrite', False, 'Replace an existing dataset.')
_RECIPE = flags.DEFINE_bool('recipe', False, 'Make the whole data recipe of --task under --data_dir.')
_DATA_DIR = flags.DEFINE_string('data_dir', 'data', 'Root of recipe datasets.')
_BACKEND = flags.DEFINE_enum('backend', 'auto', backends.CHOICES,
                             'Physics: mjx, native (C MuJoCo) or auto (native on the CPU, mjx on accelerators).')
_LEVEL = flags.DEFINE_integer('level', 0, 'Heterogeneity level of the sources without action labels: 0, 1, 2.')
_SOURCE_STYLE = flags.DEFINE_string('source_style', '', "Style overrides 'SOURCE.GROUP.FIELD=VALUE;...'.")
_SECOND_ARM = flags.DEFINE_bool('second_arm', False, 'Recipe: add the second-arm (ur5e) source.')


def load_recipe(task: str, second_arm: bool):
  return configs.load('data', task + (',second_arm' if second_arm else ''))


def _report(meta: dict, path: str) -> None:
  print(f'{path}: {meta["num_episodes"]} episodes, {meta["num_steps"]} steps; scripted success '
        f'{meta["scripted_success_rate"]:.1%} of {meta["attempts"]} attempts; '
        f'{meta.get("generation_seconds", 0):.0f} s')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not _TASK.value:
    raise app.UsageError('--task is required')
  try:
    gen.check_source(_SOURCE.value)
    styles = heterogeneity.resolve(gen.SOURCES, _LEVEL.value, _SOURCE_STYLE.value)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  compile_cache.enable()
  common = dict(image_size=_IMAGE_SIZE.value, views=tuple(_VIEWS.value), depth=_DEPTH.value,
                batch=_BATCH.value, overwrite=_OVERWRITE.value, backend=_BACKEND.value)
  if not _RECIPE.value:
    if not _OUT.value:
      raise app.UsageError('--out is required (or use --recipe --data_dir=DIR)')
    cfg = gen.GenerateConfig(task=_TASK.value, source=_SOURCE.value, episodes=_EPISODES.value, out=_OUT.value,
                             seed=_SEED.value, style=styles[_SOURCE.value], level=_LEVEL.value, **common)
    _report(gen.generate(cfg), cfg.out)
    return
  recipe = load_recipe(_TASK.value, _SECOND_ARM.value)
  recipe.backend = _BACKEND.value
  recipe.heterogeneity, recipe.source_style = _LEVEL.value, _SOURCE_STYLE.value
  t0 = time.time()
  gen.generate_recipe(recipe, _DATA_DIR.value, overwrite=_OVERWRITE.value, batch=_BATCH.value)
  print(f'recipe {recipe.task} done in {time.time() - t0:.0f} s under {os.path.join(_DATA_DIR.value, recipe.task)}')


if __name__ == '__main__':
  app.run(main)
