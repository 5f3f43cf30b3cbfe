"""Kinova Gen3 (7-DoF) with a 2F-85-class gripper: the target embodiment.

Kinematics, limits, masses and actuator gains are the published ones (DESIGN.md §3). Each link is drawn as a
capsule from its joint to the next; links collide with nothing (only the gripper touches the world).
"""
from __future__ import annotations

import numpy as np

from glam_jax.sim import gripper as gripper_lib
from glam_jax.sim.arm import ArmSpec
from glam_jax.sim.mjcf import VISUAL, Part, quat_axis_angle, vec

# (name, offset of this body in its parent, rotation about x relative to the parent, mass, link radius).
# Radii strictly decrease so that adjacent capsules never share an end sphere (ties speckle the image).
_CHAIN = (
    ('shoulder', (0, 0, 0.15643), np.pi, 1.38, 0.052),
    ('half_arm_1', (0, 0.005375, -0.12838), np.pi / 2, 1.16, 0.05),
    ('half_arm_2', (0, -0.21038, -0.006375), -np.pi / 2, 1.16, 0.047),
    ('forearm', (0, 0.006375, -0.21038), np.pi / 2, 0.93, 0.045),
    ('wrist_1', (0, -0.20843, -0.006375), -np.pi / 2, 0.68, 0.042),
    ('wrist_2', (0, 0.00017505, -0.10593), np.pi / 2, 0.68, 0.04),
    ('bracelet', (0, -0.10593, -0.00017505), -np.pi / 2, 0.5, 0.038),
)
FLANGE_OFFSET = (0, 0, -0.061525)
LIMITS = (None, 2.24, None, 2.57, None, 2.09, None)   # None: continuous joint
CONTINUOUS_RANGE = 2 * np.pi                            # control clip for continuous joints
GAINS = ((2000, 100, 105),) * 4 + ((500, 50, 52),) * 3  # kp, kv, force limit
HOME = (0.0, 0.2618, np.pi, -2.2689, 0.0, 0.9599, np.pi / 2)   # Kinova's home: gripper points forward
# Tabletop start: TCP at (0.45, 0, 0.30) pointing down, fingers opening along world y (solved by IK).
READY = (-0.2161, 0.3639, 3.4566, -1.5061, -0.115, -1.2899, 0.1115)
MAX_DELTA = 0.05                                        # rad per control step at |action| = 1
_COLORS = ((0.55, 0.56, 0.6, 1), (0.2, 0.2, 0.22, 1))


def build(prefix: str = '', pos=(0, 0, 0), yaw: float = 0.0,
          geometry: gripper_lib.GripperGeometry = gripper_lib.ROBOTIQ_2F85) -> tuple[Part, ArmSpec]:
  p = prefix
  grip_part, grip_names = gripper_lib.build(p, geometry)
  close = ''
  body = ''
  for i, (name, offset, rot_x, mass, radius) in enumerate(_CHAIN):
    nxt = _CHAIN[i + 1][1] if i + 1 < len(_CHAIN) else FLANGE_OFFSET
    limit = LIMITS[i]
    rng = f'range="{-limit} {limit}"' if limit else 'limited="false"'
    body += f"""
      <body name="{p}{name}" pos="{vec(offset)}" quat="{vec(quat_axis_angle((1, 0, 0), rot_x))}"
            gravcomp="1">
        <joint name="{p}joint_{i + 1}" axis="0 0 1" {rng} armature="0.1" damping="0.5"/>
        <geom type="capsule" fromto="0 0 0 {vec(nxt)}" size="{radius}" mass="{mass}"
              rgba="{vec(_COLORS[i % 2])}" {VISUAL}/>"""
    close += '\n      </body>'
  body += f"""
      <body name="{p}flange" pos="{vec(FLANGE_OFFSET)}" quat="0 1 0 0" gravcomp="1">
        {grip_part.body}
      </body>"""
  base = f"""
    <body name="{p}base" pos="{vec(pos)}" quat="{vec(quat_axis_angle((0, 0, 1), yaw))}">
      <geom type="box" size="0.06 0.06 0.01" pos="0 0 0.01" rgba="0.2 0.2 0.22 1" {VISUAL}/>
      <geom type="capsule" fromto="0 0 0.02 0 0 0.15" size="0.05" rgba="{vec(_COLORS[0])}" {VISUAL}/>
      {body}{close}
    </body>"""
  actuators = ''.join(
      f'<position name="{p}act_{i + 1}" joint="{p}joint_{i + 1}" kp="{kp}" kv="{kv}" '
      f'forcerange="{-f} {f}"/>\n' for i, (kp, kv, f) in enumerate(GAINS))
  lower = tuple(-(lim or CONTINUOUS_RANGE) for lim in LIMITS)
  spec = ArmSpec(
      kind='kinova', prefix=p,
      joints=tuple(f'{p}joint_{i + 1}' for i in range(7)),
      actuators=tuple(f'{p}act_{i + 1}' for i in range(7)),
      lower=lower, upper=tuple(-x for x in lower), max_delta=(MAX_DELTA,) * 7, home=READY,
      gripper=grip_names, has_proprio=True)
  return Part(base, actuators) + Part('', grip_part.actuators, grip_part.equalities), spec
