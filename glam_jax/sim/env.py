"""The batched MJX environment: `make_env(task, embodiment, **overrides)` -> `Env` with pure `reset`/`step`.

`reset(rng) -> State` and `step(state, action) -> State` take and return pytrees only, so they work under
`jax.jit` and `jax.vmap` (batch by vmapping over keys and actions). Each control step runs
`ctrl_dt / sim_dt` physics substeps. Observations:

- `ee_pose`: TCP position and the first two columns of its rotation matrix (9 per arm; a continuous
  rotation code, unlike quaternions whose sign flips);
- `gripper`: opening between the pads in metres (1 per arm);
- `joint_pos`: arm joint positions, for embodiments with joints (not the hand-held UMI);
- `joint_target`: the position targets the joints are driven to (what the actions so far have set), for
  the same embodiments;
- `{view}/rgb`, `{view}/depth`, `{view}/mask` for each camera when `render=True`.

`State.info` holds `success` (the task predicate now) and `step` (control steps taken); `State.done` turns
true at the episode length. Stepping past it is allowed; auto-reset is the caller's choice.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from glam_jax import quiet  # noqa: F401  (before MJX and Grain: drops two notices)
import mujoco
from flax import struct
from mujoco import mjx

from glam_jax.sim import arm as arm_lib
from glam_jax.sim import camera, scene, tasks


@dataclasses.dataclass(frozen=True)
class EnvConfig:
  sim_dt: float = 0.005
  ctrl_dt: float = 0.05
  image_size: int = 64
  render: bool = True
  cameras: tuple = ('overhead', 'front')
  episode_length: int = 0        # 0: the task's own length
  init_noise: float = 0.4        # std of the start pose, in units of one full-scale action step
  iterations: int = 4            # constraint solver iterations
  ls_iterations: int = 8
  max_geom_pairs: int = scene.PhysicsOptions.max_geom_pairs   # collision pairs per geom-type group; 0: all


@struct.dataclass
class State:
  data: mjx.Data
  obs: dict
  info: dict
  done: jax.Array


def _quat_yaw(yaw):
  return jnp.stack([jnp.cos(yaw / 2), jnp.zeros_like(yaw), jnp.zeros_like(yaw), jnp.sin(yaw / 2)], -1)


class Env:
  """One (task, embodiment) pair. Holds only static things: the models, addresses and the camera rig."""
  # whether a batch of envs gains from being split over JAX devices (not when the physics runs on the host)
  shard_batch = True

  def __init__(self, task: str, embodiment: str, config: EnvConfig):
    self.config = config
    n_sub = config.ctrl_dt / config.sim_dt
    if config.sim_dt <= 0 or n_sub < 1 or abs(n_sub - round(n_sub)) > 1e-6:
      raise ValueError(f'ctrl_dt ({config.ctrl_dt}) must be a positive multiple of sim_dt ({config.sim_dt})')
    self.n_substeps = int(round(n_sub))
    if config.max_geom_pairs < 0:
      raise ValueError(f'max_geom_pairs must be >= 0 (0: no cap), got {config.max_geom_pairs}')
    self.scene = scene.build_scene(
        task, embodiment, scene.PhysicsOptions(config.sim_dt, config.iterations, config.ls_iterations,
                                          config.max_geom_pairs))
    self.task = self.scene.task
    self.embodiment = embodiment
    self.mj_model = self.scene.compile()
    self.mjx_model = mjx.put_model(self.mj_model)
    self._template = mjx.make_data(self.mj_model)
    m = self.mj_model
    self.arms = self.scene.arms
    self.arm_index = tuple(arm_lib.resolve(a, m) for a in self.arms)
    self.episode_length = config.episode_length or self.task.episode_length
    body = lambda name: mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_BODY, name)
    self._obj_body = {o.name: body(o.name) for o in self.scene.objects}
    self._obj_qpos = {o.name: int(m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, o.name)])
                      for o in self.scene.objects if not o.mocap}
    self._obj_mocap = {o.name: int(m.body_mocapid[body(o.name)]) for o in self.scene.objects if o.mocap}
    self.mask_geoms = tuple(g for o in self.scene.objects if o.name in self.task.manipulated for g in o.geoms)
    self.rig = None
    if config.render:
      self.rig = camera.make_rig(m, config.cameras, config.image_size, config.image_size, self.mask_geoms)

  @property
  def action_size(self) -> int:
    return sum(a.action_size for a in self.arms)

  @property
  def dt(self) -> float:
    return self.config.ctrl_dt

  # -- pure functions ---------------------------------------------------------------------------------
  def reset(self, rng: jax.Array) -> State:
    k_place, k_noise = jax.random.split(rng)
    objs = self.scene.objects
    xy, yaw = tasks.sample_placements(k_place, self.task.workspace, [o.radius for o in objs])
    data = self._template
    qpos, ctrl = jnp.asarray(self.mj_model.qpos0), data.ctrl
    mocap_pos, mocap_quat = data.mocap_pos, data.mocap_quat
    for spec, idx, k in zip(self.arms, self.arm_index, jax.random.split(k_noise, len(self.arms))):
      noise = self.config.init_noise * jnp.asarray(spec.max_delta) * jax.random.normal(k, (len(spec.joints),))
      q_arm = jnp.clip(jnp.asarray(spec.home) + noise, jnp.asarray(spec.lower), jnp.asarray(spec.upper))
      qpos = qpos.at[idx.qpos].set(q_arm)
      qpos = qpos.at[idx.finger_qpos].set(spec.gripper.max_q)
      ctrl = arm_lib.home_ctrl(spec, idx, ctrl, q_arm)
    for i, o in enumerate(objs):
      if o.mocap:
        mid = self._obj_mocap[o.name]
        mocap_pos = mocap_pos.at[mid].set(jnp.array([xy[i, 0], xy[i, 1], o.rest_z]))
        mocap_quat = mocap_quat.at[mid].set(_quat_yaw(yaw[i]))
      else:
        a = self._obj_qpos[o.name]
        pose = jnp.concatenate([xy[i], jnp.array([o.rest_z]), _quat_yaw(yaw[i])])
        qpos = qpos.at[a:a + 7].set(pose)
    data = data.replace(qpos=qpos, qvel=jnp.zeros_like(data.qvel), ctrl=ctrl, mocap_pos=mocap_pos,
                        mocap_quat=mocap_quat)
    data = self.forward(data)
    info = {'success': self.success(data), 'step': jnp.zeros((), jnp.int32)}
    return State(data, self.observe(data), info, jnp.zeros((), bool))

  def step(self, state: State, action: jax.Array) -> State:
    action = jnp.asarray(action)
    if action.shape != (self.action_size,):
      raise ValueError(
          f'action has shape {action.shape}; {self.task.name}/{self.embodiment} expects ({self.action_size},) '
          'per environment (vmap over a batch)')
    ctrl, start = state.data.ctrl, 0
    for spec, idx in zip(self.arms, self.arm_index):
      ctrl = arm_lib.apply_action(spec, idx, ctrl, action[start:start + spec.action_size])
      start += spec.action_size
    data = state.data.replace(ctrl=ctrl)
    data = self.advance(data)
    t = state.info['step'] + 1
    info = {**state.info, 'success': self.success(data), 'step': t}
    return State(data, self.observe(data), info, t >= self.episode_length)

  # -- physics: MJX here; `native_env.NativeEnv` runs the same two on C MuJoCo --------------------------
  def forward(self, data: mjx.Data) -> mjx.Data:
    """Derived quantities (kinematics, contacts, forces) of a freshly set state."""
    return mjx.forward(self.mjx_model, data)

  def advance(self, data: mjx.Data) -> mjx.Data:
    """The physics of one control step: `n_substeps` of `mjx.step` with the controls in `data`."""
    return jax.lax.fori_loop(0, self.n_substeps, lambda _, d: mjx.step(self.mjx_model, d), data)

  def poses(self, data: mjx.Data) -> tasks.Poses:
    pos = {n: data.xpos[b] for n, b in self._obj_body.items()}
    rot = {n: data.xmat[b].reshape(3, 3) for n, b in self._obj_body.items()}
    grip = jnp.stack([2 * data.qpos[idx.gripper_qpos] for idx in self.arm_index])
    return tasks.Poses(pos, rot, grip)

  def success(self, data: mjx.Data) -> jax.Array:
    return self.task.success(self.poses(data))

  def observe(self, data: mjx.Data) -> dict:
    ee, grip, joints, targets = [], [], [], []
    for spec, idx in zip(self.arms, self.arm_index):
      rot = data.site_xmat[idx.tcp_site].reshape(3, 3)
      ee.append(jnp.concatenate([data.site_xpos[idx.tcp_site], rot[:, 0], rot[:, 1]]))
      grip.append(2 * data.qpos[idx.gripper_qpos][None])
      if spec.has_proprio:
        joints.append(data.qpos[idx.qpos])
        targets.append(data.ctrl[idx.ctrl])
    obs = {'ee_pose': jnp.concatenate(ee), 'gripper': jnp.concatenate(grip)}
    if joints:
      obs['joint_pos'], obs['joint_target'] = jnp.concatenate(joints), jnp.concatenate(targets)
    if self.rig is not None:
      obs.update(camera.render(self.rig, data.geom_xpos, data.geom_xmat))
    return obs


def make_env(task: str, embodiment: str = 'kinova', **overrides) -> Env:
  """Builds the environment of `task` for `embodiment`; keyword overrides set `EnvConfig` fields."""
  tasks.get_task(task)
  scene.check_embodiment(embodiment)
  fields = {f.name for f in dataclasses.fields(EnvConfig)}
  unknown = sorted(set(overrides) - fields)
  if unknown:
    raise ValueError(f'unknown env option(s) {unknown}; valid options: {", ".join(sorted(fields))}')
  if 'cameras' in overrides:
    overrides['cameras'] = tuple(overrides['cameras'])
  return Env(task, embodiment, EnvConfig(**overrides))
