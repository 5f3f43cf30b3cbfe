"""The UMI gripper: a free-floating, hand-held parallel gripper (the auxiliary source, no action labels).

In simulation the hand that carries it is a chain of position-controlled pose dofs (x, y, z slides, then
yaw, pitch, roll hinges applied intrinsically) with gravity compensation; at zero angles it points down.
Its TCP is 0.2 m from the mount, max opening 0.09 m; a camera housing on the mount, as on the real device.
"""
from __future__ import annotations

import numpy as np

from glam_jax.sim import gripper as gripper_lib
from glam_jax.sim.arm import ArmSpec
from glam_jax.sim.mjcf import VISUAL, Part, vec

UMI = gripper_lib.GripperGeometry(
    stroke=0.09, palm_length=0.1, finger_length=0.12, palm_half=(0.025, 0.05),
    pad_half=(0.012, 0.005, 0.02), palm_mass=0.5, body_rgba=(0.3, 0.3, 0.32, 1),
    finger_rgba=(0.95, 0.75, 0.1, 1), pad_rgba=(0.95, 0.75, 0.1, 1), kp=600.0, kv=150.0,
    extra_visual=f'<geom type="box" size="0.03 0.035 0.025" pos="0.05 0 0.04" rgba="0.1 0.1 0.1 1" {VISUAL}/>')
_DOFS = (('x', 'slide', (1, 0, 0)), ('y', 'slide', (0, 1, 0)), ('z', 'slide', (0, 0, 1)),
         ('yaw', 'hinge', (0, 0, 1)), ('pitch', 'hinge', (0, 1, 0)), ('roll', 'hinge', (1, 0, 0)))
LOWER = (0.0, -0.6, 0.0, -2 * np.pi, -1.2, -1.2)
UPPER = (0.9, 0.6, 0.8, 2 * np.pi, 1.2, 1.2)
GAINS = ((3000, 300, 200),) * 3 + ((60, 6, 20),) * 3
READY = (0.45, 0.0, 0.30, 0.0, 0.0, 0.0)    # TCP at (0.45, 0, 0.30) pointing down
MAX_DELTA = (0.02, 0.02, 0.02, 0.1, 0.1, 0.1)  # m or rad per control step at |action| = 1


def build(prefix: str = '', pos=(0, 0, 0), yaw: float = 0.0,
          geometry: gripper_lib.GripperGeometry = UMI) -> tuple[Part, ArmSpec]:
  """The floating dofs are world coordinates; `pos` shifts the ready pose (two hands in the bimanual scene)."""
  del yaw
  p = prefix
  grip_part, grip_names = gripper_lib.build(p, geometry)
  joints = ''.join(
      f'<joint name="{p}{n}" type="{t}" axis="{vec(a)}" range="{lo} {hi}" armature="0.01" damping="1"/>\n'
      for (n, t, a), lo, hi in zip(_DOFS, LOWER, UPPER))
  # The mount body carries the pose dofs; its frame is the TCP-at-origin frame shifted up by the TCP
  # offset, so the slide coordinates are the TCP position when the gripper points down.
  body = f"""
    <body name="{p}hand" pos="{vec(0, 0, geometry.tcp_offset)}" gravcomp="1">
      {joints}
      <geom type="sphere" size="0.01" mass="0.3" rgba="0 0 0 0" {VISUAL}/>
      <body name="{p}mount" pos="0 0 0" quat="0 1 0 0" gravcomp="1">
        {grip_part.body}
      </body>
    </body>"""
  actuators = ''.join(
      f'<position name="{p}act_{n}" joint="{p}{n}" kp="{kp}" kv="{kv}" forcerange="{-f} {f}" '
      f'ctrlrange="{lo} {hi}"/>\n' for (n, _, _), (kp, kv, f), lo, hi in zip(_DOFS, GAINS, LOWER, UPPER))
  spec = ArmSpec(
      kind='umi', prefix=p, joints=tuple(f'{p}{n}' for n, _, _ in _DOFS),
      actuators=tuple(f'{p}act_{n}' for n, _, _ in _DOFS), lower=LOWER, upper=UPPER,
      max_delta=MAX_DELTA, home=(READY[0] + pos[0], READY[1] + pos[1] / 2) + READY[2:], gripper=grip_names, has_proprio=False)
  return Part(body, actuators) + Part('', grip_part.actuators, grip_part.equalities), spec
