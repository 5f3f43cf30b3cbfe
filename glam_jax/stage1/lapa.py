"""LAPA (Ye et al. 2024, "Latent Action Pretraining from Videos") as a latent-action learner, on GLAM's
networks.

Follows the authors' latent action quantisation model, github.com/LatentActionPretraining/LAPA:
`laq/laq_model/latent_action_quantization.py` (both frames encoded by one network, the first frame's
features subtracted from the last's, the difference quantised, the next frame reconstructed from the first
and the quantised tokens by MSE) and `laq/laq_model/nsvq.py` (NSVQ), with the sizes of its training script
`train_sthv2.py`: `code_seq_len` 4 tokens of `quant_dim` 32 per transition, `codebook_size` 8.
Here: a token network g(y, ee) gives 4 x 32 features per frame, and the tokens g(x_t+1) - g(x_t) are each
quantised against the shared codebook by NSVQ (noise-substitution VQ, Vali & Bäckström 2022: in training
the quantised token is z + ‖z − e‖·v/‖v‖ with v Gaussian noise, so no straight-through estimator and no
commitment loss are needed); the shared forward model f(x_t, tokens) followed by the image decoder predicts
o_t+1, compared in pixels (and the next end-effector state).

  L = image_recon + next_frame + ee_forward + r·revival + w·‖probe(sg(e), s_t) − a‖² (target)

- probe: LAPA's latents never see actions; the action probe maps the hard-quantised tokens and the target's
  proprioception s_t to target actions through a stop-gradient (the joint targets it predicts depend on
  where the arm is, which a token of motion does not say). Latent replay decodes with it from the replaying
  robot's state, so replay measures the latents. It trains nothing else.

The latent a policy regresses (`encode`) is the 4 hard-quantised embeddings side by side (LAPA's policy
predicts the tokens, then learns an action head; here the stack's MIP policy regresses their embeddings on
every source and decodes actions on the target, as for every latent method: DESIGN.md §2, same policy).

Deviations from the authors' code, and why:
- GLAM's networks (the paper's protocol) instead of LAPA's spatio-temporal transformers; its decoder
  cross-attends to the tokens, here the forward model reads them.
- Code replacement: LAPA counts each code's use and, at steps 10, 20, ..., 4500, replaces the codes used
  less than 0.1 x batch times since the last replacement with copies of used ones. One pure jitted step has
  no memory of past usage, so each code is instead pulled toward its nearest token of the batch
  (stop-gradient on the tokens, weight r = `revival_weight`): a code that wins no token moves to where tokens
  are and starts winning, while a used code is already close and barely moves.
- Frame gap: LAPA pairs frames `offsets` apart (30 frames of Something-Something v2 in `train_sthv2.py`);
  here `frame_gap_s` seconds (rounded to the target's control steps; a pair near an episode's end takes its
  last frame), 0 by default: consecutive control steps, as the other methods, whose chunks of H = 20 latents
  the policy regresses one per step. Training, relabelling, the probe and latent replay pair frames alike.
- `latent_input='pair'` (an MLP over both frames) and `probe_state=False` (tokens alone) keep the earlier
  variants as options.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from glam_jax.models import inputs
from glam_jax.models.latent_action_models import LapaConfig, LapaModel, nearest_code, nsvq
from glam_jax.models.losses import masked_mean
from glam_jax.models.losses import sq_error as _sq
from glam_jax.stage1 import latent_action


@dataclasses.dataclass(frozen=True)
class LapaLossConfig:
  probe_weight: float = 1.0         # w
  revival_weight: float = 0.1       # r


def _flat(tokens):
  return tokens.reshape(tokens.shape[:-2] + (-1,))


class LapaLearner(latent_action.ModelLearner):
  model_class = LapaModel

  @property
  def reads_state(self) -> bool:
    return self.model_config.probe_state

  def decode_action(self, params, z: jnp.ndarray, proprio=None) -> jnp.ndarray:
    return self.run(params)(LapaModel.decode_action, z, proprio)

  def _tokens(self, params, batch):
    images, y, next_y, ee, next_ee = self.transitions(params, batch)
    return images, y, ee, next_ee, self.run(params)(LapaModel.idm, y, ee, next_y, next_ee)

  def loss(self, params, batch: dict, rng: jax.Array):
    run, cfg = self.run(params), self.loss_config
    codebook = params['codebook']
    images, y, ee, next_ee, tokens = self._tokens(params, batch)
    quantised, idx = nsvq(tokens, codebook, rng)
    pred_y, pred_ee = run(LapaModel.predict_next, y, ee, quantised)
    weights = inputs.channel_weights(batch['obs'], self.image_keys)
    image_recon = inputs.pixel_mse(run(LapaModel.decode, y), images[0], weights)
    next_frame = inputs.pixel_mse(run(LapaModel.decode, pred_y), images[1], weights)
    ee_forward = jnp.mean(_sq(pred_ee, next_ee))
    flat_tokens = jax.lax.stop_gradient(tokens.reshape(-1, tokens.shape[-1]))
    revival = jnp.mean(jnp.min(jnp.sum((flat_tokens[:, None] - codebook) ** 2, -1), 0))
    hard = jax.lax.stop_gradient(_flat(codebook[idx]))
    target = batch['is_target']
    probe = masked_mean(_sq(run(LapaModel.decode_action, hard, batch['proprio']), batch['action']), target)
    total = image_recon + next_frame + ee_forward + cfg.revival_weight * revival + cfg.probe_weight * probe
    usage = jnp.mean(jax.nn.one_hot(idx, codebook.shape[0]).reshape(-1, codebook.shape[0]), 0)
    perplexity = jnp.exp(-jnp.sum(usage * jnp.log(usage + 1e-10)))
    quant_error = jnp.mean(jnp.sum((tokens - codebook[idx]) ** 2, -1))
    return total, dict(loss=total, image_recon=image_recon, next_frame=next_frame, ee_forward=ee_forward,
                       revival=revival, action_probe=probe, code_perplexity=perplexity,
                       codes_used=jnp.sum(usage > 0).astype(jnp.float32), quantisation_error=quant_error,
                       target_fraction=jnp.mean(target.astype(jnp.float32)))

  def codes(self, params, obs: dict, next_obs: dict) -> jnp.ndarray:
    """(..., num_tokens) codebook indices of transitions obs -> next_obs."""
    *_, tokens = self._tokens(params, {'obs': obs, 'next_obs': next_obs})
    return nearest_code(tokens, params['codebook'])

  def encode(self, params, obs: dict, next_obs: dict) -> jnp.ndarray:
    return _flat(params['codebook'][self.codes(params, obs, next_obs)])


def build(config, target) -> LapaLearner:
  model = LapaConfig(**latent_action.dataset_dims(config, target), **latent_action.model_fields(config))
  learner = LapaLearner(model, LapaLossConfig(**config.loss), config.image_keys, config.get('ee_tilt', True))
  learner.frame_gap = latent_action.frame_gap_steps(config.get('frame_gap_s', 0.0), target)
  return learner
