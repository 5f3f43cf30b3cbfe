"""LAWM's pre-training (Tharwat et al., "Latent Action Pretraining Through World Modeling"; seed
lawm_paper.txt): the policy network itself emits a chunk of latent actions z_t..z_t+H-1 from o_t, and a
world model turns them into the next frames; no action labels, every source.

  L = Σ_j ‖dec(y_t+k+j + f(y_t+k+j, z_t+k+j)) − o_t+k+j+1‖² (j < n, masked past the episode)
      + ‖dec(y_t+k) − o_t+k‖²

with y = enc(o) the world model's image codes, teacher-forced on the recorded frames as in the paper (the
world model sees frame t+k and the next n − 1 ones, and predicts frames t+k+1 .. t+k+n). The window's start
k is drawn per sample from 0 .. H − n (`lawm.future_start='random'`, the default: every latent of the H = 20
chunk is trained, at the cost of n frames) or is 0 (`'first'`: only the first n latents). The policy
is the stack's MIP network (`models.policy.Policy`), called as its first step f(0, 0, c): in pre-training
there is no clean chunk to noise for the second. Fine-tuning (the paper's option ii) is the MIP action
policy on target demonstrations, initialised from the pre-trained policy with its output layer fresh
(`train.loop.init_from`); the world model is dropped.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from glam_jax.models import inputs
from glam_jax.models.latent_action_models import FramePredictor, FramePredictorConfig
from glam_jax.models.losses import masked_mean
from glam_jax.models.policy import Policy, PolicyConfig
from glam_jax.stage2.latent_bc import policy_inputs


class LawmPretrainLearner:
  def __init__(self, policy_config: PolicyConfig, frame_config: FramePredictorConfig, image_keys,
               state_input: str, future_frames: int, ee_tilt: bool = True):
    if not 1 <= future_frames <= policy_config.horizon:
      raise ValueError(f'future_frames must be in [1, horizon={policy_config.horizon}], got {future_frames}')
    if policy_config.action_dim:
      raise ValueError('LAWM pre-training emits latents only: the policy config must have action_dim 0')
    self.policy_config, self.frame_config = policy_config, frame_config
    self.image_keys, self.state_input, self.ee_tilt = tuple(image_keys), state_input, ee_tilt
    self.future_frames = future_frames
    self.policy, self.world_model = Policy(policy_config), FramePredictor(frame_config)

  def _policy_inputs(self, batch):
    return policy_inputs(batch, self.image_keys, self.state_input, self.ee_tilt)

  def init(self, rng: jax.Array, batch: dict):
    k_pol, k_wm = jax.random.split(rng)
    images = inputs.image_input(batch['obs'], self.image_keys)
    z = jnp.zeros(images.shape[:-3] + (self.frame_config.latent_dim,))
    return {'policy': self.policy.init(k_pol, *self._policy_inputs(batch))['params'],
            'world_model': self.world_model.init(k_wm, images, z)['params']}

  def latents(self, params, batch: dict) -> jnp.ndarray:
    """(B, H, d): the latent action chunk the policy emits from o_t."""
    run = lambda m, *a: self.policy.apply({'params': params['policy']}, *a, method=m)
    ctx = run(Policy.context, *self._policy_inputs(batch))
    c = self.policy_config
    lead = ctx.shape[:-1]
    return run(Policy.head, jnp.zeros(lead), jnp.zeros(lead + (c.horizon, c.output_dim)), ctx)

  def loss(self, params, batch: dict, rng: jax.Array):
    del rng                                          # deterministic: no noise in either network
    wm = lambda m, *a: self.world_model.apply({'params': params['world_model']}, *a, method=m)
    n = self.future_frames
    offset = batch.get('future_offset', jnp.zeros(batch['future_mask'].shape[:1], jnp.int32))
    window = lambda chunk, k: jax.lax.dynamic_slice_in_dim(chunk, k, n, axis=0)
    z = jax.vmap(window)(self.latents(params, batch), offset)                  # z_t+k .. z_t+k+n-1
    start = batch['future_start'] if 'future_start' in batch else batch['obs']
    now = inputs.image_input(start, self.image_keys)
    future = inputs.image_input(batch['future'], self.image_keys)            # (B, n, H, W, C)
    codes = wm(FramePredictor.encode, jnp.concatenate([now[:, None], future], 1))     # (B, n+1, d_y)
    pred = wm(FramePredictor.decode, wm(FramePredictor.predict_next, codes[:, :n], z))
    weights = inputs.channel_weights(batch['obs'], self.image_keys)         # (B, C): the source's views
    per_frame = inputs.pixel_error(pred, future, None if weights is None else weights[:, None])
    frames = masked_mean(per_frame, batch['future_mask'])
    recon = inputs.pixel_mse(wm(FramePredictor.decode, codes[:, 0]), now, weights)
    total = frames + recon
    return total, dict(loss=total, future_frames=frames, image_recon=recon,
                       latent_std=jnp.mean(jnp.std(z, axis=0)))
