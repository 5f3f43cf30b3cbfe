"""Task objects built from primitives MJX can collide and ray-cast: cubes, a bowl of boxes, a mustard bottle.

Free objects carry a free joint; the bowl is a mocap body (static, but placed per episode through
`mocap_pos`).
"""
from __future__ import annotations

import dataclasses

from glam_jax.sim.mjcf import FIXTURE_COLLISION, OBJECT_COLLISION, VISUAL, Part, vec

CUBE_HALF = 0.02
COLORS = {'red': (0.85, 0.15, 0.12, 1), 'green': (0.15, 0.7, 0.25, 1), 'blue': (0.15, 0.3, 0.85, 1)}

BOWL_INNER_HALF = 0.055     # half width of the bowl's floor
BOWL_WALL = (0.006, 0.03)   # half thickness, half height
BOTTLE_HALF = (0.03, 0.02, 0.075)   # body box half sizes: wide in x, narrow in y (tips over along y)


@dataclasses.dataclass(frozen=True)
class ObjectSpec:
  name: str
  mocap: bool          # placed through mocap_pos (static) instead of a free joint
  radius: float        # footprint radius used to keep placements apart (m)
  rest_z: float        # height of the body origin when resting on the table
  geoms: tuple         # geom names (the object's segmentation mask)


def cube(name: str, color: str) -> tuple[Part, ObjectSpec]:
  h = CUBE_HALF
  body = f"""
    <body name="{name}" pos="0 0 {h}">
      <freejoint name="{name}"/>
      <geom name="{name}" type="box" size="{h} {h} {h}" mass="0.08" rgba="{vec(COLORS[color])}"
            friction="1.2 0.01 0.001" {OBJECT_COLLISION}/>
    </body>"""
  return Part(body), ObjectSpec(name, False, 1.5 * h, h, (name,))


def bowl(name: str = 'bowl') -> tuple[Part, ObjectSpec]:
  """An open square bowl of boxes (MJX has no box-cylinder collision, so no round bowl)."""
  a = BOWL_INNER_HALF
  t, hh = BOWL_WALL
  rgba = vec(0.9, 0.88, 0.8, 1)
  walls = []
  for side, (sx, sy) in (('n', (0, 1)), ('s', (0, -1)), ('e', (1, 0)), ('w', (-1, 0))):
    size = (a + 2 * t, t, hh) if sy else (t, a + 2 * t, hh)
    walls.append((side, size, ((a + t) * sx, (a + t) * sy, hh)))
  # Objects rest on the table inside the walls; the floor is only drawn. Grippers pass through the
  # walls (fewer collision pairs); cubes do not.
  geoms = f'<geom name="{name}_floor" type="box" size="{a} {a} 0.002" pos="0 0 0.002" rgba="{rgba}" {VISUAL}/>'
  geoms += ''.join(
      f'<geom name="{name}_{w}" type="box" size="{vec(s)}" pos="{vec(p)}" rgba="{rgba}" {FIXTURE_COLLISION}/>'
      for w, s, p in walls)
  body = f'<body name="{name}" mocap="true" pos="0.5 0 0">{geoms}</body>'
  return Part(body), ObjectSpec(name, True, 1.2 * (a + 2 * t), 0.0, (f'{name}_floor',) + tuple(f'{name}_{w}' for w, _, _ in walls))


def bottle(name: str = 'bottle') -> tuple[Part, ObjectSpec]:
  """A mustard bottle: a tall narrow box with a capsule neck and cap; tall enough to topple."""
  x, y, z = BOTTLE_HALF
  body = f"""
    <body name="{name}" pos="0 0 {z}">
      <freejoint name="{name}"/>
      <geom name="{name}_body" type="box" size="{x} {y} {z}" mass="0.3" rgba="0.95 0.8 0.1 1"
            {OBJECT_COLLISION}/>
      <geom name="{name}_neck" type="capsule" fromto="0 0 {z} 0 0 {z + 0.03}" size="0.015" mass="0.02"
            rgba="0.95 0.8 0.1 1" {OBJECT_COLLISION}/>
      <geom name="{name}_cap" type="sphere" size="0.014" pos="0 0 {z + 0.04}" mass="0.01"
            rgba="0.85 0.15 0.1 1" contype="0" conaffinity="0"/>
    </body>"""
  return Part(body), ObjectSpec(name, False, 0.06, z, (f'{name}_body', f'{name}_neck', f'{name}_cap'))
