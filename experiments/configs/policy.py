"""Stage 2: a policy. `--config=experiments/configs/policy.py:TASK,METHOD[,OPTION...]`.

METHOD: any method of `glam_jax.methods`. A latent method (`glam_o`, `glam`, `clam`, `lapa`, the
ablations, ...) trains the latent-chunk policy on its frozen world model's labels of every source and needs
`--config.world_model_dir` (a world-model run of that method); `mip` (the baseline) is the same network on
the target demonstrations only, predicting actions directly. The policy sees RGB whichever world model
made its labels. `lawm` is the MIP action policy fine-tuned from a LAWM pre-training run
(`--config.init_from=RUN`; the pre-training run is this config with the `pretrain` option: the policy's
latent chunks drive a frame predictor on every source, no labels, `lawm.future_frames` frames from a start
drawn per sample, `lawm.future_start='random'`, so every latent of the chunk is trained).

Options: `ee_only` (condition on the end-effector state alone, what every source records, instead of
adding the target's proprioception, zeros for auxiliary samples), `cpu` (narrow convs, batch 64, 4,000
steps: ~6 minutes on a 2-core CPU), `tiny` (for tests), `pretrain` (LAWM's pre-training stage),
`second_arm` (a policy that reads every source also reads the UR5e's, weight 0.5 as in the world model).

Choices the paper leaves open: AdamW 3e-4 with 500 warm-up steps and cosine decay, batch 256, target and
auxiliary sampled 1 : 1, 64x64 RGB from both views, execute 10 of the H = 20 predicted steps then replan.

The objective and head follow MIP's public code (glam_jax/stage2/latent_bc.py says which files): `loss`
(step weights 1/t*² and 1/(1 − t*)², the squared L2 norm over the output dimension, scale 0.1), the head's
residual layers and dropout 0.1 (`model.head_residual`, `model.head_dropout`), and the moving average of
the parameters that evaluation uses (`optimizer.ema_rate` 0.995; 0.9 in `tiny`, whose 100 steps would leave
a 0.995 average near its initialisation).

The policy action decoder is the paper's h(ẑ): `model.decoder_context=True` also feeds it the context c_t
(an option beyond the paper; measured earlier on lift, CPU preset, 2,000 steps, 100 trials each, with the
earlier objective: 27 % without, 35 % with; with today's objective and joint-target actions, h(ẑ) loses
0.3-0.75: docs/results/baselines_lift/README.md).
"""
import ml_collections

from glam_jax import methods
from glam_jax.configs import add_training_loop, parse_arg

OPTIONS = ('ee_only', 'cpu', 'tiny', 'pretrain', 'second_arm')


def get_config(arg: str = 'lift,glam_o') -> ml_collections.ConfigDict:
  task, opts = parse_arg(arg, OPTIONS + tuple(methods.METHODS))
  named = [m for m in methods.METHODS if m in opts]
  if len(named) != 1:
    raise ValueError(f'name exactly one method of {", ".join(methods.METHODS)} (got {named or "none"})')
  method = methods.get(named[0])
  c = ml_collections.ConfigDict()
  c.task = task
  c.method = method.name
  c.label = method.policy_label   # what the chunk holds: 'latents' (relabelled, then decoded) or 'actions'
  c.data_dir = 'data'
  c.world_model_dir = ''
  c.target = 'kinova'
  pretrain = 'pretrain' in opts
  if pretrain and not method.pretrain:
    raise ValueError(f'method {method.name} has no pre-training stage')
  every_source = method.policy_sources == 'all' or pretrain
  c.sources = ml_collections.ConfigDict({'kinova': 1.0, 'umi': 1.0} if every_source else {c.target: 1.0})
  if every_source and 'second_arm' in opts:
    c.sources.ur5e = 0.5
  if pretrain:                    # LAWM pre-training: the policy's latent chunks drive a frame predictor
    c.label = 'frames'
    c.lawm = ml_collections.ConfigDict(dict(
        latent_dim=16 if task == 'stack_three' else 8, future_frames=10, future_start='random',
        model=dict(state_dim=128, width=256, conv_features=(32, 64, 128, 256), forward_blocks=4)))
  elif method.pretrain:           # fine-tuning: starts from the pre-trained policy (the pipeline sets the run)
    c.init_from = ''
    c.init_from_key = 'policy'
  c.image_keys = ('overhead/rgb', 'front/rgb')
  c.state_input = 'ee' if 'ee_only' in opts else 'ee_proprio'
  c.ee_tilt = False              # the TCP's tilt identifies the embodiment (see glam_jax.models.inputs.ee_state)
  c.action_space = 'joint_target'    # or 'delta', the env's own actions (glam_jax/data/action_space.py)
  c.horizon = 20
  c.execute_steps = 10           # of each predicted chunk, before replanning (evaluation)
  c.action_weight = 1.0
  c.loss = ml_collections.ConfigDict(dict(step_weights='mip', dim_reduction='sum', scale=0.1))
  c.model = ml_collections.ConfigDict(dict(
      encoder_features=(32, 64, 128, 256), encoder_dim=256, projection_width=256, view_embedding=64,
      head_layers=10, head_width=256, head_residual=True, head_dropout=0.1, decoder_layers=4, decoder_width=256,
      decoder_context=False, t_star=0.9))

  add_training_loop(c, cpu='cpu' in opts)
  c.optimizer.ema_rate = 0.995
  if 'cpu' in opts:
    # the action decoder as wide as the cpu world model's (width 128; 256 at paper size, as here): applied to
    # every step of both chunks, at 256 it took more than half the latent policy's step (tools/bench_train.py)
    c.model.update(encoder_features=(8, 16, 32, 32), encoder_dim=128, decoder_width=128)
    c.num_steps = 4000
    if pretrain:
      c.lawm.future_frames = 4
      c.lawm.model.update(width=128, conv_features=(8, 16, 32, 32))
  if 'tiny' in opts:
    c.model.update(encoder_features=(4, 8), encoder_dim=32, projection_width=32, view_embedding=16,
                   head_layers=3, head_width=64, decoder_layers=2, decoder_width=32)
    c.horizon = 4
    c.execute_steps = 2
    c.batch_size = 16
    c.num_steps = 100
    c.optimizer.warmup_steps = 10
    c.optimizer.ema_rate = 0.9
    c.log_every = 10
    c.eval_every = 50
    c.eval_batches = 1
    c.eval_episodes = 1
    c.checkpoint_every = 50
    c.num_workers = 0
    if pretrain:
      c.lawm.future_frames = 2
      c.lawm.model.update(state_dim=32, width=64, conv_features=(4, 8), forward_blocks=1)
  return c
