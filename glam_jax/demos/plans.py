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

from glam_jax.demos.heterogeneity import Motion
from glam_jax.sim import objects, scene

OPEN, CLOSED = 1.0, -1.0
FAST, SLOW = 0.02, 0.008      # setpoint speed (m per control step) at speed scale 1
GRASP_DZ = 0.006              # TCP above the cube centre when grasping (pads clear the table)
CARRY_Z = (0.15, 0.19)        # TCP height range while carrying
PUSH_Z = 0.11                 # TCP height when pushing the bottle (above its centre of mass)
# stack_three (two arms):
REACH = 0.70                  # horizontal distance from an arm's base (m) within which it places precisely
                              # (the Kinova reaches ~0.74 m at table height, and slows to a crawl near that)
PATH_CLEAR = 0.12             # a held cube this close (m, in the plane) to the other arm's carry path is in
                              # the way of its palm
ASIDE = 0.12                  # how far the first arm moves off the stack for the second


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
  tilt: jnp.ndarray       # (2,) gripper tilt about the world x and y axes for the whole episode

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
  tilt: jnp.ndarray        # (2,) gripper tilt about x and y

  @staticmethod
  def sample(rng: jax.Array, motion: Motion = Motion()) -> 'Noise':
    """Ranges from `motion` (heterogeneity.Motion); its defaults are the scripted arm's."""
    k = jax.random.split(rng, 6)
    tilt = jnp.zeros(2)
    if motion.tilt > 0:        # its own key: the other draws stay what they were without tilt
      tilt = jax.random.uniform(jax.random.fold_in(rng, 6), (2,), minval=-motion.tilt, maxval=motion.tilt)
    return Noise(
        speed=jax.random.uniform(k[0], (), minval=0.75, maxval=1.25),
        approach=jax.random.uniform(k[1], (), minval=motion.approach[0], maxval=motion.approach[1]),
        carry=jax.random.uniform(k[2], (), minval=CARRY_Z[0], maxval=CARRY_Z[1]),
        offset=jnp.clip(motion.grasp_offset * jax.random.normal(k[3], (2,)), -2 * motion.grasp_offset,
                        2 * motion.grasp_offset),
        yaw=jax.random.uniform(k[4], (), minval=-motion.yaw_noise, maxval=motion.yaw_noise),
        hold=jax.random.randint(k[5], (), 5, 9), tilt=tilt)


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


def _reach(c, base):
  return jnp.linalg.norm(c[:2] - base[:2])


def _near_carry_path(p):
  """Whether red lies within `PATH_CLEAR` of the straight carry path from green to blue (in the plane)."""
  g, b, r = (p.pos[c][:2] for c in ('cube_green', 'cube_blue', 'cube_red'))
  along = jnp.clip(jnp.dot(r - g, b - g) / jnp.maximum(jnp.dot(b - g, b - g), 1e-9), 0.0, 1.0)
  return jnp.linalg.norm(r - (g + along * (b - g))) < PATH_CLEAR


def _aside(p, first_base, z):
  """Where the first arm waits off the stack: of four points around blue, the one farthest from red that
  it reaches well."""
  blue, red = p.pos['cube_blue'], p.pos['cube_red']
  cand = blue[:2] + ASIDE * jnp.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
  reach = jnp.linalg.norm(cand - first_base[:2], axis=1)
  score = jnp.linalg.norm(cand - red[:2], axis=1) - 10.0 * ((reach > REACH) | (reach < 0.3))
  return jnp.concatenate([cand[jnp.argmax(score)], jnp.reshape(z, (1,))])


def _relaxed(rows, last):
  """`pick` or `place` rows with looser arrival tolerances where precision does not matter: 0.02 for the
  first move (approach, carry) and `last` for the last (lift, retreat); the descents that grasp and place
  keep theirs. Saves settling time, most on slow arms."""
  (t0, s0, lo0, hi0, tol0), *mid, (t1, s1, lo1, hi1, tol1) = rows
  return [(t0, s0, lo0, hi0, max(tol0, 0.02)), *mid, (t1, s1, lo1, hi1, max(tol1, last))]


def _park(base):
  """A waiting arm's TCP: high over the table edge in front of its base, where it touches nothing."""
  return (jnp.stack([0.45, base[1], 0.3]), jnp.zeros(()), OPEN)


