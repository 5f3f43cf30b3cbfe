"""The train state every model shares (step, parameters, optimiser state) and the optimiser that updates it.

AdamW with linear warm-up then cosine decay, after global-norm gradient clipping; optionally an exponential
moving average of the parameters (MIP's public code keeps one at 0.995 and evaluates with it), carried in
the optimiser state so that checkpoints, sweeps and resumes keep it without a new field. A pytree, so the
whole state can be sharded, checkpointed, or vmapped over seeds.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct


# The batch key under which a training step hands its step number to the learner's loss (a schedule inside
# the pure step, e.g. CLAM's action term on every k-th step); absent in held-out evaluation.
STEP_KEY = 'train_step'


@struct.dataclass
class TrainState:
  step: jnp.ndarray
  params: Any
  opt_state: Any


class ParamsEma(NamedTuple):
  """The moving average of the parameters after each update."""
  ema: Any


def params_ema(rate: float) -> optax.GradientTransformation:
  """Keeps ema <- rate * ema + (1 - rate) * (params after this update); leaves the updates as they are."""
  if not 0.0 < rate < 1.0:
    raise ValueError(f'ema_rate must be in (0, 1), got {rate}')

  def init(params):
    return ParamsEma(jax.tree.map(jnp.asarray, params))

  def update(updates, state, params):
    ema = jax.tree.map(lambda e, p, u: rate * e + (1.0 - rate) * (p + u), state.ema, params, updates)
    return updates, ParamsEma(ema)

  return optax.GradientTransformation(init, update)


def ema_params(opt_state):
  """The parameters' moving average held in an optimiser state, None when the optimiser keeps none."""
  for part in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, ParamsEma)):
    if isinstance(part, ParamsEma):
      return part.ema
  return None


def make_optimizer(learning_rate, num_steps: int, warmup_steps: int = 0, weight_decay=0.0,
                   grad_clip: float = 0.0, end_lr_fraction: float = 0.1,
                   ema_rate: float = 0.0) -> optax.GradientTransformation:
  """`learning_rate` and `weight_decay` may be traced (one value per run of a sweep): the schedule's shape
  is built for a peak of 1 and scaled. `ema_rate` > 0 also keeps the parameters' moving average."""
  if num_steps <= 0:
    raise ValueError(f'num_steps must be positive, got {num_steps}')
  warmup_steps = min(warmup_steps, num_steps - 1)
  unit = optax.warmup_cosine_decay_schedule(
      init_value=0.0 if warmup_steps else 1.0, peak_value=1.0, warmup_steps=warmup_steps,
      decay_steps=num_steps, end_value=end_lr_fraction)
  parts = [optax.clip_by_global_norm(grad_clip)] if grad_clip > 0 else []
  parts.append(optax.adamw(lambda step: learning_rate * unit(step), weight_decay=weight_decay))
  if ema_rate:
    parts.append(params_ema(ema_rate))
  return optax.chain(*parts)


def create(params, tx: optax.GradientTransformation) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params))


def apply_gradients(state: TrainState, grads, tx: optax.GradientTransformation) -> TrainState:
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  return TrainState(step=state.step + 1, params=optax.apply_updates(state.params, updates), opt_state=opt_state)


def num_params(params) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(params))
