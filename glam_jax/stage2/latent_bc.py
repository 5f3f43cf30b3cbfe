"""Stage 2's objective: MIP regression of a chunk of H labels from the policy's context (DESIGN.md §2).

GLAM policy: the chunk holds the frozen IDM's latents (standardised; see `relabel`), regressed on every
source, and the policy action decoder h maps predicted latents to actions, regressed on target samples:
  L = ‖ẑ₁ − z‖² + ‖ẑ₂ − z‖²  (all data)  +  w · (‖h(ẑ₁) − a‖² + ‖h(ẑ₂) − a‖²)  (target data)
with ẑ₁ = f(0, 0, c) and ẑ₂ = f(t*, z + (1 − t*)·ε, c), ε ~ N(0, I). Chunk steps past an episode's end
are masked out. h is trained on both steps' predictions, so it sees latents as imperfect as those it gets
at test time; its gradient reaches the head (one network, trained end to end).
MIP baseline: the same network on target data, the chunk holds the actions and there is no decoder.

What the policy conditions on (`state_input`): auxiliary sources have no proprioception. The default
`ee_proprio` is the end-effector pose and gripper opening every source records (standardised with the
target dataset's statistics; without the TCP's tilt unless `ee_tilt`, see `inputs.ee_state`) followed by
the target's joint positions and gripper, zeros on auxiliary samples. `ee` is the end-effector state
alone. Measured on lift (CPU presets, 100 trials): GLAM-O 47 % with `ee_proprio`, 34 % with `ee`; MIP
36 % and 35 %.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from glam_jax.data.stats import Normalizer
from glam_jax.models import inputs
from glam_jax.models.losses import masked_mean
from glam_jax.models.losses import sq_error as _sq
from glam_jax.models.policy import Policy, PolicyConfig

STATE_INPUTS = ('ee', 'ee_proprio')
LABELS = ('latents', 'actions', 'frames')     # what a policy regresses ('frames': LAWM pre-training)


def state_vector(obs: dict, proprio, state_input: str, ee_tilt: bool = True) -> jnp.ndarray:
  ee = inputs.ee_state(obs, ee_tilt)
  if state_input == 'ee':
    return ee
  if state_input == 'ee_proprio':
    return jnp.concatenate([ee, jnp.asarray(proprio, jnp.float32)], -1)
  raise ValueError(f'state_input {state_input!r}; valid: {", ".join(STATE_INPUTS)}')


def state_dim(state_input: str, ee_dim: int, proprio_dim: int) -> int:
  if state_input not in STATE_INPUTS:
    raise ValueError(f'state_input {state_input!r}; valid: {", ".join(STATE_INPUTS)}')
  return ee_dim + (proprio_dim if state_input == 'ee_proprio' else 0)


def view_images(obs: dict, image_keys) -> jnp.ndarray | None:
  """(..., V, H, W, C): one float image per view key, stacked on a view axis; None for a policy without
  views (state only, as MIP's own low-dimensional trainer)."""
  if not image_keys:
    return None
  return jnp.stack([inputs.image_input(obs, (k,)) for k in image_keys], -4)


def normalize_env_obs(obs: dict, normalizer: Normalizer) -> tuple[dict, jnp.ndarray]:
  """Raw env observations -> (obs as the pipeline gives them, proprio), for a policy acting in the env."""
  out = dict(obs)
  for k in inputs.EE_KEYS:
    out[k] = normalizer.normalize(k, jnp.asarray(obs[k], jnp.float32))
  proprio = jnp.concatenate([normalizer.normalize('joint_pos', jnp.asarray(obs['joint_pos'], jnp.float32)),
                             out['gripper']], -1) if 'joint_pos' in obs else None
  return out, proprio


class PolicyLearner:
  """The training loop's learner for a stage-2 policy: `label='latents'` (GLAM) or `'actions'` (MIP)."""

  def __init__(self, config: PolicyConfig, image_keys, state_input: str = 'ee', label: str = 'latents',
               action_weight: float = 1.0, ee_tilt: bool = True):
    if label not in ('latents', 'actions'):
      raise ValueError(f'label {label!r}; valid: latents, actions (frames: stage2.lawm)')
    if (label == 'latents') != bool(config.action_dim):
      raise ValueError('a latent policy needs an action decoder (action_dim > 0); the action policy has none')
    self.config, self.image_keys = config, tuple(image_keys)
    self.state_input, self.label, self.action_weight = state_input, label, action_weight
    self.ee_tilt = ee_tilt
    self.model = Policy(config)

  def _inputs(self, batch):
    return view_images(batch['obs'], self.image_keys), state_vector(batch['obs'], batch['proprio'],
                                                                     self.state_input, self.ee_tilt)

  def init(self, rng: jax.Array, batch: dict):
    return self.model.init(rng, *self._inputs(batch))['params']

  def loss(self, params, batch: dict, rng: jax.Array):
    return self._objective(params, batch, rng, with_inference=False)

  def eval_metrics(self, params, batch: dict, rng: jax.Array) -> dict:
    """The loss terms and the test-time inference's errors (step 2 from step 1's output, no noise): the
    metric that says how the policy will act. Held-out only: a third head pass in every training step cost
    a quarter of MIP's step time (tools/bench_train.py --peer=mip)."""
    return self._objective(params, batch, rng, with_inference=True)[1]

  def _objective(self, params, batch: dict, rng: jax.Array, with_inference: bool):
    run = lambda method, *a: self.model.apply({'params': params}, *a, method=method)
    t_star = self.config.t_star
    ctx = run(Policy.context, *self._inputs(batch))
    target = batch[self.label]
    mask = batch['chunk_mask']
    lead = ctx.shape[:-1]
    noisy = target + (1.0 - t_star) * jax.random.normal(rng, target.shape)
    # the two steps' inputs do not depend on each other in training: one head call on both, stacked, runs
    # larger matrix products than two calls
    both = lambda x, y: jnp.concatenate([x, y])
    first, second = jnp.split(run(Policy.head, both(jnp.zeros(lead), jnp.full(lead, t_star)),
                                  both(jnp.zeros_like(target), noisy), both(ctx, ctx)), 2)
    chunk_1, chunk_2 = masked_mean(_sq(first, target), mask), masked_mean(_sq(second, target), mask)
    metrics = dict(chunk_mse_step1=chunk_1, chunk_mse_step2=chunk_2)
    if with_inference:
      inferred = run(Policy.head, jnp.full(lead, t_star), first, ctx)
      metrics['chunk_mse_inferred'] = masked_mean(_sq(inferred, target), mask)
    total = chunk_1 + chunk_2
    if self.label == 'latents':
      act_mask = mask & batch['is_target'][:, None]
      a = batch['actions']
      decoded_1, decoded_2 = jnp.split(run(Policy.decode, both(first, second), both(ctx, ctx)), 2)
      act_1, act_2 = masked_mean(_sq(decoded_1, a), act_mask), masked_mean(_sq(decoded_2, a), act_mask)
      total = total + self.action_weight * (act_1 + act_2)
      metrics.update(action_mse_step1=act_1, action_mse_step2=act_2,
                     target_fraction=jnp.mean(batch['is_target'].astype(jnp.float32)))
      if with_inference:
        metrics['action_mse_inferred'] = masked_mean(_sq(run(Policy.decode, inferred, ctx), a), act_mask)
    metrics['loss'] = total
    return total, metrics

  @property
  def fresh_on_init(self) -> tuple:
    """Parameters kept freshly initialised when the policy starts from another run's (`loop.init_from`):
    the head's output layer, which maps to this policy's own outputs (LAWM: latents there, actions here)."""
    return (f'head_net/Dense_{self.config.head_layers - 1}',)

  def act(self, params, obs: dict, proprio=None) -> jnp.ndarray:
    """Normalised observations (one or a batch) -> the action chunk (..., H, action_dim) in the policy's
    action space (`action_space.env_converter` turns each into an env action)."""
    images = view_images(obs, self.image_keys)
    _, actions = self.model.apply({'params': params}, images, state_vector(obs, proprio, self.state_input, self.ee_tilt),
                                  method=Policy.infer)
    return actions
