"""Stage 2: a policy. `--config=experiments/configs/policy.py:TASK,METHOD[,OPTION...]`.

Methods: `glam_o` / `glam` (the latent-chunk policy trained on IDM labels of every source; needs
`--config.world_model_dir`, a GLAM-O or GLAM world-model run: the two differ only in that world model, the
policy sees RGB either way), `mip` (the baseline: the same network on the target demonstrations only,
predicting actions directly). Options: `ee_only` (condition on the end-effector state alone, what every
source records, instead of adding the target's proprioception, zeros for auxiliary samples), `cpu` (narrow convs, batch 64, 4,000
steps: ~6 minutes on a 2-core CPU), `tiny` (for tests).

Choices the paper leaves open: AdamW 3e-4 with 500 warm-up steps and cosine decay, batch 256, target and
auxiliary sampled 1 : 1, 64x64 RGB from both views, execute 10 of the H = 20 predicted steps then replan.

Beyond the paper, on by default: `model.decoder_context`, the policy action decoder reads the context c_t
with each latent (the paper's h reads the latent alone: set it False). A latent inferred from end-effector
motion does not fix the 7-DoF arm's joint deltas; with the context, h can place them. Measured on lift
(CPU preset, 2,000 steps, 100 trials each): 27 % without, 35 % with.
"""
import ml_collections

from glam_jax.configs import add_training_loop, parse_arg

METHODS = ('glam_o', 'glam', 'mip')
OPTIONS = METHODS + ('ee_only', 'cpu', 'tiny')


def get_config(arg: str = 'lift,glam_o') -> ml_collections.ConfigDict:
  task, opts = parse_arg(arg, OPTIONS)
  methods = [m for m in METHODS if m in opts]
  if len(methods) != 1:
    raise ValueError(f'name exactly one method of {", ".join(METHODS)} (got {methods or "none"})')
  c = ml_collections.ConfigDict()
  c.task = task
  c.method = methods[0]
  c.data_dir = 'data'
  c.world_model_dir = ''
  latent = c.method != 'mip'
  c.sources = ml_collections.ConfigDict({'kinova': 1.0, 'umi': 1.0} if latent else {'kinova': 1.0})
  c.target = 'kinova'
  c.image_keys = ('overhead/rgb', 'front/rgb')
  c.state_input = 'ee' if 'ee_only' in opts else 'ee_proprio'
  c.ee_tilt = False              # the TCP's tilt identifies the embodiment (see glam_jax.models.inputs.ee_state)
  c.action_space = 'joint_target'    # or 'delta', the env's own actions (glam_jax/data/action_space.py)
  c.horizon = 20
  c.execute_steps = 10           # of each predicted chunk, before replanning (evaluation)
  c.action_weight = 1.0
  c.model = ml_collections.ConfigDict(dict(
      encoder_features=(32, 64, 128, 256), encoder_dim=256, projection_width=256, view_embedding=64,
      head_layers=10, head_width=256, decoder_layers=4, decoder_width=256, decoder_context=True,
      t_star=0.9))

  add_training_loop(c, cpu='cpu' in opts)
  if 'cpu' in opts:
    c.model.update(encoder_features=(8, 16, 32, 32), encoder_dim=128)
    c.num_steps = 4000
  if 'tiny' in opts:
    c.model.update(encoder_features=(4, 8), encoder_dim=32, projection_width=32, view_embedding=16,
                   head_layers=3, head_width=64, decoder_layers=2, decoder_width=32)
    c.horizon = 4
    c.execute_steps = 2
    c.batch_size = 16
    c.num_steps = 100
    c.optimizer.warmup_steps = 10
    c.log_every = 10
    c.eval_every = 50
    c.eval_batches = 1
    c.eval_episodes = 1
    c.checkpoint_every = 50
    c.num_workers = 0
  return c
