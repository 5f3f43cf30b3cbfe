"""GLAM's stage-1 objective (DESIGN.md §2) and the learner that hands it to the training loop.

  L = image_recon + forward(z_idm) + forward(z_act) + proprio_forward + action_recon
      + λ·KL(q_φ ‖ sg(q_η)) + β·(KL(q_φ ‖ N(0, I)) + KL(q_η ‖ N(0, I)))

Terms that need target fields (s_t, a_t) are averaged over the target samples of the batch only. Choices
the paper leaves open, made here and switchable in `LossConfig`:
- the forward target y_{t+1} = enc(image_{t+1}) is stop-gradiented (`stop_grad_next_state`), so the
  forward loss cannot shrink itself by collapsing the image code; the reconstruction loss shapes the code;
- the forward error is mean((y' - y_{t+1})²) + mean((ee' - ee_{t+1})²), so the 10 end-effector numbers
  weigh as much as the 128 image-code numbers.
Ablations: `alignment='symmetric'` drops the stop-gradient on the action encoder; `action_loss_on='idm'`
feeds the action decoder the IDM's latent instead of the action encoder's (CLAM-style grounding).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from glam_jax.models import gaussian, inputs
from glam_jax.models.losses import masked_mean
from glam_jax.models.losses import sq_error as _sq
from glam_jax.models.world_model import WorldModel, WorldModelConfig
from glam_jax.stage1 import latent_action

ALIGNMENTS = ('asymmetric', 'symmetric')
ACTION_LOSS_ON = ('action_encoder', 'idm')


@dataclasses.dataclass(frozen=True)
class LossConfig:
  align_weight: float = 1.0          # λ
  prior_weight: float = 1e-3         # β
  alignment: str = 'asymmetric'
  action_loss_on: str = 'action_encoder'
  stop_grad_next_state: bool = True

  def __post_init__(self):
    if self.alignment not in ALIGNMENTS:
      raise ValueError(f'alignment {self.alignment!r}; valid: {", ".join(ALIGNMENTS)}')
    if self.action_loss_on not in ACTION_LOSS_ON:
      raise ValueError(f'action_loss_on {self.action_loss_on!r}; valid: {", ".join(ACTION_LOSS_ON)}')


def glam_loss(model: WorldModel, params, batch: dict, rng: jax.Array, image_keys, cfg: LossConfig,
              ee_tilt: bool = True):
  """(total loss, metrics) of one stage-1 batch (the pipeline's stage-1 structure)."""
  run = lambda method, *args: model.apply({'params': params}, *args, method=method)
  target = batch['is_target']
  images, y, next_y, ee, next_ee = latent_action.encode_transitions(
      lambda im: run(WorldModel.encode, im), batch, image_keys, ee_tilt)
  proprio, next_proprio, action = batch['proprio'], batch['next_proprio'], batch['action']

  image_recon = inputs.pixel_mse(run(WorldModel.decode, y), images[0], inputs.channel_weights(batch['obs'], image_keys))
  y_goal = jax.lax.stop_gradient(next_y) if cfg.stop_grad_next_state else next_y

  mean_i, logvar_i = run(WorldModel.idm, y, ee, next_y, next_ee)
  mean_a, logvar_a = run(WorldModel.action_encoder, proprio, action)
  k_idm, k_act = jax.random.split(rng)
  z_idm = gaussian.sample(k_idm, mean_i, logvar_i)
  z_act = gaussian.sample(k_act, mean_a, logvar_a)

  # Both posteriors' latents go through the one shared forward model in a single call.
  both = lambda a, b: jnp.concatenate([a, b])
  pred_y, pred_ee = run(WorldModel.predict_next, both(y, y), both(ee, ee), both(z_idm, z_act))
  fwd = _sq(pred_y, both(y_goal, y_goal)) + _sq(pred_ee, both(next_ee, next_ee))
  n = y.shape[0]
  forward_idm, forward_act = jnp.mean(fwd[:n]), masked_mean(fwd[n:], target)

  proprio_forward = masked_mean(_sq(run(WorldModel.predict_next_proprio, proprio, z_act), next_proprio), target)
  z_dec = z_act if cfg.action_loss_on == 'action_encoder' else z_idm
  action_recon = masked_mean(_sq(run(WorldModel.decode_action, z_dec), action), target)

  goal_a = (mean_a, logvar_a)
  if cfg.alignment == 'asymmetric':
    goal_a = jax.lax.stop_gradient(goal_a)
  kl_align = masked_mean(gaussian.kl(mean_i, logvar_i, *goal_a), target)
  kl_idm = jnp.mean(gaussian.kl_to_standard(mean_i, logvar_i))
  kl_act = masked_mean(gaussian.kl_to_standard(mean_a, logvar_a), target)

  total = (image_recon + forward_idm + forward_act + proprio_forward + action_recon
           + cfg.align_weight * kl_align + cfg.prior_weight * (kl_idm + kl_act))
  # Grounding diagnostic: actions decoded from the IDM's mean, what cross-source replay executes.
  idm_action = masked_mean(_sq(run(WorldModel.decode_action, mean_i), action), target)
  metrics = dict(loss=total, image_recon=image_recon, forward_idm=forward_idm, forward_act=forward_act,
                 proprio_forward=proprio_forward, action_recon=action_recon, kl_align=kl_align, kl_idm=kl_idm,
                 kl_act=kl_act, action_mse_from_idm=idm_action, target_fraction=jnp.mean(target.astype(jnp.float32)),
                 idm_std=jnp.mean(jnp.exp(0.5 * logvar_i)))
  return total, metrics


class GlamLearner(latent_action.ModelLearner):
  """GLAM as a latent-action learner (`stage1.latent_action`): the IDM's posterior mean encodes, the action
  decoder (trained on the action encoder's latents) decodes."""
  model_class = WorldModel

  def init(self, rng: jax.Array, batch: dict):
    obs = batch['obs']
    return self.model.init(rng, inputs.image_input(obs, self.image_keys), inputs.ee_state(obs, self.ee_tilt),
                           batch['proprio'], batch['action'])['params']

  def loss(self, params, batch: dict, rng: jax.Array):
    return glam_loss(self.model, params, batch, rng, self.image_keys, self.loss_config, self.ee_tilt)


def build(config, target) -> GlamLearner:
  """The learner a world-model config describes; `target` (the target Dataset) gives the dimensions."""
  model = WorldModelConfig(**latent_action.dataset_dims(config, target), **latent_action.model_fields(config))
  return GlamLearner(model, LossConfig(**config.loss), config.image_keys, config.get('ee_tilt', True))
