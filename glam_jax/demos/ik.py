"""Differential inverse kinematics in JAX on the MJX model: joint targets that move a TCP toward a pose.

One damped-least-squares step on the TCP Jacobian (`mjx.jac`) serves every embodiment, because every arm is
a chain of pose dofs (the Kinova's 7 joints, the UR5e's 6, the UMI's x, y, z, yaw, pitch, roll). Redundant
arms also pull toward a rest posture in the Jacobian's null space, so the elbow does not drift.
"""
from __future__ import annotations

import jax.numpy as jnp
from glam_jax import quiet  # noqa: F401  (before MJX and Grain: drops two notices)
from mujoco import mjx

from glam_jax.sim.arm import ArmIndex


def down_rotation(yaw: jnp.ndarray) -> jnp.ndarray:
  """TCP rotation pointing straight down, fingers opening along (-sin yaw, cos yaw, 0) up to sign.

  Columns are the TCP axes in world coordinates; yaw 0 is every embodiment's ready orientation.
  """
  c, s = jnp.cos(yaw), jnp.sin(yaw)
  z = jnp.zeros_like(c)
  return jnp.stack([jnp.stack([c, s, z]), jnp.stack([s, -c, z]), jnp.stack([z, z, z - 1])], axis=1)


def rotation_error(rot: jnp.ndarray, target: jnp.ndarray) -> jnp.ndarray:
  """World-frame rotation vector that turns `rot` toward `target` (exact direction, small-angle magnitude)."""
  return 0.5 * jnp.sum(jnp.cross(rot.T, target.T), axis=0)


def tcp_yaw(rot: jnp.ndarray) -> jnp.ndarray:
  """Yaw of a (roughly) downward TCP in the convention of `down_rotation`."""
  return jnp.arctan2(rot[1, 0], rot[0, 0])


def ik_step(model: mjx.Model, data: mjx.Data, idx: ArmIndex, body_id: int, pos_target: jnp.ndarray,
            rot_target: jnp.ndarray, rest: jnp.ndarray | None = None, damping: float = 0.05,
            rot_weight: float = 0.3, null_gain: float = 0.1) -> jnp.ndarray:
  """Joint displacement (one damped least-squares step) that moves the TCP toward the target pose.

  `rot_weight` (m/rad) puts orientation errors on the scale of position errors.
  """
  pos = data.site_xpos[idx.tcp_site]
  rot = data.site_xmat[idx.tcp_site].reshape(3, 3)
  jacp, jacr = mjx.jac(model, data, pos, body_id)
  jac = jnp.concatenate([jacp[idx.qvel].T, rot_weight * jacr[idx.qvel].T])        # (6, n)
  err = jnp.concatenate([pos_target - pos, rot_weight * rotation_error(rot, rot_target)])
  jjt = jac @ jac.T + damping ** 2 * jnp.eye(6)
  pinv = jac.T @ jnp.linalg.solve(jjt, jnp.eye(6))                                # (n, 6)
  dq = pinv @ err
  if rest is not None and jac.shape[1] > 6:
    q = data.qpos[idx.qpos]
    dq = dq + (jnp.eye(jac.shape[1]) - pinv @ jac) @ (null_gain * (rest - q))
  return dq
