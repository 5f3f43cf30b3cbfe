"""The main job: `--config=experiments/configs/pipeline.py:TASK[,smoke|paper]`.

Default (CPU-sized; 16.6 minutes on a 2-core CPU for the two default methods, 17.2 for the quickstart on a
fresh clone with an empty compile cache): the paper's data recipe
(100 Kinova + 400 UMI), GLAM-O against MIP with the `cpu` presets of the world model and the policies, one
training seed, 100 evaluation trials. `methods` takes any subset of `glam_jax.methods`
(`--config.methods=glam_o,glam,clam_o,lapa_o,mip`); each latent method trains its own world model.
`smoke`: a few episodes of 32x32 images and tiny networks on native MuJoCo physics, minutes end to end (for
tests).
`paper`: paper-size networks and steps, 3 training seeds x 50 trials with mean ± std over seeds (an
accelerator job).

`world_model` and `policy` hold overrides applied on top of the world-model and policy configs of every
method that has the field, e.g. `--config.world_model.num_steps=4000`,
`--config.policy.optimizer.learning_rate=1e-3`, `--config.world_model.loss.align_weight=0.5` (GLAM's).
"""
import ml_collections

from glam_jax import configs
from glam_jax.configs import parse_arg

OPTIONS = ('smoke', 'paper')


def get_config(arg: str = 'lift') -> ml_collections.ConfigDict:
  task, opts = parse_arg(arg, OPTIONS)
  if len(opts) > 1:
    raise ValueError('choose at most one of smoke, paper')
  size = 'paper' if 'paper' in opts else 'tiny' if 'smoke' in opts else 'cpu'
  c = ml_collections.ConfigDict()
  c.task = task
  c.data_dir = 'data'                 # generated datasets, keyed by their settings, shared between runs
  c.datasets = ''                     # datasets given by path instead of generated: 'SOURCE=PATH,...' (imported data)
  c.episodes = ml_collections.ConfigDict({'kinova': 100, 'umi': 400})
  c.image_size = 64
  c.methods = ('glam_o', 'mip')       # any of glam_jax.methods; every pair is compared
  c.world_model_arg = '' if size == 'paper' else size     # the world-model config's size option
  c.policy_arg = '' if size == 'paper' else size
  # every field of the stage configs, unset: `--config.world_model.optimizer.learning_rate=1e-3` parses with
  # the field's type, a misspelt one is refused; a field applies to the methods whose config has it
  c.world_model = configs.override_skeleton('world_model', task)
  c.policy = configs.override_skeleton('policy', task)
  c.seeds = (0,)                      # policy training seeds (one world model serves them all)
  # one hyper-parameter swept over its values in this one run: 'FIELD=V1,V2' with FIELD world_model.optimizer.*,
  # a float world_model.loss.* (align_weight, prior_weight, ...) or policy.optimizer.*; each method it changes
  # becomes one arm per value ('glam_o@align_weight=0.5'), the arms sharing the data and, for a policy field,
  # the world model ('': none)
  c.sweep = ''
  # runs that differ only in their seed or the swept value (a method's policy seeds; the arms' world models or
  # policies) trained in one compiled program (glam_jax/train/sweep.py), each run the same as alone up to float
  # rounding: 'auto' = on an accelerator only (on 2 CPU cores 3 stacked policy seeds took 2.6x as long as 3 in
  # a row: tools/bench_sweep.py), 'on', 'off'
  c.runs_in_one_program = 'auto'
  c.trials = 100                      # evaluation episodes per method and seed
  c.backend = 'auto'                  # physics of data, evaluation and replay: mjx, native or auto = native on the
                                      # CPU, mjx on accelerators (glam_jax/sim/backends.py); records store which
  c.heterogeneity = 0                 # how far the auxiliary sources differ from the target: 0, 1 or 2
  c.source_style = ''                 # per-setting overrides 'SOURCE.GROUP.FIELD=VALUE;...' (glam_jax/demos/heterogeneity.py)
  c.world_model_views = 'shared'      # where sources store other views: the world model reads those all store, or 'target'
  c.eval_seed = 1000                  # reset keys of the evaluation episodes: the same for every method
  c.eval_chunk = 50                   # episodes per compiled evaluation call
  c.gifs = 4                          # rollouts drawn in each method's GIF (0: none)
  c.replay_episodes = 20              # latent replay: unseen episodes per source per latent method (0: skip)
  c.replay_sources = ('umi', 'kinova')
  c.probe_episodes = 100              # alignment probe (glam_jax/eval/alignment.py): episodes per source (0: skip)
  if size == 'paper':
    c.seeds = (0, 1, 2)
    c.trials = 50                     # the paper: 50 trials per training seed
    c.replay_episodes = 50
    c.eval_chunk = 512
  if size == 'tiny':
    c.backend = 'native'              # compiles in seconds instead of minutes; the MJX programs have their own tests
    c.data_dir = ''                   # '': inside the run directory
    c.episodes = ml_collections.ConfigDict({'kinova': 6, 'umi': 6})
    c.image_size = 32
    for stage in (c.world_model, c.policy):
      stage.update(dict(num_steps=20, batch_size=8, log_every=10, eval_every=20, checkpoint_every=20))
    c.trials = 4
    c.eval_chunk = 4
    c.gifs = 2
    c.replay_episodes = 2
    c.probe_episodes = 6
  return c