def _stack_three_turns(p, n):
  """Rows (target, speed, min, max, tol) of green onto blue, then of red onto green, each for one arm."""
  blue, green, red = (p.pos[c] for c in ('cube_blue', 'cube_green', 'cube_red'))
  blue_yaw = _object_yaw(p.rot['cube_blue'])
  turns = []
  for cube, level, others in (('cube_green', 2, [blue, red]), ('cube_red', 4, [blue, green])):
    rows = _relaxed(pick(p.pos[cube], p.rot[cube], others, n), 0.03)
    if cube == 'cube_red':   # within ASIDE of the stack, approach over it at the carry height
      (pos, yaw, grip), *timing = rows[0]
      low = jnp.where(_reach(red, blue) < ASIDE, CARRY_Z[0], 0.0)
      rows[0] = ((pos.at[2].max(low), yaw, grip), *timing)
    yaw = rows[-1][0][1] + wrap(blue_yaw - _object_yaw(p.rot[cube]), jnp.pi / 2)
    rows += _relaxed(place(_up(blue, level * objects.CUBE_HALF), yaw, n, drop=0.004), 0.04)
    rows[-1] = (rows[-1][0], FAST * n.speed, *rows[-1][2:])   # released: retreat at full speed
    turns.append(rows)
  return turns


def _stack_three_parallel(p, n, first_base):
  """Rows over roles (first arm, second arm): both pick at once, the first arm green and the second red,
  which it holds at the carry height away from the first arm's carry path; the first stacks green on blue and
  moves aside, away from red, while the second brings red over the stack and stacks it."""
  blue, green, red = (p.pos[c] for c in ('cube_blue', 'cube_green', 'cube_red'))
  blue_yaw = _object_yaw(p.rot['cube_blue'])
  pick_1 = _relaxed(pick(green, p.rot['cube_green'], [blue, red], n), 0.03)
  pick_2 = _relaxed(pick(red, p.rot['cube_red'], [blue, green], n), 0.03)
  rows = [((a[0], b[0]), a[1], jnp.maximum(a[2], b[2]), jnp.maximum(a[3], b[3]), a[4])
          for a, b in zip(pick_1, pick_2)]
  held = pick_2[-1][0]
  yaw_1 = pick_1[-1][0][1] + wrap(blue_yaw - _object_yaw(p.rot['cube_green']), jnp.pi / 2)
  place_1 = _relaxed(place(_up(blue, 2 * objects.CUBE_HALF), yaw_1, n, drop=0.004), 0.04)
  rows += [((t, held), s, lo, hi, tol) for t, s, lo, hi, tol in place_1]
  retreat = place_1[-1][0]
  aside = (_aside(p, first_base, retreat[0][2]), retreat[1], OPEN)
  yaw_2 = held[1] + wrap(blue_yaw - _object_yaw(p.rot['cube_red']), jnp.pi / 2)
  place_2 = _relaxed(place(_up(blue, 4 * objects.CUBE_HALF), yaw_2, n, drop=0.004), 0.04)
  rows.append(((aside, place_2[0][0]), FAST * n.speed, 2, 60, 0.02))
  rows += [((aside, t), s, lo, hi, tol) for t, s, lo, hi, tol in place_2[1:]]
  return rows + [((aside, place_2[-1][0]), 0.0, 4, 4, 1.0)]


def _stack_three_sequential(p, n, first_base, second_base):
  """Rows over roles (first arm, second arm): the first stacks green on blue while the second waits parked,
  then moves aside while the second stacks red on green. For red near the first arm's carry path."""
  green_rows, red_rows = _stack_three_turns(p, n)
  park = _park(second_base)
  # The second arm sets off toward red as the first retreats from released green (phase 7), which then
  # also waits for it to arrive over red.
  rows = [((t, park), s, lo, hi, tol) for t, s, lo, hi, tol in green_rows]
  (t, s, lo, hi, tol), (approach, _, _, hi_2, tol_2) = rows[-1], red_rows[0]
  rows[-1] = ((t[0], approach), s, lo, max(hi, hi_2), min(tol, tol_2))
  retreat = green_rows[-1][0]
  aside = (_aside(p, first_base, retreat[0][2]), retreat[1], OPEN)
  rows += [((aside, t), s, lo, hi, tol) for t, s, lo, hi, tol in red_rows[1:]]
  return rows + [((aside, red_rows[-1][0]), 0.0, 4, 4, 1.0)]


