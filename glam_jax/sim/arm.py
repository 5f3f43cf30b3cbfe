"""An actuated arm with its gripper: the spec a robot builder returns and the control law of every embodiment.

Every embodiment is a chain of position-controlled pose dofs plus a parallel gripper: the Kinova and the UR5e
arms' joints, or the UMI's floating pose (x, y, z, yaw, pitch, roll). So one control law serves all: an
action in [-1, 1]^(n+1) moves each pose target by `action * max_delta` (clipped to the limits) and sets
the gripper opening absolutely (-1 closed, +1 open).
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import mujoco
import numpy as np

from glam_jax.sim.gripper import GripperNames


@dataclasses.dataclass(frozen=True)
class ArmSpec:
  kind: str                    # 'kinova', 'ur5e' or 'umi'
  prefix: str
  joints: tuple                # actuated pose dofs, in action order
  actuators: tuple
  lower: tuple                 # control limits of the pose dofs
  upper: tuple
  max_delta: tuple             # target change per control step at |action| = 1
  home: tuple
  gripper: GripperNames
  has_proprio: bool            # joint positions are observable (a hand-held UMI has none)

  @property
  def action_size(self) -> int:
    return len(self.joints) + 1


@dataclasses.dataclass(frozen=True)
class ArmIndex:
  """Addresses of one arm in a compiled model (numpy, static under jit)."""
  qpos: np.ndarray
  qvel: np.ndarray
  ctrl: np.ndarray
  gripper_qpos: int          # left finger (the driven one)
  finger_qpos: np.ndarray    # both fingers
  gripper_ctrl: int
  tcp_site: int
  pad_geoms: np.ndarray


def resolve(spec: ArmSpec, model: mujoco.MjModel) -> ArmIndex:
  def jid(name):
    return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, name)

  def aid(name):
    return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, name)

  joints = [jid(n) for n in spec.joints]
  return ArmIndex(
      qpos=np.array([model.jnt_qposadr[j] for j in joints]),
      qvel=np.array([model.jnt_dofadr[j] for j in joints]),
      ctrl=np.array([aid(n) for n in spec.actuators]),
      gripper_qpos=int(model.jnt_qposadr[jid(spec.gripper.left_joint)]),
      finger_qpos=np.array([model.jnt_qposadr[jid(spec.gripper.left_joint)],
                            model.jnt_qposadr[jid(spec.gripper.right_joint)]]),
      gripper_ctrl=aid(spec.gripper.actuator),
      tcp_site=mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, spec.gripper.tcp_site),
      pad_geoms=np.array([mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, n)
                          for n in spec.gripper.pad_geoms]),
  )


def gripper_target(command: jnp.ndarray, max_q: float) -> jnp.ndarray:
  """Finger target from a command in [-1, 1] (-1 closed, +1 fully open)."""
  return (jnp.clip(command, -1.0, 1.0) + 1.0) * 0.5 * max_q


def apply_action(spec: ArmSpec, idx: ArmIndex, ctrl: jnp.ndarray, action: jnp.ndarray) -> jnp.ndarray:
  """New control vector after one arm's action (its slice of the whole action)."""
  action = jnp.clip(action, -1.0, 1.0)
  n = len(spec.joints)
  target = ctrl[idx.ctrl] + action[:n] * jnp.asarray(spec.max_delta)
  target = jnp.clip(target, jnp.asarray(spec.lower), jnp.asarray(spec.upper))
  ctrl = ctrl.at[idx.ctrl].set(target)
  return ctrl.at[idx.gripper_ctrl].set(gripper_target(action[n], spec.gripper.max_q))


def home_ctrl(spec: ArmSpec, idx: ArmIndex, ctrl: jnp.ndarray, qpos_arm: jnp.ndarray) -> jnp.ndarray:
  """Control targets that hold the arm at `qpos_arm` with the gripper open."""
  ctrl = ctrl.at[idx.ctrl].set(qpos_arm)
  return ctrl.at[idx.gripper_ctrl].set(spec.gripper.max_q)
