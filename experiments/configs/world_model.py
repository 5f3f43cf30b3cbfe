"""Stage 1: a latent-action world model. `--config=experiments/configs/world_model.py:TASK[,METHOD][,OPTION...]`.

METHOD: any method of `glam_jax.methods` with a learner (default `glam`): `glam`, `glam_o` (object masks as
the image input instead of RGB), the ablations `glam_o_symmetric` (no stop-gradient in the alignment KL) and
`glam_o_action_on_idm` (the action decoder reads the IDM's latent), `clam`, `clam_o` (target data only, as
the paper runs CLAM), `clam_aux`, `clam_o_aux` (CLAM given every source), `lapa`, `lapa_o`.
Options: `second_arm` (add the UR5e source), `cpu` (narrower convs and MLPs, batch 64, 2,000 steps: ~10
minutes on a 2-core CPU, where the paper sizes take ~20 s a step), `tiny` (small networks and few steps,
for tests).
Every field can be overridden on the command line, e.g. `--config.num_steps=2000 --config.batch_size=64`.

Choices the paper leaves open: AdamW 3e-4, 500 warm-up steps, cosine decay to 10 %, weight decay 1e-4,
gradient clip 1.0, batch 256, 64x64 images from both views, target and auxiliary sampled 1 : 1 (the
alignment and grounding terms need target samples in every batch).
"""
import ml_collections

from glam_jax import methods
from glam_jax.configs import add_training_loop, apply_overrides, parse_arg

OPTIONS = ('second_arm', 'cpu', 'tiny')
# Each learner's loss settings (glam_jax/stage1/<learner>.py says what they mean).
LOSSES = {
    'glam': dict(align_weight=1.0, prior_weight=1e-3, alignment='asymmetric', action_loss_on='action_encoder',
                 stop_grad_next_state=True),
    'clam': dict(action_weight=0.01, action_every=2, stochastic=False, prior_weight=1e-2),
    'lapa': dict(probe_weight=1.0, revival_weight=0.1),
}


# Each learner's own data settings: LAPA pairs frames `frame_gap_s` seconds apart (its code pairs frames
# `offsets` apart, 30 frames of Something-Something v2; 0: consecutive control steps, as the other learners).
DATA = {'lapa': dict(frame_gap_s=0.0)}


# Each learner's own network sizes beside the shared codec, widths and action decoder (the paper's Table 2;
# LAPA: codebook 8, 4 tokens of 32 (its quant_dim) from the two frames' feature difference, its latent the
# 4 token embeddings side by side, its action probe reading the proprioception too).
MODELS = {
    'glam': lambda latent_dim: dict(latent_dim=latent_dim, idm_blocks=5, action_encoder_blocks=5, forward_blocks=4,
                                    proprio_blocks=5),
    'clam': lambda latent_dim: dict(latent_dim=latent_dim, idm_blocks=5, forward_blocks=4),
    'lapa': lambda latent_dim: dict(token_dim=32, num_tokens=4, codebook_size=8, latent_input='difference',
                                    probe_state=True, idm_blocks=5, forward_blocks=4),
}


def get_config(arg: str = 'lift') -> ml_collections.ConfigDict:
  task, opts = parse_arg(arg, OPTIONS + methods.with_world_model())
  named = [m for m in methods.with_world_model() if m in opts]
  if len(named) > 1:
    raise ValueError(f'name at most one method (got {named})')
  method = methods.get(named[0] if named else 'glam')
  c = ml_collections.ConfigDict()
  c.task = task
  c.method = method.name
  c.learner = method.learner
  c.data_dir = 'data'
  c.sources = ml_collections.ConfigDict({'kinova': 1.0, 'umi': 1.0})    # source -> mixture weight
  if 'second_arm' in opts:
    c.sources.ur5e = 0.5
  c.target = 'kinova'
  if method.world_model_sources == 'target':
    c.sources = ml_collections.ConfigDict({c.target: 1.0})
  c.ee_tilt = False              # the TCP's tilt identifies the embodiment (see glam_jax.models.inputs.ee_state)
  c.action_space = 'joint_target'    # or 'delta', the env's own actions (glam_jax/data/action_space.py)
  views = ('overhead', 'front')
  c.image_keys = tuple(f'{v}/{method.world_model_input}' for v in views)

  c.model = ml_collections.ConfigDict(dict(
      state_dim=128, width=256, conv_features=(32, 64, 128, 256), decoder_layers=4,
      **MODELS[method.learner](latent_dim=16 if task == 'stack_three' else 8)))
  c.loss = ml_collections.ConfigDict(LOSSES[method.learner])
  c.update(DATA.get(method.learner, {}))

  add_training_loop(c, cpu='cpu' in opts)
  if 'cpu' in opts:
    _resize(c.model, width=128, conv_features=(8, 16, 32, 32))
  if 'tiny' in opts:
    _resize(c.model, state_dim=32, width=64, conv_features=(8, 16, 16, 32), idm_blocks=2, action_encoder_blocks=2,
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
  apply_overrides(c, dict(method.world_model_overrides))
  return c


def _resize(model, **sizes) -> None:
  """Sets the sizes this learner's model has (a CLAM has no action encoder to resize)."""
  model.update({k: v for k, v in sizes.items() if k in model})
