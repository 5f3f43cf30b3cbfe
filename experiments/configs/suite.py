"""The paper's experiments: `--config=experiments/configs/suite.py:PRESET`, PRESET one of
`smoke` (minutes: the smoke pipeline on every task, for CI), `cpu` (sized for the 2-core CPU machine) and
`paper` (the paper's sizes, for an accelerator).

Sections (each a list of cells, each cell one run of the main job, tools/run_pipeline.py):
  main_table: every task x every method of `methods`, `seeds` policy seeds x `trials` evaluation episodes,
  the same evaluation placements (`eval_seed`) for every method.
`pipeline` is the main job's config at the preset's size (experiments/configs/pipeline.py), the base of every
cell's: each cell sets its task, method, and the suite's `seeds` and `trials` (e.g.
`--config.pipeline.replay_sources=umi --config.pipeline.eval_seed=2000`).
"""
import ml_collections

from glam_jax import configs
from glam_jax.sim.tasks import TASKS

PRESETS = ('smoke', 'cpu', 'paper')


def get_config(arg: str = 'smoke') -> ml_collections.ConfigDict:
  if arg not in PRESETS:
    raise ValueError(f'unknown suite preset {arg!r}; valid presets: {", ".join(PRESETS)}')
  c = ml_collections.ConfigDict()
  c.preset = arg
  c.tasks = tuple(TASKS)
  c.reference = 'glam_o'              # every comparison is the reference against another method
  if arg == 'smoke':
    c.methods = ('glam_o', 'mip')
    c.seeds = (0,)
    c.trials = 4
  elif arg == 'cpu':
    c.methods = ('glam_o', 'mip', 'clam_o', 'lapa_o', 'lawm')
    c.seeds = (0, 1, 2)
    c.trials = 100
  else:
    c.methods = ('glam_o', 'glam', 'mip', 'clam', 'clam_o', 'lapa', 'lapa_o', 'lawm')
    c.seeds = (0, 1, 2)
    c.trials = 50
  size = {'smoke': ',smoke', 'cpu': '', 'paper': ',paper'}[arg]     # the pipeline config's size preset
  c.pipeline = configs.load('pipeline', 'lift' + size)
  return c
