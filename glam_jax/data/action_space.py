"""How the target robot's actions are represented for learning, and how they go back to env actions.

The env takes joint-target *deltas* (`sim/arm.py`): an action moves each joint's position target by
`action * max_delta`. Learning those deltas has a cost open-loop decoding cannot pay back: a decoded action
with a small bias moves the target a little wrong every step, and the error integrates (measured: latent
replay of the Kinova's own episodes drifted 5 cm). So learning may instead use the *absolute* targets:

- `delta`: the env's own action, in [-1, 1];
- `joint_target`: per arm, the joint position targets the action set (the dataset field `joint_target`,
  standardised with the target's statistics) followed by the gripper command, as in the env action. To
  execute, the env action is the delta from the current targets (`State.obs['joint_target']`) toward the
  predicted ones, in units of `max_delta` and clipped to [-1, 1]: an error in one step's prediction is not
  carried into the next.

Both have the env's action layout and size.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from glam_jax.data.schema import DatasetError

SPACES = ('delta', 'joint_target')


def check(space: str) -> str:
  if space not in SPACES:
    raise ValueError(f'unknown action space {space!r}; valid: {", ".join(SPACES)}')
  return space


def of(saved) -> str:
  """The action space a saved run config or policy spec names; runs saved before the choice learned deltas."""
  return check(saved.get('action_space', 'delta'))


def joint_columns(action_dim: int, num_arms: int) -> np.ndarray:
  """Indices of the joint entries in an action laid out per arm as [joints..., gripper]."""
  per_arm = action_dim // num_arms
  return np.array([a * per_arm + j for a in range(num_arms) for j in range(per_arm - 1)])


def recorded_commands(space: str, episode: dict, num_arms: int) -> np.ndarray:
  """(T, action_dim) of one target episode in the units `to_command` gives a policy's chunk: the recorded
  actions (`delta`), or with the joint entries replaced by the recorded joint targets (`joint_target`)."""
  action = np.asarray(episode['action'], np.float32)
  if check(space) == 'delta':
    return action
  if 'joint_target' not in episode:
    raise DatasetError('the dataset has no "joint_target" field, which a joint_target policy is compared with')
  out = action.copy()
  out[:, joint_columns(action.shape[-1], num_arms)] = episode['joint_target']
  return out


def learning_actions(space: str, episode: dict, num_arms: int, normalizer) -> np.ndarray:
  """(T, action_dim) float32 learning actions of one target episode {'action', ['joint_target']}."""
  action = np.asarray(episode['action'], np.float32)
  if check(space) == 'delta':
    return action
  if 'joint_target' not in episode:
    raise DatasetError('the dataset has no "joint_target" field, which action_space="joint_target" needs; '
                       'regenerate it (tools/generate_demos.py) or use action_space="delta"')
  out = action.copy()
  out[:, joint_columns(action.shape[-1], num_arms)] = normalizer.normalize('joint_target', episode['joint_target'])
  return out


def to_command(space: str, action: jnp.ndarray, normalizer, num_arms: int) -> jnp.ndarray:
  """Learning actions (..., action_dim) -> commands in the env's units, which need no statistics to execute:
  `delta`: the actions; `joint_target`: the joint targets de-standardised (gripper entries unchanged)."""
  if check(space) == 'delta':
    return action
  cols = joint_columns(action.shape[-1], num_arms)
  return action.at[..., cols].set(normalizer.denormalize('joint_target', action[..., cols]))


def command_to_env(space: str, command: jnp.ndarray, current_target: jnp.ndarray, max_delta: jnp.ndarray,
                   num_arms: int) -> jnp.ndarray:
  """One command (action_dim,) -> the env action that executes it from the current joint targets."""
  if check(space) == 'delta':
    return jnp.clip(command, -1.0, 1.0)
  cols = joint_columns(command.shape[-1], num_arms)
  return jnp.clip(command.at[cols].set((command[cols] - current_target) / max_delta), -1.0, 1.0)


def to_env_action(space: str, action: jnp.ndarray, current_target: jnp.ndarray, max_delta: jnp.ndarray,
                  normalizer, num_arms: int) -> jnp.ndarray:
  """One learning action (action_dim,) -> the env action that executes it from the current joint targets."""
  return command_to_env(space, to_command(space, action, normalizer, num_arms), current_target, max_delta,
                        num_arms)


def command_converter(space: str, env):
  """fn(state, command) -> env action for `env`: the part of execution that depends on the env alone, so a
  program built on it is the same for every policy (jit-friendly; the arm's limits are static)."""
  check(space)
  if space == 'joint_target' and not all(a.has_proprio for a in env.arms):
    raise ValueError(f'action_space="joint_target" needs joint targets; {env.embodiment} has none')
  max_delta = jnp.concatenate([jnp.asarray(a.max_delta, jnp.float32) for a in env.arms])
  num_arms = len(env.arms)

  def convert(state, command):
    current = state.obs.get('joint_target') if space == 'joint_target' else None
    return command_to_env(space, command, current, max_delta, num_arms)

  return convert


def env_converter(space: str, env, normalizer):
  """fn(state, learning action) -> env action for `env` (jit-friendly)."""
  convert, num_arms = command_converter(space, env), len(env.arms)
  return lambda state, action: convert(state, to_command(space, action, normalizer, num_arms))
