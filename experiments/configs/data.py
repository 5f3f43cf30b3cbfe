"""Data recipes: per task, episodes per source laid out as `<data_dir>/<task>/<source>/`.

The paper's recipe: 100 target (Kinova) demonstrations + 400 auxiliary UMI trajectories, optionally + 100
demonstrations of a second arm (UR5e). `get_config('lift')`, or `get_config('lift,second_arm')`.
"""
import ml_collections

TASKS = ('lift', 'pick_place', 'knock_down', 'stack_two', 'stack_three')


def get_config(arg: str = 'lift') -> ml_collections.ConfigDict:
  parts = arg.split(',') if arg else ['lift']
  task, options = parts[0], set(parts[1:])
  if task not in TASKS:
    raise ValueError(f'unknown task {task!r}; valid tasks: {", ".join(TASKS)}')
  unknown = options - {'second_arm'}
  if unknown:
    raise ValueError(f'unknown recipe option(s) {sorted(unknown)}; valid: second_arm')
  c = ml_collections.ConfigDict()
  c.task = task
  c.episodes = ml_collections.ConfigDict({'kinova': 100, 'umi': 400})
  if 'second_arm' in options:
    c.episodes.ur5e = 100
  c.image_size = 64
  c.views = ('overhead', 'front')
  c.depth = False
  c.seed = 0
  c.backend = 'auto'             # physics of the scripted episodes: mjx, native (C MuJoCo) or auto = native on the
                                 # CPU, mjx on accelerators (glam_jax/sim/backends.py)
  # how far the auxiliary sources differ from the target (glam_jax/demos/heterogeneity.py): level 0, 1 or 2,
  # and per-setting overrides 'SOURCE.GROUP.FIELD=VALUE;...' (e.g. 'umi.pose.noise_pos=0.005')
  c.heterogeneity = 0
  c.source_style = ''
  return c
