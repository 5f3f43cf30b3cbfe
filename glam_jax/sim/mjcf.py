"""Small helpers for writing MJCF as text, shared by the robot, object and scene builders.

Collision bit masks (MuJoCo collides two geoms when `contype_a & conaffinity_b` or the reverse):
  TABLE: the table plane; OBJECT: manipulated objects; GRIPPER: pads and palms; FIXTURE: static
  receptacles (the bowl's walls).
Objects touch the table, each other, fixtures and grippers; grippers touch objects and the table; fixtures
touch objects only; arm links touch nothing, so MJX only checks the pairs that matter.
"""
from __future__ import annotations

import dataclasses

import numpy as np

TABLE, OBJECT, GRIPPER, FIXTURE = 1, 2, 4, 8

VISUAL = 'contype="0" conaffinity="0"'
TABLE_COLLISION = f'contype="{TABLE}" conaffinity="0"'
OBJECT_COLLISION = f'contype="{OBJECT}" conaffinity="{TABLE | OBJECT | GRIPPER}"'
GRIPPER_COLLISION = f'contype="{GRIPPER}" conaffinity="{TABLE | OBJECT}"'
FIXTURE_COLLISION = f'contype="{FIXTURE}" conaffinity="{OBJECT}"'


def vec(*xs) -> str:
  """Formats numbers (or one sequence) as an MJCF attribute value."""
  if len(xs) == 1 and np.ndim(xs[0]) > 0:
    xs = tuple(np.asarray(xs[0]).ravel())
  return ' '.join(f'{float(x):.6g}' for x in xs)


def quat_axis_angle(axis, angle: float) -> np.ndarray:
  """Unit quaternion (w, x, y, z) of a rotation by `angle` about `axis`."""
  axis = np.asarray(axis, float) / np.linalg.norm(axis)
  return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * axis])


def look_at_xyaxes(pos, target, up=(0.0, 0.0, 1.0)) -> str:
  """MJCF `xyaxes` of a camera at `pos` looking at `target` (MuJoCo cameras look along -z)."""
  forward = np.asarray(target, float) - np.asarray(pos, float)
  forward /= np.linalg.norm(forward)
  right = np.cross(forward, up)
  right /= np.linalg.norm(right)
  cam_up = np.cross(right, forward)
  return vec(*right, *cam_up)


@dataclasses.dataclass(frozen=True)
class Part:
  """A piece of a scene: bodies for <worldbody> plus its <actuator>, <equality> and <contact> lines."""
  body: str
  actuators: str = ''
  equalities: str = ''
  contacts: str = ''

  def __add__(self, other: 'Part') -> 'Part':
    return Part(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))
