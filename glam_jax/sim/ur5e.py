"""UR5e (6-DoF) with a Hand-E-class gripper: the third data source, a different arm with its own kinematics.

Body offsets are the public UR5e kinematics (d1 0.1625, a2 0.425, a3 0.3922, d4 0.1333, d5 0.0997,
d6 0.0996). Links are visual capsules that collide with nothing.
"""
from __future__ import annotations

import numpy as np

from glam_jax.sim import gripper as gripper_lib
from glam_jax.sim.arm import ArmSpec
from glam_jax.sim.mjcf import VISUAL, Part, quat_axis_angle, vec

_Y90 = quat_axis_angle((0, 1, 0), np.pi / 2)
# (name, offset in parent, body quat, joint axis, mass, radius, link segment in the body frame); radii
# strictly decrease so adjacent capsules never share an end sphere.
_CHAIN = (
    ('shoulder', (0, 0, 0.1625), (1, 0, 0, 0), (0, 0, 1), 3.7, 0.06, (0, 0.138, 0)),
    ('upper_arm', (0, 0.138, 0), _Y90, (0, 1, 0), 8.393, 0.055, (0, 0, 0.425)),
    ('forearm', (0, -0.131, 0.425), (1, 0, 0, 0), (0, 1, 0), 2.275, 0.047, (0, 0, 0.3922)),
    ('wrist_1', (0, 0, 0.3922), _Y90, (0, 1, 0), 1.219, 0.042, (0, 0.127, 0)),
    ('wrist_2', (0, 0.127, 0), (1, 0, 0, 0), (0, 0, 1), 1.219, 0.04, (0, 0, 0.0997)),
    ('wrist_3', (0, 0, 0.0997), (1, 0, 0, 0), (0, 1, 0), 0.1879, 0.038, (0, 0.0996, 0)),
)
FLANGE = ((0, 0.0996, 0), quat_axis_angle((1, 0, 0), -np.pi / 2))   # flange +z along wrist_3's +y
LIMITS = (2 * np.pi, 2 * np.pi, np.pi, 2 * np.pi, 2 * np.pi, 2 * np.pi)
GAINS = ((2000, 400, 150),) * 3 + ((500, 100, 28),) * 3
# Tabletop start: TCP at (0.45, 0, 0.30) pointing down, fingers opening along world y (solved by IK).
READY = (-0.3024, -1.7033, 1.8806, -1.7481, -1.5708, -1.8732)
MAX_DELTA = 0.05
HAND_E = gripper_lib.GripperGeometry(
    stroke=0.06, palm_length=0.075, finger_length=0.055, palm_half=(0.025, 0.04),
    pad_half=(0.01, 0.004, 0.015), palm_mass=0.9, body_rgba=(0.1, 0.1, 0.1, 1),
    finger_rgba=(0.6, 0.6, 0.62, 1), pad_rgba=(0.2, 0.6, 0.2, 1))
_COLORS = ((0.45, 0.6, 0.75, 1), (0.75, 0.77, 0.8, 1))


def build(prefix: str = '', pos=(0, 0, 0), yaw: float = 0.0,
          geometry: gripper_lib.GripperGeometry = HAND_E) -> tuple[Part, ArmSpec]:
  p = prefix
  grip_part, grip_names = gripper_lib.build(p, geometry)
  body, close = '', ''
  for i, (name, offset, quat, axis, mass, radius, seg) in enumerate(_CHAIN):
    body += f"""
      <body name="{p}{name}" pos="{vec(offset)}" quat="{vec(quat)}" gravcomp="1">
        <joint name="{p}joint_{i + 1}" axis="{vec(axis)}" range="{-LIMITS[i]} {LIMITS[i]}" armature="0.1"
               damping="1"/>
        <geom type="capsule" fromto="0 0 0 {vec(seg)}" size="{radius}" mass="{mass}"
              rgba="{vec(_COLORS[i % 2])}" {VISUAL}/>"""
    close += '\n      </body>'
  body += f"""
      <body name="{p}flange" pos="{vec(FLANGE[0])}" quat="{vec(FLANGE[1])}" gravcomp="1">
        {grip_part.body}
      </body>"""
  base = f"""
    <body name="{p}base" pos="{vec(pos)}" quat="{vec(quat_axis_angle((0, 0, 1), yaw))}">
      <geom type="capsule" fromto="0 0 0.03 0 0 0.12" size="0.065" rgba="{vec(_COLORS[1])}" {VISUAL}/>
      {body}{close}
    </body>"""
  actuators = ''.join(
      f'<position name="{p}act_{i + 1}" joint="{p}joint_{i + 1}" kp="{kp}" kv="{kv}" '
      f'forcerange="{-f} {f}" ctrlrange="{-LIMITS[i]} {LIMITS[i]}"/>\n' for i, (kp, kv, f) in enumerate(GAINS))
  spec = ArmSpec(
      kind='ur5e', prefix=p,
      joints=tuple(f'{p}joint_{i + 1}' for i in range(6)),
      actuators=tuple(f'{p}act_{i + 1}' for i in range(6)),
      lower=tuple(-x for x in LIMITS), upper=LIMITS, max_delta=(MAX_DELTA,) * 6, home=READY,
      gripper=grip_names, has_proprio=True)
  return Part(base, actuators) + Part('', grip_part.actuators, grip_part.equalities), spec
