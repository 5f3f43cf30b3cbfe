"""A tiny GLAM and random stage-1 batches, fast to compile on CPU."""
from __future__ import annotations

import jax
import numpy as np
import optax

from glam_jax.models.latent_action_models import ClamConfig, LapaConfig
from glam_jax.models.world_model import WorldModelConfig
from glam_jax.stage1.clam import ClamLearner, ClamLossConfig
from glam_jax.stage1.glam import GlamLearner, LossConfig
from glam_jax.stage1.lapa import LapaLearner, LapaLossConfig

IMAGE_KEYS = ('overhead/rgb', 'overhead/mask')
TINY = WorldModelConfig(image_shape=(16, 16, 4), ee_dim=10, proprio_dim=8, action_dim=8, latent_dim=4,
                        state_dim=16, width=32, conv_features=(8, 16), idm_blocks=1, action_encoder_blocks=1,
                        forward_blocks=1, proprio_blocks=1, decoder_layers=2)


SHARED = dict(image_shape=(16, 16, 4), ee_dim=10, proprio_dim=8, action_dim=8, state_dim=16, width=32,
              conv_features=(8, 16), idm_blocks=1, forward_blocks=1, decoder_layers=2)


def learner(**loss) -> GlamLearner:
  return GlamLearner(TINY, LossConfig(**loss), IMAGE_KEYS)


def clam_learner(**loss) -> ClamLearner:
  return ClamLearner(ClamConfig(latent_dim=4, **SHARED), ClamLossConfig(**loss), IMAGE_KEYS)


def lapa_learner(latent_input: str = 'difference', probe_state: bool = True, **loss) -> LapaLearner:
  return LapaLearner(LapaConfig(token_dim=2, num_tokens=4, codebook_size=8, latent_input=latent_input,
                                probe_state=probe_state, **SHARED), LapaLossConfig(**loss), IMAGE_KEYS)


def random_batch(seed: int = 0, n: int = 8, num_target: int = 4) -> dict:
  r = np.random.default_rng(seed)

  def obs():
    return {'overhead/rgb': r.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8),
            'overhead/mask': r.integers(0, 2, (n, 16, 16), dtype=np.uint8),
            'ee_pose': r.normal(size=(n, 9)).astype(np.float32), 'gripper': r.normal(size=(n, 1)).astype(np.float32)}

  target = np.arange(n) < num_target
  zero_aux = lambda x: np.where(target.reshape((n,) + (1,) * (x.ndim - 1)), x, 0).astype(np.float32)
  return {'obs': obs(), 'next_obs': obs(), 'is_target': target,
          'proprio': zero_aux(r.normal(size=(n, 8))), 'next_proprio': zero_aux(r.normal(size=(n, 8))),
          'action': zero_aux(r.uniform(-1, 1, (n, 8)))}


def init(lrn, batch: dict, seed: int = 0):
  return lrn.init(jax.random.PRNGKey(seed), batch)


def train(lrn, batch: dict, steps: int, lr: float = 3e-3, seed: int = 3):
  """Adam on one fixed batch -> (params, metrics before, metrics after)."""
  rng = jax.random.PRNGKey(seed)
  params = init(lrn, batch)
  tx = optax.adam(lr)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt, i):
    (_, m), g = jax.value_and_grad(lrn.loss, has_aux=True)(params, batch, jax.random.fold_in(rng, i))
    updates, opt = tx.update(g, opt)
    return optax.apply_updates(params, updates), opt, m

  first = lrn.loss(params, batch, rng)[1]
  for i in range(steps):
    params, opt, m = step(params, opt, i)
  return params, first, m
