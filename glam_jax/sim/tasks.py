"""The five tasks: which objects, where they start (seeded, randomised), when the task is done, how long.

Success predicates are pure functions of object poses and gripper openings, so they run inside jit and can
be checked on constructed states.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from glam_jax.sim import objects

LIFT_HEIGHT = 0.10          # cube centre above the table for `lift` (rests at 0.02)
TOPPLED_COS = 0.5           # bottle axis more than 60 degrees from vertical
STACK_XY_TOL = 0.02
RELEASED_OPENING = 0.045    # pads wider apart than a cube: the gripper is not holding it


@dataclasses.dataclass(frozen=True)
class Poses:
  """World poses of the task objects (by name) and every gripper's opening."""
  pos: dict           # name -> (3,)
  rot: dict           # name -> (3, 3)
  gripper: jnp.ndarray  # (num_arms,)


@dataclasses.dataclass(frozen=True)
class Task:
  name: str
  object_builders: tuple          # callables returning (Part, ObjectSpec)
  manipulated: tuple              # object names whose geoms form the mask
  episode_length: int             # control steps
  success: Callable[[Poses], jnp.ndarray]
  bimanual: bool = False
  workspace: tuple = ((0.35, 0.6), (-0.2, 0.2))   # x and y ranges of placements (m)


def _released(p: Poses) -> jnp.ndarray:
  return jnp.all(p.gripper > RELEASED_OPENING)


def _on_top(p: Poses, top: str, bottom: str) -> jnp.ndarray:
  d = p.pos[top] - p.pos[bottom]
  h = 2 * objects.CUBE_HALF
  return (jnp.linalg.norm(d[:2]) < STACK_XY_TOL) & (d[2] > 0.75 * h) & (d[2] < 1.25 * h)


def lift_success(p: Poses) -> jnp.ndarray:
  return p.pos['cube_red'][2] > LIFT_HEIGHT


def pick_place_success(p: Poses) -> jnp.ndarray:
  rel = p.rot['bowl'].T @ (p.pos['cube_red'] - p.pos['bowl'])   # cube in the bowl's frame
  inside = jnp.all(jnp.abs(rel[:2]) < objects.BOWL_INNER_HALF)
  return inside & (rel[2] < 2.5 * objects.CUBE_HALF) & _released(p)


def knock_down_success(p: Poses) -> jnp.ndarray:
  return p.rot['bottle'][2, 2] < TOPPLED_COS


def stack_two_success(p: Poses) -> jnp.ndarray:
  return _on_top(p, 'cube_red', 'cube_green') & _released(p)


def stack_three_success(p: Poses) -> jnp.ndarray:
  return (_on_top(p, 'cube_green', 'cube_blue') & _on_top(p, 'cube_red', 'cube_green')
          & _released(p))


def _red():
  return objects.cube('cube_red', 'red')


def _green():
  return objects.cube('cube_green', 'green')


def _blue():
  return objects.cube('cube_blue', 'blue')


TASKS = {
    'lift': Task('lift', (_red,), ('cube_red',), 100, lift_success),
    'pick_place': Task('pick_place', (objects.bowl, _red), ('cube_red',), 150, pick_place_success),
    'knock_down': Task('knock_down', (objects.bottle,), ('bottle',), 100, knock_down_success),
    'stack_two': Task('stack_two', (_green, _red), ('cube_red', 'cube_green'), 200, stack_two_success),
    'stack_three': Task('stack_three', (_blue, _green, _red), ('cube_red', 'cube_green', 'cube_blue'), 300,
                        stack_three_success, bimanual=True, workspace=((0.35, 0.6), (-0.25, 0.25))),
}


def get_task(name: str) -> Task:
  if name not in TASKS:
    raise ValueError(f'unknown task {name!r}; valid tasks: {", ".join(TASKS)}')
  return TASKS[name]


def sample_placements(rng: jax.Array, workspace, radii, num_candidates: int = 32):
  """(x, y, yaw) per object, each at least the sum of footprint radii from those placed before it.

  Objects are placed in order; each draws `num_candidates` uniform candidates and keeps the first that
  clears the others (or the one that clears them most, in the rare case none does): static shapes, no
  rejection loop.
  """
  (x0, x1), (y0, y1) = workspace
  placed = []
  for i, r in enumerate(radii):
    k_xy, rng = jax.random.split(rng)
    lo, hi = jnp.array([x0, y0]), jnp.array([x1, y1])
    cand = jax.random.uniform(k_xy, (num_candidates, 2), minval=lo, maxval=hi)
    if placed:
      centres = jnp.stack([c for c, _ in placed])
      need = jnp.array([r + rj for _, rj in placed])
      clearance = jnp.min(jnp.linalg.norm(cand[:, None] - centres[None], axis=-1) - need, axis=1)
      ok = clearance >= 0
      choice = jnp.where(jnp.any(ok), jnp.argmax(ok), jnp.argmax(clearance))
      xy = cand[choice]
    else:
      xy = cand[0]
    placed.append((xy, r))
  xy = jnp.stack([c for c, _ in placed])
  yaw = jax.random.uniform(rng, (len(radii),), minval=-jnp.pi, maxval=jnp.pi)
  return xy, yaw