def _stack_three_solo(p, n, idle_base):
  """Rows over roles (working arm, idle arm): one arm stacks green, then red; the other one waits parked."""
  green_rows, red_rows = _stack_three_turns(p, n)
  park = _park(idle_base)
  rows = [((t, park), s, lo, hi, tol) for t, s, lo, hi, tol in green_rows + red_rows]
  return rows + [((red_rows[-1][0], park), 0.0, 4, 4, 1.0)]


def stack_three_plan(p, n):
  """Green on blue, then red on green. Two arms share the work where each reaches what it must within `REACH`
  of its base: green and blue for the first, red and blue for the second; the left arm is the first unless
  the right one makes the longer reach shorter. They pick at once (`_stack_three_parallel`), or, where red
  lies near the first arm's carry path, one after the other (`_stack_three_sequential`). Where blue is beyond
  `REACH` of one base, one arm stacks both cubes (`_stack_three_solo`), the one whose farthest cube is
  nearest, if that does better."""
  blue, green, red = (p.pos[c] for c in ('cube_blue', 'cube_green', 'cube_red'))
  left, right = (jnp.asarray(pos, jnp.float32) for _, pos in scene.BIMANUAL_BASES)
  to_blue = jnp.maximum(_reach(blue, left), _reach(blue, right))
  two_left = jnp.maximum(jnp.maximum(_reach(green, left), _reach(red, right)), to_blue)
  two_right = jnp.maximum(jnp.maximum(_reach(green, right), _reach(red, left)), to_blue)
  one = lambda b: jnp.maximum(jnp.maximum(_reach(blue, b), _reach(green, b)), _reach(red, b))
  left_first, solo_left = two_left <= two_right, one(left) <= one(right)
  best_two, best_one = jnp.minimum(two_left, two_right), jnp.minimum(one(left), one(right))
  solo = (best_two > REACH) & (best_one < best_two)
  sequential = _near_carry_path(p)

  swap = lambda c, a, b: (jnp.where(c, a, b), jnp.where(c, b, a))
  first_base, second_base = swap(left_first, left, right)
  parallel = _stack_three_parallel(p, n, first_base)
  in_turn = _stack_three_sequential(p, n, first_base, second_base)
  alone = _stack_three_solo(p, n, swap(solo_left, left, right)[1])
  # The same number of phases for all: one-step repeats of a plan's last phase before its final hold.
  pad = lambda rows: rows[:-1] + [(rows[-1][0], 0.0, 1, 1, 1.0)] * (len(alone) - len(rows)) + rows[-1:]
  parallel, in_turn = pad(parallel), pad(in_turn)

  def choose(a, b, c):   # a: solo, b: sequential, c: parallel
    return jnp.where(solo, a, jnp.where(sequential, b, c))

  def to_arms(targets, first_left):
    return [tuple(jnp.where(first_left, x, y) for x, y in zip(*targets)),
            tuple(jnp.where(first_left, y, x) for x, y in zip(*targets))]

  phases = []
  for rows in zip(alone, in_turn, parallel):
    arms = [to_arms(rows[0][0], solo_left), to_arms(rows[1][0], left_first), to_arms(rows[2][0], left_first)]
    targets = [tuple(choose(*xs) for xs in zip(*(a[arm] for a in arms))) for arm in range(2)]
    phases.append(Phase(targets, *(choose(*(r[i] for r in rows)) for i in range(1, 5))))
  return phases


PLANS = {'lift': lift_plan, 'pick_place': pick_place_plan, 'knock_down': knock_down_plan,
         'stack_two': stack_two_plan, 'stack_three': stack_three_plan}


def build_plan(task: str, poses, start_pos, rng: jax.Array, motion: Motion = Motion()) -> Plan:
  """The plan of one episode. `start_pos` (A, 3): TCP positions at reset (what "hold" means before the
  first waypoint of an arm); `motion` sets the ranges of the per-episode noise."""
  noise = Noise.sample(rng, motion)
  phases = PLANS[task](poses, noise)
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
              max_steps=i([ph.max_steps for ph in phases]), tol=f([ph.tol for ph in phases]), tilt=noise.tilt)
