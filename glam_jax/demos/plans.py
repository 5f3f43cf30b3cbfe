"""Scripted plans: per task, a fixed sequence of phases with TCP waypoints computed from the object poses.

A phase gives every arm a waypoint (position, yaw of a downward-pointing gripper, gripper command) plus its
timing (setpoint speed, minimum and maximum steps, arrival tolerance). Plans are built once per episode
from the poses at reset, with randomised heights, offsets, yaw noise and speed so that demonstrations
differ. The number of phases is fixed per task, so plans are arrays of static shape under jit and vmap.

Grasps are top-down with the fingers closing across a cube face; of the two face pairs the plan picks the
one whose finger axis points away from the nearest other object, so open fingers do not hit neighbours.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct

from glam_jax.sim import objects

OPEN, CLOSED = 1.0, -1.0
FAST, SLOW = 0.02, 0.008      # setpoint speed (m per control step) at speed scale 1
GRASP_DZ = 0.006              # TCP above the cube centre when grasping (pads clear the table)
CARRY_Z = (0.15, 0.19)        # TCP height range while carrying
PUSH_Z = 0.11                 # TCP height when pushing the bottle (above its centre of mass)


@struct.dataclass
class Plan:
  """Arrays over phases K and arms A."""
  pos: jnp.ndarray        # (K, A, 3)
  yaw: jnp.ndarray        # (K, A)
  grip: jnp.ndarray       # (K, A)
  speed: jnp.ndarray      # (K,)
  min_steps: jnp.ndarray  # (K,)
  max_steps: jnp.ndarray  # (K,)
  tol: jnp.ndarray        # (K,)

  @property
  def num_phases(self) -> int:
    return self.pos.shape[0]


@dataclasses.dataclass
class Phase:
  targets: list           # per arm: (pos, yaw, grip) or None to hold the arm's previous waypoint
  speed: float | jnp.ndarray
  min_steps: int | jnp.ndarray = 1
  max_steps: int | jnp.ndarray = 60
  tol: float = 0.01


def wrap(angle, period):
  """`angle` folded into [-period/2, period/2)."""
  return (angle + period / 2) % period - period / 2


def _object_yaw(rot):
  return jnp.arctan2(rot[1, 0], rot[0, 0])


def _grasp_yaw(rot, pos, others):
  """Gripper yaw for a top-down grasp of a cube with rotation `rot` at `pos`, near 0 (the ready yaw)."""
  base = wrap(_object_yaw(rot), jnp.pi / 2)
  alt = wrap(base + jnp.pi / 2, jnp.pi)
  if not others:
    return base
  d = jnp.stack(others)[:, :2] - pos[:2]
  near = d[jnp.argmin(jnp.linalg.norm(d, axis=1))]
  near = near / (jnp.linalg.norm(near) + 1e-9)
  finger_axis = lambda y: jnp.stack([-jnp.sin(y), jnp.cos(y)])
  return jnp.where(jnp.abs(finger_axis(base) @ near) <= jnp.abs(finger_axis(alt) @ near), base, alt)


@dataclasses.dataclass(frozen=True)
class Noise:
  """Per-episode randomisation of a plan."""
  speed: jnp.ndarray       # scale of all setpoint speeds
  approach: jnp.ndarray    # height above the grasp at which the descent starts
  carry: jnp.ndarray       # TCP height while carrying
  offset: jnp.ndarray      # (2,) xy grasp offset
  yaw: jnp.ndarray         # yaw error
  hold: jnp.ndarray        # steps to wait while the fingers close or open

  @staticmethod
  def sample(rng: jax.Array) -> 'Noise':
    k = jax.random.split(rng, 6)
    return Noise(
        speed=jax.random.uniform(k[0], (), minval=0.75, maxval=1.25),
        approach=jax.random.uniform(k[1], (), minval=0.06, maxval=0.11),
        carry=jax.random.uniform(k[2], (), minval=CARRY_Z[0], maxval=CARRY_Z[1]),
        offset=jnp.clip(0.003 * jax.random.normal(k[3], (2,)), -0.006, 0.006),
        yaw=jax.random.uniform(k[4], (), minval=-0.08, maxval=0.08),
        hold=jax.random.randint(k[5], (), 5, 9))


def _up(p, dz):
  return p + jnp.array([0.0, 0.0, dz])


def pick(pos, rot, others, n: Noise):
  """Phases that grasp the cube at `pos` and lift it to the carry height (gripper stays closed)."""
  yaw = _grasp_yaw(rot, pos, others) + n.yaw
  grasp = pos.at[:2].add(n.offset).at[2].add(GRASP_DZ)
  return [
      ((_up(grasp, n.approach), yaw, OPEN), FAST * n.speed, 2, 60, 0.01),
      ((grasp, yaw, OPEN), SLOW * n.speed, 2, 40, 0.006),
      ((grasp, yaw, CLOSED), 0.0, n.hold, n.hold, 1.0),
      ((grasp.at[2].set(n.carry), yaw, CLOSED), SLOW * n.speed * 1.5, 1, 40, 0.015),
  ]


def place(pos, yaw, n: Noise, drop: float = 0.0):
  """Phases that carry a held cube above `pos`, lower it there (`drop` m above), release and retreat."""
  at = _up(pos, GRASP_DZ + drop)
  return [
      ((at.at[2].set(n.carry), yaw, CLOSED), FAST * n.speed, 2, 60, 0.01),
      ((at, yaw, CLOSED), SLOW * n.speed, 2, 40, 0.006),
      ((at, yaw, OPEN), 0.0, n.hold, n.hold, 1.0),
      ((_up(at, 0.08), yaw, OPEN), SLOW * n.speed * 1.5, 1, 30, 0.02),
  ]


def _phases(rows):
  return [Phase([t], s, lo, hi, tol) for t, s, lo, hi, tol in rows]


def _hold(steps=4):
  return Phase([None], 0.0, steps, steps, 1.0)


def lift_plan(p, n):
  return _phases(pick(p.pos['cube_red'], p.rot['cube_red'], [], n)) + [_hold()]


def pick_place_plan(p, n):
  bowl = p.pos['bowl']
  rows = pick(p.pos['cube_red'], p.rot['cube_red'], [bowl], n)
  # Release a little above the floor inside the walls; the cube drops the rest of the way.
  rows += place(bowl.at[2].set(objects.CUBE_HALF), rows[-1][0][1], n, drop=0.03)
  return _phases(rows) + [_hold()]


def stack_two_plan(p, n):
  green = p.pos['cube_green']
  rows = pick(p.pos['cube_red'], p.rot['cube_red'], [green], n)
  yaw = rows[-1][0][1] + wrap(_object_yaw(p.rot['cube_green']) - _object_yaw(p.rot['cube_red']), jnp.pi / 2)
  rows += place(_up(green, 2 * objects.CUBE_HALF), yaw, n, drop=0.004)
  return _phases(rows) + [_hold()]


def knock_down_plan(p, n):
  """Push the bottle over along its thin axis, pushing away from the robot, at a height above its centre."""
  pos, rot = p.pos['bottle'], p.rot['bottle']
  d = rot[:2, 1] / jnp.linalg.norm(rot[:2, 1])
  d = jnp.where(d @ pos[:2] >= 0, d, -d)       # away from the base at the origin
  start = jnp.concatenate([pos[:2] - (0.08 + 0.02 * n.speed) * d, jnp.array([PUSH_Z])])
  end = jnp.concatenate([pos[:2] + 0.12 * d, jnp.array([PUSH_Z])])
  yaw = wrap(jnp.arctan2(d[1], d[0]) + jnp.pi / 2, jnp.pi) + n.yaw    # pads side by side across the push
  rows = [
      ((_up(start, 0.12), yaw, CLOSED), FAST * n.speed, 2, 60, 0.01),
      ((start, yaw, CLOSED), SLOW * n.speed * 1.5, 2, 40, 0.008),
      ((end, yaw, CLOSED), SLOW * n.speed, 2, 60, 0.01),
      ((_up(end, 0.1), yaw, CLOSED), FAST * n.speed, 1, 30, 0.02),
  ]
  return _phases(rows) + [_hold(6)]


def stack_three_plan(p, n):
  """Two arms: both pick at once (left: green, right: red); left stacks green on blue and retreats,
  then right stacks red on green."""
  blue, green, red = (p.pos[c] for c in ('cube_blue', 'cube_green', 'cube_red'))
  pick_l = pick(green, p.rot['cube_green'], [blue, red], n)
  pick_r = pick(red, p.rot['cube_red'], [blue, green], n)
  (lifted, yaw_r, grip), *timing = pick_r[-1]
  pick_r[-1] = ((_up(lifted, 0.07), yaw_r, grip), *timing)   # held above the other arm's carry path
  phases = [Phase([a[0], b[0]], a[1], jnp.maximum(a[2], b[2]), jnp.maximum(a[3], b[3]), a[4])
            for a, b in zip(pick_l, pick_r)]
  blue_yaw = _object_yaw(p.rot['cube_blue'])
  for arm, rows, level in ((0, pick_l, 2), (1, pick_r, 4)):
    yaw = rows[-1][0][1] + wrap(blue_yaw - _object_yaw(p.rot[('cube_green', 'cube_red')[arm]]), jnp.pi / 2)
    for t, s, lo, hi, tol in place(_up(blue, level * objects.CUBE_HALF), yaw, n, drop=0.004):
      targets = [None, None]
      targets[arm] = t
      phases.append(Phase(targets, s, lo, hi, tol))
    if arm == 0:   # clear the stack for the other arm
      up = _up(blue, 0.25).at[1].add(0.12)
      phases.append(Phase([(up, yaw, OPEN), None], FAST * n.speed, 1, 40, 0.03))
  return phases + [Phase([None, None], 0.0, 4, 4, 1.0)]


PLANS = {'lift': lift_plan, 'pick_place': pick_place_plan, 'knock_down': knock_down_plan,
         'stack_two': stack_two_plan, 'stack_three': stack_three_plan}


def build_plan(task: str, poses, start_pos, rng: jax.Array) -> Plan:
  """The plan of one episode. `start_pos` (A, 3): TCP positions at reset (what "hold" means before the
  first waypoint of an arm)."""
  phases = PLANS[task](poses, Noise.sample(rng))
  num_arms = start_pos.shape[0]
  prev = [(start_pos[a], jnp.zeros(()), jnp.asarray(OPEN)) for a in range(num_arms)]
  pos, yaw, grip = [], [], []
  for ph in phases:
    if len(ph.targets) != num_arms:
      raise ValueError(f'{task} plan has {len(ph.targets)} arms per phase; the scene has {num_arms}')
    prev = [prev[a] if t is None else tuple(jnp.asarray(x, jnp.float32) for x in t)
            for a, t in enumerate(ph.targets)]
    pos.append(jnp.stack([p for p, _, _ in prev]))
    yaw.append(jnp.stack([y for _, y, _ in prev]))
    grip.append(jnp.stack([g for _, _, g in prev]))
  f = lambda xs: jnp.stack([jnp.asarray(x, jnp.float32) for x in xs])
  i = lambda xs: jnp.stack([jnp.asarray(x, jnp.int32) for x in xs])
  return Plan(pos=jnp.stack(pos), yaw=jnp.stack(yaw), grip=jnp.stack(grip),
              speed=f([ph.speed for ph in phases]), min_steps=i([ph.min_steps for ph in phases]),
              max_steps=i([ph.max_steps for ph in phases]), tol=f([ph.tol for ph in phases]))
