"""A parallel-jaw gripper builder, shared by every embodiment (2F-85 class, Hand-E class, UMI).

The gripper hangs off a mount frame whose +z points away from the wrist. Two fingers slide along ±y,
coupled by an equality constraint and driven by one position actuator on the left finger; finger
displacement q = 0 means the pads touch, so the opening between the pads is 2q. The TCP site sits between
the pad centres.

Every gripper carries the same wide-angle wrist camera (`wrist`, or `wrist_left` / `wrist_right` on a
bimanual scene), where the UMI's camera housing is: beside the mount, looking past the fingers. It is the
view every source can share (a real UMI recording has only this one).
"""
from __future__ import annotations

import dataclasses

from glam_jax.sim.mjcf import GRIPPER_COLLISION, VISUAL, Part, look_at_xyaxes, vec

WRIST_CAMERA_POS = (0.08, 0.0, 0.066)     # mount frame: at the outer edge of the UMI camera housing's face
WRIST_CAMERA_AT = (0.0, 0.0, 0.3)         # looks past the finger tips
WRIST_CAMERA_FOVY = 100.0                 # degrees: wide-angle


def wrist_camera(prefix: str = '') -> str:
  """The wrist camera's name for an arm's prefix ('' or 'left/'): no slash, since views name image keys."""
  return 'wrist' + (f'_{prefix.strip("/")}' if prefix else '')


@dataclasses.dataclass(frozen=True)
class GripperGeometry:
  stroke: float             # maximum opening between the pads (m)
  palm_length: float        # mount to finger base along +z (m)
  finger_length: float      # finger base to finger tip (m)
  palm_half: tuple = (0.03, 0.045)
  pad_half: tuple = (0.011, 0.004, 0.018)   # x, y (thickness), z (height)
  palm_mass: float = 0.8
  finger_mass: float = 0.05
  kp: float = 1000.0
  kv: float = 200.0         # finger damping: closes at ~0.2 m/s (force / kv), like a real gripper, so pads
                            # meet an object gently instead of tunnelling into it
  # No force limit on the servo: its spring force is at most kp x stroke / 2 anyway (42.5 N on the Kinova), and C
  # MuJoCo and MJX integrate a clamped servo force differently (implicitfast adds the servo's damping to the
  # mass matrix in MJX whatever the clamp), so grasps parted ways (docs/results/physics_agreement).
  body_rgba: tuple = (0.15, 0.15, 0.17, 1)
  finger_rgba: tuple = (0.25, 0.25, 0.28, 1)
  pad_rgba: tuple = (0.85, 0.45, 0.1, 1)
  extra_visual: str = ''    # decorations in the mount frame (e.g. the UMI camera)

  @property
  def tcp_offset(self) -> float:
    return self.palm_length + self.finger_length - self.pad_half[2]


ROBOTIQ_2F85 = GripperGeometry(stroke=0.085, palm_length=0.06, finger_length=0.08)


@dataclasses.dataclass(frozen=True)
class GripperNames:
  left_joint: str
  right_joint: str
  actuator: str
  tcp_site: str
  pad_geoms: tuple
  max_q: float


def build(prefix: str, g: GripperGeometry) -> tuple[Part, GripperNames]:
  """MJCF for one gripper, to be placed inside its mount body."""
  p = prefix
  px, py, pz = g.pad_half
  tip = g.palm_length + g.finger_length
  max_q = g.stroke / 2
  finger_half = (0.011, 0.005, g.finger_length / 2)

  def finger(side: str, sign: int) -> str:
    return f"""
      <body name="{p}{side}_finger" pos="0 0 0" gravcomp="1">
        <joint name="{p}{side}_finger" type="slide" axis="0 {sign} 0" range="0 {max_q}" armature="0.005"
               damping="0.5"/>
        <geom name="{p}{side}_finger" type="box" size="{vec(finger_half)}" mass="{g.finger_mass}"
              pos="{vec(0, sign * (2 * py + finger_half[1]), g.palm_length + g.finger_length / 2)}"
              rgba="{vec(g.finger_rgba)}" {VISUAL}/>
        <geom name="{p}{side}_pad" type="box" size="{vec(px, py, pz)}" mass="0.01"
              pos="{vec(0, sign * py, tip - pz)}" rgba="{vec(g.pad_rgba)}" friction="1.5 0.01 0.001" solref="0.01 1"
              {GRIPPER_COLLISION}/>
      </body>"""

  body = f"""
    <geom name="{p}palm" type="box" size="{vec(g.palm_half[0], g.palm_half[1], g.palm_length / 2)}"
          pos="{vec(0, 0, g.palm_length / 2)}" mass="{g.palm_mass}" rgba="{vec(g.body_rgba)}"
          {GRIPPER_COLLISION}/>
    {g.extra_visual}
    <site name="{p}tcp" pos="{vec(0, 0, g.tcp_offset)}" size="0.005" rgba="1 0 0 0"/>
    <camera name="{wrist_camera(p)}" pos="{vec(WRIST_CAMERA_POS)}" fovy="{WRIST_CAMERA_FOVY}"
            xyaxes="{look_at_xyaxes(WRIST_CAMERA_POS, WRIST_CAMERA_AT, (1.0, 0.0, 0.0))}"/>
    {finger('left', 1)}
    {finger('right', -1)}"""
  actuators = (f'<position name="{p}gripper" joint="{p}left_finger" kp="{g.kp}" kv="{g.kv}" '
               f'ctrlrange="0 {max_q}"/>\n')
  equalities = (f'<joint joint1="{p}right_finger" joint2="{p}left_finger" polycoef="0 1 0 0 0" '
                f'solref="0.005 1"/>\n')
  names = GripperNames(f'{p}left_finger', f'{p}right_finger', f'{p}gripper', f'{p}tcp',
                       (f'{p}left_pad', f'{p}right_pad', f'{p}palm'), max_q)
  return Part(body, actuators, equalities), names
