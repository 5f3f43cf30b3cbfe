"""The scripted demonstrator: a phase machine over a task plan, turned into env actions by inverse kinematics.

Each control step moves a TCP setpoint toward the current phase's waypoint at the phase's speed (so motion
is smooth and its pace is randomised), solves one IK step from the current joint positions toward the
setpoint, and emits the env action that moves the position targets there (joint deltas over `max_delta`,
clipped to [-1, 1]) plus the phase's gripper command. A phase ends after its minimum steps once every arm's
setpoint has arrived and its TCP is within tolerance, or at its maximum steps. After the last phase the
demonstrator holds still and reports `finished`.

Works for every embodiment (Kinova, UR5e, UMI) and for two arms, because all are chains of position-
controlled pose dofs with the same action convention (`glam_jax.sim.arm`).

Human-like motion (`heterogeneity.Motion.human`, the UMI's style at heterogeneity levels >= 1): each phase is
a minimum-jerk segment from where the setpoint was when the phase began to the waypoint, of a random mean
speed (its peak is 1.875 times that), sometimes after a pause; a horizontal move may overshoot its end and
come back (the last 30 % of the segment); the gripper tilts off vertical by a per-episode angle. The phase
logic (tolerances, step limits) is the same; the step limits stretch by the pause and the segment's length.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from glam_jax.demos import ik, plans
from glam_jax.demos.heterogeneity import Motion
from glam_jax.sim.env import Env, EnvConfig, State

YAW_SPEED = 0.08     # rad per control step at speed scale 1
CORRECTION = 0.3     # share of an overshooting segment spent coming back
MAX_OVERSHOOT = 0.03 # m


def min_jerk(tau):
  """Position share of a minimum-jerk segment at time share `tau` in [0, 1]."""
  return tau ** 3 * (10 - 15 * tau + 6 * tau ** 2)


def tilt_rotation(tilt):
  """Rotation by tilt[0] about world x, then tilt[1] about world y."""
  cx, sx, cy, sy = jnp.cos(tilt[0]), jnp.sin(tilt[0]), jnp.cos(tilt[1]), jnp.sin(tilt[1])
  rx = jnp.array([[1.0, 0.0, 0.0], [0.0, cx, -sx], [0.0, sx, cx]])
  ry = jnp.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
  return ry @ rx


@struct.dataclass
class DemoState:
  plan: plans.Plan
  phase: jnp.ndarray        # index of the current phase (== num_phases once finished)
  phase_step: jnp.ndarray   # steps spent in the current phase
  set_pos: jnp.ndarray      # (A, 3) TCP setpoints
  set_yaw: jnp.ndarray      # (A,)
  # human-like motion only: where the phase's segment starts, and per phase its mean-speed factor, pause
  # (steps) and overshoot (share of the horizontal move)
  start_pos: jnp.ndarray    # (A, 3)
  start_yaw: jnp.ndarray    # (A,)
  pace: jnp.ndarray         # (K,)
  pause: jnp.ndarray        # (K,)
  overshoot: jnp.ndarray    # (K,)

  @property
  def finished(self) -> jnp.ndarray:
    return self.phase >= self.plan.num_phases


class ScriptedDemonstrator:
  """`init(state, rng) -> DemoState`, `act(demo, state) -> (demo, action)`: pure, for jit and vmap."""

  def __init__(self, env: Env, motion: Motion = Motion()):
    if env.task.name not in plans.PLANS:
      raise ValueError(f'no scripted plan for task {env.task.name!r}')
    self.env = env
    self.motion = motion
    # plans count speeds and steps per control step of the env's default rate; a source recorded at its own
    # rate (heterogeneity.Recording.control_dt) steps more or less often for the same motion in seconds
    self.time_scale = env.dt / EnvConfig.ctrl_dt
    m = env.mj_model
    self._body = [int(m.site_bodyid[idx.tcp_site]) for idx in env.arm_index]
    self._rest = [np.asarray(spec.home, np.float32) for spec in env.arms]

  def _tcp(self, data):
    pos = jnp.stack([data.site_xpos[idx.tcp_site] for idx in self.env.arm_index])
    yaw = jnp.stack([ik.tcp_yaw(data.site_xmat[idx.tcp_site].reshape(3, 3)) for idx in self.env.arm_index])
    return pos, yaw

  def init(self, state: State, rng: jax.Array) -> DemoState:
    pos, yaw = self._tcp(state.data)
    plan = plans.build_plan(self.env.task.name, self.env.poses(state.data), pos, rng, self.motion)
    k = plan.num_phases
    m = self.motion
    k_pace, k_pause, k_len, k_over = jax.random.split(jax.random.fold_in(rng, 1), 4)
    pace = jax.random.uniform(k_pace, (k,), minval=m.speed[0], maxval=m.speed[1])
    pause = jnp.where(jax.random.uniform(k_pause, (k,)) < m.pause_prob,
                      jax.random.randint(k_len, (k,), m.pause_steps[0], m.pause_steps[1] + 1), 0)
    overshoot = jax.random.uniform(k_over, (k,), maxval=m.overshoot)
    if abs(self.time_scale - 1) > 1e-9:
      per_step = lambda n: jnp.ceil(n / self.time_scale).astype(jnp.int32)
      plan = plan.replace(speed=plan.speed * self.time_scale, min_steps=per_step(plan.min_steps),
                          max_steps=per_step(plan.max_steps))
      pause = per_step(pause)
    zero = jnp.zeros((), jnp.int32)
    return DemoState(plan, zero, zero, pos, yaw, pos, yaw, pace, pause, overshoot)

  def _constant_speed(self, demo: DemoState, k):
    """Setpoints moved toward the waypoint at the phase's speed; whether they arrived."""
    plan = demo.plan
    goal, goal_yaw, speed = plan.pos[k], plan.yaw[k], plan.speed[k]
    step = goal - demo.set_pos
    dist = jnp.linalg.norm(step, axis=-1, keepdims=True)
    set_pos = demo.set_pos + step * jnp.minimum(1.0, speed / jnp.maximum(dist, 1e-9))
    d_yaw = plans.wrap(goal_yaw - demo.set_yaw, 2 * jnp.pi)
    yaw_speed = YAW_SPEED * speed / plans.FAST
    set_yaw = demo.set_yaw + jnp.clip(d_yaw, -yaw_speed, yaw_speed)
    arrived = jnp.all(jnp.linalg.norm(set_pos - goal, axis=-1) < 1e-6) & jnp.all(
        jnp.abs(plans.wrap(set_yaw - goal_yaw, 2 * jnp.pi)) < 1e-6)
    return set_pos, set_yaw, arrived, 0

  def _min_jerk(self, demo: DemoState, k):
    """Setpoints on the phase's minimum-jerk segment (after its pause, with its overshoot); whether the
    segment is over; the steps the segment adds to the phase's limits."""
    plan = demo.plan
    goal, goal_yaw, speed = plan.pos[k], plan.yaw[k], plan.speed[k]
    move = goal - demo.start_pos
    d_yaw = plans.wrap(goal_yaw - demo.start_yaw, 2 * jnp.pi)
    horizontal = jnp.linalg.norm(move[:, :2], axis=-1, keepdims=True)
    over = jnp.where(horizontal > 0.03, demo.overshoot[k] * move.at[:, 2].set(0.0), 0.0)
    over = over * jnp.minimum(1.0, MAX_OVERSHOOT / jnp.maximum(jnp.linalg.norm(over, axis=-1, keepdims=True), 1e-9))
    share = jnp.where(jnp.any(jnp.linalg.norm(over, axis=-1) > 0), CORRECTION, 0.0)
    # the segment's mean speed: the constant-speed plan's times the pace (its peak is 1.875 times that)
    pace = jnp.maximum(speed * demo.pace[k], 1e-9)
    reach = jnp.max(jnp.linalg.norm(move + over, axis=-1))
    turn = jnp.max(jnp.abs(d_yaw)) * plans.FAST / YAW_SPEED
    steps = jnp.where(speed > 0, jnp.ceil(jnp.maximum(reach, turn) / pace / (1 - share)), 1.0)
    tau = jnp.clip((demo.phase_step + 1 - demo.pause[k]) / jnp.maximum(steps, 1.0), 0.0, 1.0)
    out = jnp.clip(tau / (1 - share), 0.0, 1.0)
    back = jnp.clip((tau - (1 - share)) / jnp.maximum(share, 1e-6), 0.0, 1.0)
    set_pos = demo.start_pos + (move + over) * min_jerk(out) - over * min_jerk(back)
    set_yaw = demo.start_yaw + d_yaw * min_jerk(out)
    return set_pos, set_yaw, tau >= 1.0, (demo.pause[k] + steps).astype(jnp.int32)

  def act(self, demo: DemoState, state: State) -> tuple[DemoState, jnp.ndarray]:
    plan, data = demo.plan, state.data
    k = jnp.minimum(demo.phase, plan.num_phases - 1)
    goal = plan.pos[k]
    move = self._min_jerk if self.motion.human else self._constant_speed
    set_pos, set_yaw, arrived, extra_steps = move(demo, k)

    actions = []
    for a, (spec, idx) in enumerate(zip(self.env.arms, self.env.arm_index)):
      rot = ik.down_rotation(set_yaw[a])
      if self.motion.tilt > 0:
        rot = tilt_rotation(plan.tilt) @ rot
      dq = ik.ik_step(self.env.mjx_model, data, idx, self._body[a], set_pos[a], rot,
                      rest=jnp.asarray(self._rest[a]))
      target = data.qpos[idx.qpos] + dq
      arm_action = (target - data.ctrl[idx.ctrl]) / jnp.asarray(spec.max_delta)
      actions.append(jnp.concatenate([jnp.clip(arm_action, -1.0, 1.0), plan.grip[k, a][None]]))

    tcp, _ = self._tcp(data)
    close = jnp.all(jnp.linalg.norm(tcp - goal, axis=-1) < plan.tol[k])
    phase_step = demo.phase_step + 1
    advance = (demo.phase < plan.num_phases) & (phase_step >= plan.min_steps[k]) & (
        (arrived & close) | (phase_step >= plan.max_steps[k] + extra_steps))
    demo = demo.replace(phase=demo.phase + advance.astype(jnp.int32),
                        phase_step=jnp.where(advance, 0, phase_step), set_pos=set_pos, set_yaw=set_yaw,
                        start_pos=jnp.where(advance, set_pos, demo.start_pos),
                        start_yaw=jnp.where(advance, set_yaw, demo.start_yaw))
    return demo, jnp.concatenate(actions)
