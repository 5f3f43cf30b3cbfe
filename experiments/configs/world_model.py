"""Stage 1: the GLAM world model. `--config=experiments/configs/world_model.py:TASK[,OPTION...]`.

Options: `glam_o` (object masks as the world model's image input instead of RGB), `symmetric` (ablation:
no stop-gradient in the alignment KL), `action_on_idm` (ablation: the action decoder reads the IDM's latent),
`second_arm` (add the UR5e source), `cpu` (narrower convs and MLPs, batch 64, 2,000 steps: ~10 minutes on a
2-core CPU, where the paper sizes take ~20 s a step), `tiny` (small networks and few steps, for tests).
Every field can be overridden on the command line, e.g. `--config.num_steps=2000 --config.batch_size=64`.

Choices the paper leaves open: AdamW 3e-4, 500 warm-up steps, cosine decay to 10 %, weight decay 1e-4,
gradient clip 1.0, batch 256, 64x64 images from both views, target and auxiliary sampled 1 : 1 (the
alignment and grounding terms need target samples in every batch).
"""
import ml_collections

from glam_jax.configs import add_training_loop, parse_arg

OPTIONS = ('glam_o', 'symmetric', 'action_on_idm', 'second_arm', 'cpu', 'tiny')


def get_config(arg: str = 'lift') -> ml_collections.ConfigDict:
  task, opts = parse_arg(arg, OPTIONS)
  c = ml_collections.ConfigDict()
  c.task = task
  c.data_dir = 'data'
  c.sources = ml_collections.ConfigDict({'kinova': 1.0, 'umi': 1.0})    # source -> mixture weight
  if 'second_arm' in opts:
    c.sources.ur5e = 0.5
  c.target = 'kinova'
  c.ee_tilt = False              # the TCP's tilt identifies the embodiment (see glam_jax.models.inputs.ee_state)
  c.action_space = 'joint_target'    # or 'delta', the env's own actions (glam_jax/data/action_space.py)
  views = ('overhead', 'front')
  c.image_keys = tuple(f'{v}/mask' if 'glam_o' in opts else f'{v}/rgb' for v in views)

  c.model = ml_collections.ConfigDict(dict(
      latent_dim=16 if task == 'stack_three' else 8, state_dim=128, width=256,
      conv_features=(32, 64, 128, 256), idm_blocks=5, action_encoder_blocks=5, forward_blocks=4,
      proprio_blocks=5, decoder_layers=4))
  c.loss = ml_collections.ConfigDict(dict(
      align_weight=1.0, prior_weight=1e-3,
      alignment='symmetric' if 'symmetric' in opts else 'asymmetric',
      action_loss_on='idm' if 'action_on_idm' in opts else 'action_encoder', stop_grad_next_state=True))

  add_training_loop(c, cpu='cpu' in opts)
  if 'cpu' in opts:
    c.model.update(width=128, conv_features=(8, 16, 32, 32))
  if 'tiny' in opts:
    c.model.update(state_dim=32, width=64, conv_features=(8, 16, 16, 32), idm_blocks=2, action_encoder_blocks=2,
                   forward_blocks=2, proprio_blocks=2, decoder_layers=2)
    c.batch_size = 32
    c.num_steps = 200
    c.optimizer.warmup_steps = 20
    c.log_every = 20
    c.eval_every = 100
    c.eval_batches = 2
    c.eval_episodes = 1
    c.checkpoint_every = 100
    c.num_workers = 0
  return c
