"""Assembles a task's scene for an embodiment: table, lights, the two cameras, the arm(s) and the objects.

Physics options follow MuJoCo Playground's manipulation settings (implicitfast, pyramidal cones, few solver
iterations, Euler damping off), which DESIGN.md §3 measured as the fast ones for MJX.
"""
from __future__ import annotations

import dataclasses

import mujoco

from glam_jax.sim import kinova, tasks, umi, ur5e

# What the simulated scene is beyond the settings a dataset records: datasets and scripted-success rows of
# another version are not reused. 1: the grippers' servo force was limited (±40 N; UMI ±30 N), which C MuJoCo
# and MJX integrate differently at grasps (docs/results/physics_agreement); 2: no limit.
SCENE_VERSION = 2
from glam_jax.sim.mjcf import TABLE_COLLISION, Part, look_at_xyaxes, vec

ROBOTS = {'kinova': kinova.build, 'umi': umi.build, 'ur5e': ur5e.build}
EMBODIMENTS = tuple(ROBOTS)
BIMANUAL_BASES = (('left/', (0.0, 0.3, 0.0)), ('right/', (0.0, -0.3, 0.0)))

# Fixed cameras: (position, look-at point, up vector of the image, vertical field of view in degrees).
# `overhead` looks down at ~60 degrees from above the far side of the table: straight down, a top-down
# gripper's own wrist hides what it grasps; from there the object stays in view between the fingers.
CAMERAS = {
    'overhead': ((0.95, 0.0, 0.95), (0.45, 0.0, 0.03), (0.0, 0.0, 1.0), 38.0),
    'front': ((1.05, 0.0, 0.5), (0.45, 0.0, 0.04), (0.0, 0.0, 1.0), 45.0),
}
TABLE_HALF = (0.8, 0.8)


@dataclasses.dataclass(frozen=True)
class PhysicsOptions:
  sim_dt: float = 0.005
  iterations: int = 4
  ls_iterations: int = 8
  # MJX collides every candidate pair of a geom-type group each substep; above this many pairs in a group
  # it first keeps the pairs whose bounding spheres are nearest (MJX's `max_geom_pairs`; planes exempt;
  # native MuJoCo ignores it). Only the bimanual scene has more box-box pairs (21: six gripper geoms x three
  # cubes + cube-cube); in its scripted demonstrations at most 10 pairs come within 2 cm of touching, by
  # bounding spheres, and 12 makes its physics 1.4x faster. 0: no cap.
  max_geom_pairs: int = 12


@dataclasses.dataclass(frozen=True)
class Scene:
  task: tasks.Task
  embodiment: str
  xml: str
  arms: tuple                # ArmSpec per arm
  objects: tuple             # ObjectSpec per object

  def compile(self) -> mujoco.MjModel:
    return mujoco.MjModel.from_xml_string(self.xml)


def check_embodiment(embodiment: str) -> None:
  if embodiment not in ROBOTS:
    raise ValueError(f'unknown embodiment {embodiment!r}; valid embodiments: {", ".join(EMBODIMENTS)}')


def build_scene(task_name: str, embodiment: str, physics: PhysicsOptions = PhysicsOptions()) -> Scene:
  task = tasks.get_task(task_name)
  check_embodiment(embodiment)
  bases = BIMANUAL_BASES if task.bimanual else (('', (0.0, 0.0, 0.0)),)
  part, arms = Part(''), []
  for prefix, pos in bases:
    arm_part, spec = ROBOTS[embodiment](prefix, pos)
    part, arms = part + arm_part, arms + [spec]
  objs = []
  for make in task.object_builders:
    obj_part, spec = make()
    part, objs = part + obj_part, objs + [spec]
  cameras = ''.join(
      f'<camera name="{name}" pos="{vec(pos)}" xyaxes="{look_at_xyaxes(pos, at, up)}" fovy="{fovy}"/>\n'
      for name, (pos, at, up, fovy) in CAMERAS.items())
  custom = (f'<custom><numeric name="max_geom_pairs" data="{physics.max_geom_pairs}"/></custom>'
            if physics.max_geom_pairs > 0 else '')
  xml = f"""
<mujoco model="{task_name}_{embodiment}">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="{physics.sim_dt}" integrator="implicitfast" cone="pyramidal" iterations="{physics.iterations}"
          ls_iterations="{physics.ls_iterations}">
    <flag eulerdamp="disable"/>
  </option>
  <visual><global offwidth="640" offheight="480"/></visual>
  {custom}
  <asset>
    <material name="table" rgba="0.62 0.5 0.38 1"/>
  </asset>
  <worldbody>
    <light name="key" pos="0.6 0.4 1.5" dir="-0.2 -0.3 -1" directional="true"/>
    <geom name="table" type="plane" size="{vec(*TABLE_HALF, 0.05)}" material="table" friction="1 0.01 0.001"
          {TABLE_COLLISION}/>
    {cameras}
    {part.body}
  </worldbody>
  <actuator>
    {part.actuators}
  </actuator>
  <equality>
    {part.equalities}
  </equality>
</mujoco>"""
  return Scene(task, embodiment, xml, tuple(arms), tuple(objs))
