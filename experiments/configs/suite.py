"""The paper's experiments: `--config=experiments/configs/suite.py:PRESET`, PRESET one of
`smoke` (minutes: the smoke pipeline on every task, for CI), `cpu` (sized for the 2-core CPU machine) and
`paper` (the paper's sizes, for an accelerator).

Sections (each a list of cells, each cell one run of the main job, tools/run_pipeline.py):
  main: every task x every method of `methods`, `seeds` policy seeds (the first only for `one_seed_methods`) x
    `trials` evaluation episodes, the same evaluation placements (`eval_seed`) for every method. A cell
    rerun with more seeds or trials keeps what it has and adds the rest.
  scaling (on `scaling.task`): MIP with `scaling.target` target episodes; GLAM-O with `scaling.base_target`
    target + `scaling.aux` UMI episodes; GLAM-O with `scaling.target` target + `scaling.full_aux` UMI. The
    report reads off how many UMI episodes buy one target episode, and how many target episodes MIP needs
    to match GLAM-O at base_target + full_aux, with `scaling.seeds` policy seeds (empty: `seeds`). Empty
    `scaling.task` skips the section.
  third_source (on each of `third_source.tasks`): GLAM-O on target + UMI + `third_source.episodes` UR5e
    episodes, against the main table's GLAM-O (target + UMI) on the same task.
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
  c.one_seed_methods = ()            # methods trained with the first of `seeds` only (cheaper baselines)
  if arg == 'smoke':
    c.methods = ('glam_o', 'mip')
    c.seeds = (0,)
    c.trials = 4
  elif arg == 'cpu':
    c.methods = ('glam_o', 'mip', 'clam_o', 'lapa_o', 'lawm')
    c.seeds = (0, 1, 2)
    # 3 seeds for GLAM-O, MIP and the best baseline (CLAM-O: 87/100 on lift at seed 0, LAPA-O 39/100); the
    # others one seed, to keep the preset's CPU time down (a seed added later reuses the cell)
    c.one_seed_methods = ('lapa_o', 'lawm')
    c.trials = 100
  else:
    c.methods = ('glam_o', 'glam', 'mip', 'clam', 'clam_o', 'lapa', 'lapa_o', 'lawm')
    c.seeds = (0, 1, 2)
    c.trials = 50
  c.scaling = ml_collections.ConfigDict(dict(task='stack_two', target=(100, 300, 500), base_target=100,
                                             aux=(0, 200, 400), full_aux=400, seeds=()))
  if arg == 'cpu':
    # one policy seed per scaling point: 8 cells (a world model each for GLAM-O) x 3 seeds would cost about
    # as much CPU time as two tasks of the main table; the curves' intervals count trials
    c.scaling.seeds = (0,)
  c.third_source = ml_collections.ConfigDict(dict(tasks=('lift',), episodes=100))
  if arg == 'smoke':
    c.scaling.update(target=(6, 9, 12), base_target=6, aux=(0, 6, 12), full_aux=12)
    c.third_source.episodes = 6
  size = {'smoke': ',smoke', 'cpu': '', 'paper': ',paper'}[arg]     # the pipeline config's size preset
  c.pipeline = configs.load('pipeline', 'lift' + size)
  return c
