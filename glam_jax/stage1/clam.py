"""CLAM (Liang et al. 2025, "Continuous Latent Action Models for Robot Learning from Unlabeled
Demonstrations") as a latent-action learner, on GLAM's networks.

  L = image_recon + next_frame + ee_forward + w·[step % k = 0]·‖p(a | z) − a‖² (target)  [+ β·KL(q_φ ‖ N(0, I))]

Follows the authors' code, github.com/clamrobot/clam_code: `clam/trainers/clam_trainer.py`
(`compute_step_loss`, `compute_action_decoder_loss`) in its joint mode, with the settings of
`clam/cfg/train_clam_images.yaml` (image observations): one continuous latent per transition from the
IDM, deterministic by default (`stochastic=True`: a sampled diagonal Gaussian with the KL to N(0, I),
weight β = 1e-2 as there); the forward model f(x_t, z) predicts the next image code, decoded into the next
frame and compared in pixels (CLAM's forward dynamics reconstructs o_t+1), and the next end-effector
state; the action decoder reads the latent alone and is trained jointly, without a stop-gradient, so the
action loss on target samples reaches the IDM and the image encoder (CLAM's grounding, and what GLAM
avoids), weight w = 0.01 (`action_decoder_loss_weight` of the image config; 1.0 in its state configs) on
every k = 2nd step (`train_action_decoder_every`). The IDM's mean is the latent a policy regresses.
Which sources it trains on is the method's (`glam_jax.methods`): `clam`/`clam_o` the target alone, as the
paper runs CLAM; `clam_aux`/`clam_o_aux` every source (reconstruction terms on all, the action term on the
target).

Deviations from the authors' code, and why:
- GLAM's networks (the paper's protocol: the same conv codec, ResMLP IDM and forward model, 4-layer action
  decoder for every method) instead of CLAM's transformer / MLP sizes and its [1024]x3 Tanh decoder.
- The action term is computed on the target samples of the training batch; the authors draw a separate
  labelled batch for it. Here every batch holds target samples (a target-only CLAM: all of them).
- The action decoder shares the world model's optimiser (AdamW, the loop's schedule) instead of its own
  AdamW 1e-3; on the steps without the action term its parameters still move by Adam's momentum.
- The IDM reads (x_t, x_t+1) as GLAM's does (the code's default also reads o_t-1).
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from glam_jax.models import gaussian, inputs
from glam_jax.models.latent_action_models import ClamConfig, ClamModel
from glam_jax.models.losses import masked_mean
from glam_jax.models.losses import sq_error as _sq
from glam_jax.stage1 import latent_action
from glam_jax.train import state as train_state


@dataclasses.dataclass(frozen=True)
class ClamLossConfig:
  action_weight: float = 0.01       # w
  action_every: int = 2             # k: the action term on every k-th training step (1: every step)
  stochastic: bool = False          # sample z from the IDM's Gaussian and add the KL term
  prior_weight: float = 1e-2        # β (stochastic only)

  def __post_init__(self):
    if self.action_every < 1:
      raise ValueError(f'loss.action_every must be at least 1, got {self.action_every}')


class ClamLearner(latent_action.ModelLearner):
  model_class = ClamModel

  def loss(self, params, batch: dict, rng: jax.Array):
    run, cfg = self.run(params), self.loss_config
    images, y, next_y, ee, next_ee = self.transitions(params, batch)
    target = batch['is_target']
    weights = inputs.channel_weights(batch['obs'], self.image_keys)
    image_recon = inputs.pixel_mse(run(ClamModel.decode, y), images[0], weights)
    mean, logvar = run(ClamModel.idm, y, ee, next_y, next_ee)
    z = gaussian.sample(rng, mean, logvar) if cfg.stochastic else mean
    pred_y, pred_ee = run(ClamModel.predict_next, y, ee, z)
    next_frame = inputs.pixel_mse(run(ClamModel.decode, pred_y), images[1], weights)
    ee_forward = jnp.mean(_sq(pred_ee, next_ee))
    action_recon = masked_mean(_sq(run(ClamModel.decode_action, z), batch['action']), target)
    kl = jnp.mean(gaussian.kl_to_standard(mean, logvar))
    # the training loop passes its step; held-out evaluation (no step) weighs the term every time
    on = (batch[train_state.STEP_KEY] % cfg.action_every == 0) if train_state.STEP_KEY in batch else True
    total = image_recon + next_frame + ee_forward + jnp.where(on, cfg.action_weight, 0.0) * action_recon
    if cfg.stochastic:
      total = total + cfg.prior_weight * kl
    idm_action = masked_mean(_sq(run(ClamModel.decode_action, mean), batch['action']), target)
    return total, dict(loss=total, image_recon=image_recon, next_frame=next_frame, ee_forward=ee_forward,
                       action_recon=action_recon, kl_idm=kl, action_mse_from_idm=idm_action,
                       idm_std=jnp.mean(jnp.exp(0.5 * logvar)),
                       target_fraction=jnp.mean(target.astype(jnp.float32)))


def build(config, target) -> ClamLearner:
  model = ClamConfig(**latent_action.dataset_dims(config, target), **latent_action.model_fields(config))
  return ClamLearner(model, ClamLossConfig(**config.loss), config.image_keys, config.get('ee_tilt', True))
