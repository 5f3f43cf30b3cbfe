"""Stage 2's objective: MIP regression of a chunk of H labels from the policy's context (DESIGN.md §2).

Follows MIP's public code, much-ado-about-noising `mip/losses.py` (`mip_loss`), its sampler
`mip/samplers.py` (`mip_sampler`) and its default config (`examples/configs/optimization/default.yaml`):
  L = s · ( ‖(ẑ₁ − z) / t*‖² + ‖(ẑ₂ − z) / (1 − t*)‖² )                     (all data)
    + s · w · ( ‖(h(ẑ₁) − a) / t*‖² + ‖(h(ẑ₂) − a) / (1 − t*)‖² )            (target data)
with ẑ₁ = f(0, 0, c) and ẑ₂ = f(t*, z + (1 − t*)·ε, c), ε ~ N(0, I), ‖·‖² the squared L2 norm over the
output dimension averaged over the batch and the chunk's steps (steps past an episode's end masked out),
s = `loss.scale` (MIP's `loss_scale`, 0.1), t* = 0.9: the executed second step weighs 81 times the first.
The action-decoder term is in the same convention (its weights on the decoded steps). At test time ẑ₁ then
ẑ₂ = f(t*, ẑ₁, c), no noise. The head's dropout is on in training; the parameters' moving average (0.995,
`optimizer.ema_rate`, kept by `train.state`) is what evaluation uses. h is trained on both steps'
predictions, so it sees latents as imperfect as those it gets at test time; its gradient reaches the head.
`loss.step_weights='equal'` and `loss.dim_reduction='mean'` give the earlier objective (both steps weighed
1, the mean over the output dimension).
GLAM policy: the chunk holds the frozen IDM's latents (standardised; see `relabel`), regressed on every
source, and the policy action decoder h maps predicted latents to actions, regressed on target samples.
MIP baseline: the same network on target data, the chunk holds the actions and there is no decoder.
Deviations from MIP's code: its first step's input is all zeros at t = 0 as here, but its network reads
(s, t) sinusoidal embeddings; GLAM's LayerNorm + Mish head (`models.policy`); the optimiser is the
stack's (AdamW, warm-up and cosine decay, clip 1.0) for every method.

What the policy conditions on (`state_input`): auxiliary sources have no proprioception. The default
`ee_proprio` is the end-effector pose and gripper opening every source records (standardised with the
target dataset's statistics; without the TCP's tilt unless `ee_tilt`, see `inputs.ee_state`) followed by
the target's joint positions and gripper, zeros on auxiliary samples. `ee` is the end-effector state
alone. Measured on lift (CPU presets, 100 trials, the earlier objective): GLAM-O 47 % with `ee_proprio`,
34 % with `ee`; MIP 36 % and 35 %.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from glam_jax.data.stats import Normalizer
from glam_jax.models import inputs
from glam_jax.models.losses import masked_mean
from glam_jax.models.losses import sq_error as _sq
from glam_jax.models.policy import Policy, PolicyConfig

STATE_INPUTS = ('ee', 'ee_proprio')
LABELS = ('latents', 'actions', 'frames')     # what a policy regresses ('frames': LAWM pre-training)
STEP_WEIGHTS = ('mip', 'equal')
DIM_REDUCTIONS = ('sum', 'mean')


@dataclasses.dataclass(frozen=True)
class PolicyLossConfig:
  step_weights: str = 'mip'      # 'mip': step 1's error divided by t*, step 2's by 1 - t*; 'equal': both 1
  dim_reduction: str = 'sum'     # 'sum': squared L2 norm over the output dimension (MIP's); 'mean'
  scale: float = 0.1             # s, MIP's loss_scale

  def __post_init__(self):
    if self.step_weights not in STEP_WEIGHTS:
      raise ValueError(f'loss.step_weights {self.step_weights!r}; valid: {", ".join(STEP_WEIGHTS)}')
    if self.dim_reduction not in DIM_REDUCTIONS:
      raise ValueError(f'loss.dim_reduction {self.dim_reduction!r}; valid: {", ".join(DIM_REDUCTIONS)}')
    if not self.scale > 0:
      raise ValueError(f'loss.scale must be positive, got {self.scale}')

  def step_errors(self, t_star: float, mask, *pairs) -> list:
    """Per pair (prediction, truth) of step k (k = 1, 2 in order): the masked mean of its weighted error."""
    weights = (1.0 / t_star, 1.0 / (1.0 - t_star)) if self.step_weights == 'mip' else (1.0, 1.0)
    reduce = jnp.sum if self.dim_reduction == 'sum' else jnp.mean
    return [masked_mean(reduce((w * (pred - truth)) ** 2, axis=-1), mask)
            for w, (pred, truth) in zip(weights, pairs)]


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


def policy_inputs(batch: dict, image_keys, state_input: str, ee_tilt: bool) -> tuple:
  """(images, state, present) of a batch: the policy's views, its state vector and which views the element's
  source recorded (None when every source records every view)."""
  obs = batch['obs']
  return (view_images(obs, image_keys), state_vector(obs, batch['proprio'], state_input, ee_tilt),
          inputs.view_weights(obs, image_keys))


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
               action_weight: float = 1.0, ee_tilt: bool = True, loss: PolicyLossConfig = PolicyLossConfig()):
    if label not in ('latents', 'actions'):
      raise ValueError(f'label {label!r}; valid: latents, actions (frames: stage2.lawm)')
    if (label == 'latents') != bool(config.action_dim):
      raise ValueError('a latent policy needs an action decoder (action_dim > 0); the action policy has none')
    self.config, self.image_keys = config, tuple(image_keys)
    self.state_input, self.label, self.action_weight = state_input, label, action_weight
    self.ee_tilt, self.loss_config = ee_tilt, loss
    self.model = Policy(config)

  def _inputs(self, batch):
    return policy_inputs(batch, self.image_keys, self.state_input, self.ee_tilt)

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
    """The training loss (dropout on) or, `with_inference`, the held-out metrics (dropout off)."""
    k_noise, k_dropout = jax.random.split(rng)
    train = not with_inference
    run = lambda method, *a, **kw: self.model.apply({'params': params}, *a, method=method,
                                                    rngs={'dropout': k_dropout} if train else None, **kw)
    t_star, objective = self.config.t_star, self.loss_config
    ctx = run(Policy.context, *self._inputs(batch))
    target = batch[self.label]
    mask = batch['chunk_mask']
    lead = ctx.shape[:-1]
    noisy = target + (1.0 - t_star) * jax.random.normal(k_noise, target.shape)
    # the two steps' inputs do not depend on each other in training: one head call on both, stacked, runs
    # larger matrix products than two calls
    both = lambda x, y: jnp.concatenate([x, y])
    first, second = jnp.split(run(Policy.head, both(jnp.zeros(lead), jnp.full(lead, t_star)),
                                  both(jnp.zeros_like(target), noisy), both(ctx, ctx), train=train), 2)
    total = objective.scale * sum(objective.step_errors(t_star, mask, (first, target), (second, target)))
    metrics = dict(chunk_mse_step1=masked_mean(_sq(first, target), mask),
                   chunk_mse_step2=masked_mean(_sq(second, target), mask))
    if with_inference:
      inferred = run(Policy.head, jnp.full(lead, t_star), first, ctx)
      metrics['chunk_mse_inferred'] = masked_mean(_sq(inferred, target), mask)
    if self.label == 'latents':
      act_mask = mask & batch['is_target'][:, None]
      a = batch['actions']
      decoded_1, decoded_2 = jnp.split(run(Policy.decode, both(first, second), both(ctx, ctx)), 2)
      total = total + objective.scale * self.action_weight * sum(
          objective.step_errors(t_star, act_mask, (decoded_1, a), (decoded_2, a)))
      metrics.update(action_mse_step1=masked_mean(_sq(decoded_1, a), act_mask),
                     action_mse_step2=masked_mean(_sq(decoded_2, a), act_mask),
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
