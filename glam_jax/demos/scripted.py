"""The scripted demonstrator: a phase machine over a task plan, turned into env actions by inverse kinematics.

Each control step moves a TCP setpoint toward the current phase's waypoint at the phase's speed (so motion
is smooth and its pace is randomised), solves one IK step from the current joint positions toward the
setpoint, and emits the env action that moves the position targets there (joint deltas over `max_delta`,
clipped to [-1, 1]) plus the phase's gripper command. A phase ends after its minimum steps once every arm's
setpoint has arrived and its TCP is within tolerance, or at its maximum steps. After the last phase the
demonstrator holds still and reports `finished`.

Works for every embodiment (Kinova, UR5e, UMI) and for two arms, because all are chains of position-
controlled pose dofs with the same action convention (`glam_jax.sim.arm`).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from glam_jax.demos import ik, plans
from glam_jax.sim.env import Env, State

YAW_SPEED = 0.08     # rad per control step at speed scale 1


@struct.dataclass
class DemoState:
  plan: plans.Plan
  phase: jnp.ndarray        # index of the current phase (== num_phases once finished)
  phase_step: jnp.ndarray   # steps spent in the current phase
  set_pos: jnp.ndarray      # (A, 3) TCP setpoints
  set_yaw: jnp.ndarray      # (A,)

  @property
  def finished(self) -> jnp.ndarray:
    return self.phase >= self.plan.num_phases


class ScriptedDemonstrator:
  """`init(state, rng) -> DemoState`, `act(demo, state) -> (demo, action)`: pure, for jit and vmap."""

  def __init__(self, env: Env):
    if env.task.name not in plans.PLANS:
      raise ValueError(f'no scripted plan for task {env.task.name!r}')
    self.env = env
    m = env.mj_model
    self._body = [int(m.site_bodyid[idx.tcp_site]) for idx in env.arm_index]
    self._rest = [np.asarray(spec.home, np.float32) for spec in env.arms]

  def _tcp(self, data):
    pos = jnp.stack([data.site_xpos[idx.tcp_site] for idx in self.env.arm_index])
    yaw = jnp.stack([ik.tcp_yaw(data.site_xmat[idx.tcp_site].reshape(3, 3)) for idx in self.env.arm_index])
    return pos, yaw

  def init(self, state: State, rng: jax.Array) -> DemoState:
    pos, yaw = self._tcp(state.data)
    plan = plans.build_plan(self.env.task.name, self.env.poses(state.data), pos, rng)
    return DemoState(plan, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), pos, yaw)

  def act(self, demo: DemoState, state: State) -> tuple[DemoState, jnp.ndarray]:
    plan, data = demo.plan, state.data
    k = jnp.minimum(demo.phase, plan.num_phases - 1)
    goal, goal_yaw, speed = plan.pos[k], plan.yaw[k], plan.speed[k]
    step = goal - demo.set_pos
    dist = jnp.linalg.norm(step, axis=-1, keepdims=True)
    set_pos = demo.set_pos + step * jnp.minimum(1.0, speed / jnp.maximum(dist, 1e-9))
    d_yaw = plans.wrap(goal_yaw - demo.set_yaw, 2 * jnp.pi)
    yaw_speed = YAW_SPEED * speed / plans.FAST
    set_yaw = demo.set_yaw + jnp.clip(d_yaw, -yaw_speed, yaw_speed)

    actions = []
    for a, (spec, idx) in enumerate(zip(self.env.arms, self.env.arm_index)):
      dq = ik.ik_step(self.env.mjx_model, data, idx, self._body[a], set_pos[a], ik.down_rotation(set_yaw[a]),
                      rest=jnp.asarray(self._rest[a]))
      target = data.qpos[idx.qpos] + dq
      arm_action = (target - data.ctrl[idx.ctrl]) / jnp.asarray(spec.max_delta)
      actions.append(jnp.concatenate([jnp.clip(arm_action, -1.0, 1.0), plan.grip[k, a][None]]))

    tcp, _ = self._tcp(data)
    arrived = jnp.all(jnp.linalg.norm(set_pos - goal, axis=-1) < 1e-6) & jnp.all(
        jnp.abs(plans.wrap(set_yaw - goal_yaw, 2 * jnp.pi)) < 1e-6)
    close = jnp.all(jnp.linalg.norm(tcp - goal, axis=-1) < plan.tol[k])
    phase_step = demo.phase_step + 1
    advance = (demo.phase < plan.num_phases) & (phase_step >= plan.min_steps[k]) & (
        (arrived & close) | (phase_step >= plan.max_steps[k]))
    demo = demo.replace(phase=demo.phase + advance.astype(jnp.int32),
                        phase_step=jnp.where(advance, 0, phase_step), set_pos=set_pos, set_yaw=set_yaw)
    return demo, jnp.concatenate(actions)
