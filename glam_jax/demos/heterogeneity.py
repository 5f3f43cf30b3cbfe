"""How far a demonstration source differs from the target: named settings per source, and preset levels.

Real auxiliary data differs from the target robot's: a person moves a hand-held UMI gripper with pauses,
varied speeds, overshoot and correction, their own approach and tilt; its pose comes from SLAM, with noise
and drift; it is recorded in other light on other surfaces. A testbed whose sources are alike cannot test
whether latent actions transfer across sources (DESIGN.md §2), so the recipe sets, per source, a style in
four groups:

- `motion`: the scripted demonstrator's timing and variation (`demos/scripted.py`, `demos/plans.Noise`);
- `pose`: noise and drift on the *recorded* end-effector pose (the simulator's true pose is kept beside it
  as `true_ee_pose`, which training never reads: the alignment probe's truth);
- `appearance`: light and table texture of the renders (`sim/camera.Appearance`);
- `recording`: the camera views stored (the UMI-like levels: only the gripper's own wrist camera; the target
  gains that camera as a third view).

Levels: 0 = the sources as they were (every field at its default: level-0 data is bit-identical to data made
before levels existed); 1 = UMI-like; 2 = harder. A level sets the style of the auxiliary sources (those
without action labels); the target and the second arm keep their motion, pose and look, and at levels >= 1
record the wrist camera as a third view. `resolve(sources, level, overrides)` gives every source's style,
with overrides `'umi.pose.noise_pos=0.005;umi.motion.pause_prob=0.2'`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np

from glam_jax.sim import scene, tasks
from glam_jax.sim.camera import Appearance
from glam_jax.sim.gripper import wrist_camera

LEVELS = (0, 1, 2)
# Scripted success per (task, source, physics, motion settings), measured by tools/check_demos.py --record:
# motion other than the default is used only where its demonstrator succeeded at least MIN_SUCCESS of the time.
SUCCESS_TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'scripted_success.json')
MIN_SUCCESS = 0.9


@dataclasses.dataclass(frozen=True)
class Motion:
  """The demonstrator's motion. Defaults: constant-speed setpoints (the scripted arm's motion)."""
  human: bool = False                     # minimum-jerk segments per phase, with the fields below
  speed: tuple = (1.0, 1.0)               # range of a segment's mean speed, in units of the plan's speed
  pause_prob: float = 0.0                 # chance that a phase starts with a pause
  pause_steps: tuple = (0, 0)             # range of a pause's length (steps of the target's 0.05 s)
  overshoot: float = 0.0                  # most overshoot past a horizontal move's end, as a fraction of it
  yaw_noise: float = 0.08                 # grasp yaw error, uniform in +-this (rad)
  approach: tuple = (0.06, 0.11)          # height (m) above the grasp at which the descent starts
  grasp_offset: float = 0.003             # std (m) of the horizontal grasp offset (clipped at 2 std)
  tilt: float = 0.0                       # gripper tilt off vertical, uniform in +-this about x and y (rad)
  length_scale: float = 1.0               # episode step limit over the task's (slower demonstrations)


@dataclasses.dataclass(frozen=True)
class Pose:
  """SLAM-like error on the recorded end-effector pose: white noise plus a random-walk drift."""
  noise_pos: float = 0.0                  # std (m)
  noise_rot: float = 0.0                  # std (rad) of a random rotation's angle per axis
  drift_pos: float = 0.0                  # m per sqrt(s)
  drift_rot: float = 0.0                  # rad per sqrt(s)

  @property
  def active(self) -> bool:
    return any(v > 0 for v in dataclasses.astuple(self))


@dataclasses.dataclass(frozen=True)
class Recording:
  """What the source's recording holds."""
  views: tuple = ()               # cameras stored; (): the recipe's views. `wrist`: each arm's wrist camera
  control_dt: float = 0.0         # seconds between recorded steps (its own rate); 0: the target's control rate


@dataclasses.dataclass(frozen=True)
class Style:
  motion: Motion = Motion()
  pose: Pose = Pose()
  appearance: Appearance = Appearance()
  recording: Recording = Recording()

  def to_dict(self) -> dict:
    """JSON-able; a group left at its defaults since before it existed is left out, so older datasets'
    styles compare equal."""
    out = {g: {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(getattr(self, g)).items()}
           for g in GROUPS}
    if self.recording == Recording():
      del out['recording']
    return out

  @staticmethod
  def from_dict(d: dict) -> 'Style':
    return Style(**{g: cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.get(g, {}).items()})
                    for g, cls in GROUPS.items()})


GROUPS = {'motion': Motion, 'pose': Pose, 'appearance': Appearance, 'recording': Recording}
DEFAULT = Style()
VIEWS = tuple(scene.CAMERAS) + ('wrist',)         # what a recording may hold
SIM_DT = scene.PhysicsOptions.sim_dt
TARGET_VIEWS = ('overhead', 'front', 'wrist')     # the target's views at levels >= 1: a wrist camera added

# The auxiliary source's style per level.
AUXILIARY = {
    0: DEFAULT,
    1: Style(
        motion=Motion(human=True, speed=(0.6, 1.3), pause_prob=0.3, pause_steps=(2, 8), overshoot=0.15,
                      yaw_noise=0.2, approach=(0.04, 0.14), grasp_offset=0.004, tilt=0.12, length_scale=1.75),
        pose=Pose(noise_pos=0.002, noise_rot=0.01, drift_pos=0.004, drift_rot=0.01),
        appearance=Appearance(light_dir=(-0.3, 0.45, 1.0), ambient=0.45, table_rgb=(0.56, 0.57, 0.6),
                              checker=0.05, checker_contrast=0.2),
        recording=Recording(views=('wrist',), control_dt=0.04)),
    2: Style(
        motion=Motion(human=True, speed=(0.5, 1.5), pause_prob=0.5, pause_steps=(3, 12), overshoot=0.3,
                      yaw_noise=0.3, approach=(0.03, 0.16), grasp_offset=0.005, tilt=0.2, length_scale=2.0),
        pose=Pose(noise_pos=0.004, noise_rot=0.02, drift_pos=0.008, drift_rot=0.02),
        appearance=Appearance(light_dir=(0.1, -0.6, 1.0), ambient=0.55, table_rgb=(0.42, 0.46, 0.52),
                              checker=0.04, checker_contrast=0.3),
        recording=Recording(views=('wrist',), control_dt=0.03)),
}
# The style of a source with action labels (the target, the second arm) per level: filmed as before, plus
# the wrist camera every source shares.
LABELLED = {0: DEFAULT, 1: Style(recording=Recording(views=TARGET_VIEWS)),
            2: Style(recording=Recording(views=TARGET_VIEWS))}


def check_level(level) -> int:
  if isinstance(level, bool) or not isinstance(level, int) or level not in LEVELS:
    raise ValueError(f'unknown heterogeneity level {level!r}; valid levels: {", ".join(map(str, LEVELS))}')
  return level


def preset(level: int, auxiliary: bool) -> Style:
  """A source's style at `level`: the level's auxiliary style for a source without action labels."""
  return (AUXILIARY if auxiliary else LABELLED)[check_level(level)]


def recorded_views(style: Style, recipe_views, task: str) -> tuple:
  """The camera names a source with `style` stores on `task`: its own views or else the recipe's, `wrist`
  standing for each arm's wrist camera (`sim/gripper.wrist_camera`)."""
  views = style.recording.views or tuple(recipe_views)
  arms = tuple(p for p, _ in scene.BIMANUAL_BASES) if tasks.get_task(task).bimanual else ('',)
  return tuple(c for v in views for c in ([wrist_camera(p) for p in arms] if v == 'wrist' else [v]))


def _parse_value(text: str, current, name: str):
  try:
    if isinstance(current, bool):
      if text.lower() not in ('true', 'false', '1', '0'):
        raise ValueError
      return text.lower() in ('true', '1')
    if isinstance(current, tuple) and (not current or isinstance(current[0], str)):    # names
      return tuple(x.strip() for x in text.strip('()[] ').split(',') if x.strip())
    if isinstance(current, tuple):
      values = tuple(float(x) for x in text.strip('()[] ').split(',') if x.strip())
      if len(values) != len(current):
        raise ValueError
      return tuple(type(c)(v) for c, v in zip(current, values))
    return type(current)(text)
  except ValueError:
    raise ValueError(f'source style {name}={text!r}: expected a value like {current!r}') from None


def check_style(style: Style, where: str) -> None:
  """Ranges that make sense; a bad one is an error naming the setting."""
  m, p, a = style.motion, style.pose, style.appearance
  bad = []
  if not (0 < m.speed[0] <= m.speed[1]):
    bad.append(f'motion.speed={m.speed} (need 0 < low <= high)')
  if not 0 <= m.pause_prob <= 1:
    bad.append(f'motion.pause_prob={m.pause_prob} (need 0..1)')
  if not (0 <= m.pause_steps[0] <= m.pause_steps[1]):
    bad.append(f'motion.pause_steps={m.pause_steps} (need 0 <= low <= high)')
  if m.length_scale < 1:
    bad.append(f'motion.length_scale={m.length_scale} (need >= 1)')
  if not 0 <= m.overshoot <= 0.5:
    bad.append(f'motion.overshoot={m.overshoot} (need 0..0.5)')
  if not (0 < m.approach[0] <= m.approach[1]):
    bad.append(f'motion.approach={m.approach} (need 0 < low <= high)')
  for name in ('yaw_noise', 'grasp_offset', 'tilt'):
    if getattr(m, name) < 0:
      bad.append(f'motion.{name}={getattr(m, name)} (need >= 0)')
  for name, v in dataclasses.asdict(p).items():
    if v < 0:
      bad.append(f'pose.{name}={v} (need >= 0)')
  unknown = [v for v in style.recording.views if v not in VIEWS]
  if unknown:
    bad.append(f'recording.views={style.recording.views} (unknown {unknown[0]!r}; valid: {", ".join(VIEWS)})')
  dt = style.recording.control_dt
  if dt < 0 or (dt > 0 and abs(dt / SIM_DT - round(dt / SIM_DT)) > 1e-6):
    bad.append(f'recording.control_dt={dt} (need 0, or a positive multiple of the physics step {SIM_DT} s)')
  if not 0 <= a.ambient <= 1 or not 0 <= a.checker_contrast <= 1 or a.checker <= 0:
    bad.append(f'appearance ambient={a.ambient}, checker={a.checker}, checker_contrast={a.checker_contrast} '
               '(need ambient and contrast in 0..1, checker > 0)')
  if bad:
    raise ValueError(f'{where}: bad source style setting {bad[0]}')


def resolve(sources: dict, level: int, overrides: str = '') -> dict:
  """{source: Style} for every known source (`sources` {name: has action labels}, `generate.SOURCES`), at
  `level`, with `overrides` ('SOURCE.GROUP.FIELD=VALUE;...'). Unknown sources, groups, fields or levels are
  errors that name them."""
  check_level(level)
  styles = {s: preset(level, auxiliary=not labelled) for s, labelled in sources.items()}
  for item in [x.strip() for x in overrides.split(';') if x.strip()]:
    name, eq, text = item.partition('=')
    parts = name.strip().split('.')
    if not eq or len(parts) != 3:
      raise ValueError(f'source style override {item!r}: expected SOURCE.GROUP.FIELD=VALUE')
    source, group, field = parts
    if source not in styles:
      raise ValueError(f'source style override {item!r}: unknown source {source!r}; the recipe has '
                       f'{", ".join(styles)}')
    if group not in GROUPS:
      raise ValueError(f'source style override {item!r}: unknown group {group!r}; valid: {", ".join(GROUPS)}')
    settings = getattr(styles[source], group)
    fields = {f.name for f in dataclasses.fields(settings)}
    if field not in fields:
      raise ValueError(f'source style override {item!r}: unknown setting {group}.{field}; valid: '
                       f'{", ".join(sorted(fields))}')
    value = _parse_value(text.strip(), getattr(settings, field), name)
    styles[source] = dataclasses.replace(styles[source], **{group: dataclasses.replace(settings, **{field: value})})
  for s, style in styles.items():
    check_style(style, s)
  return styles


def _rotations(v: np.ndarray) -> np.ndarray:
  """Rotation matrices (..., 3, 3) of rotation vectors (..., 3) (Rodrigues)."""
  angle = np.linalg.norm(v, axis=-1, keepdims=True)[..., None]
  k = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
  kx = np.zeros(v.shape + (3,))
  kx[..., 0, 1], kx[..., 0, 2], kx[..., 1, 2] = -k[..., 2], k[..., 1], -k[..., 0]
  kx = kx - np.swapaxes(kx, -1, -2)
  return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def recorded_pose(ee_pose: np.ndarray, pose: Pose, dt: float, rng: np.random.Generator) -> np.ndarray:
  """The end-effector pose (T, 9 A) as a SLAM-tracked device records it: per arm, position plus white noise
  plus a random walk (drift from zero at the first step), and both rotation columns turned by a rotation of
  the same kind. `dt`: seconds between steps."""
  t, width = ee_pose.shape
  out = np.array(ee_pose, np.float64)
  walk = lambda scale, n: np.cumsum(np.concatenate(
      [np.zeros((1, n)), rng.normal(0.0, scale * np.sqrt(dt), (t - 1, n))]), axis=0)
  for a in range(width // 9):
    p = slice(9 * a, 9 * a + 3)
    out[:, p] += rng.normal(0.0, pose.noise_pos, (t, 3)) + walk(pose.drift_pos, 3)
    rot = _rotations(rng.normal(0.0, pose.noise_rot, (t, 3)) + walk(pose.drift_rot, 3))
    for c in (3, 6):
      col = slice(9 * a + c, 9 * a + c + 3)
      out[:, col] = np.einsum('tij,tj->ti', rot, out[:, col])
  return out.astype(ee_pose.dtype)


def style_key(style: Style) -> str:
  """A short hash of every setting."""
  return hashlib.sha256(json.dumps(style.to_dict(), sort_keys=True).encode()).hexdigest()[:10]


def motion_key(style: Style) -> str:
  """A short hash of what decides whether the demonstrator succeeds, the motion settings and the control rate
  it runs at (pose error, appearance and views are applied to what is recorded): the scripted-success
  table's key, so a level whose motion changes is measured again."""
  what = style.to_dict()['motion']
  if style.recording.control_dt:
    what = {'motion': what, 'control_dt': style.recording.control_dt}
  return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:10]


def read_success_table(path: str = SUCCESS_TABLE) -> list:
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return json.load(f)['rows']


def record_success(rows: list, path: str = SUCCESS_TABLE) -> None:
  """Adds measured rows ({task, source, backend, level, motion_key, successes, episodes, rate, ...}, measured
  on today's scene) to the table, replacing rows of the same (task, source, backend, motion_key) and those of
  the same level measured under an earlier definition of it or on an earlier scene."""
  ident = lambda r: (r['task'], r['source'], r['backend'], r['motion_key'])
  new = {ident(r) for r in rows} | {(r['task'], r['source'], r['backend'], r['level']) for r in rows}
  rows = [{**r, 'scene_version': r.get('scene_version', scene.SCENE_VERSION)} for r in rows]
  kept = [r for r in read_success_table(path)
          if ident(r) not in new and (r['task'], r['source'], r['backend'], r['level']) not in new]
  table = sorted(kept + list(rows), key=lambda r: (r['task'], r['source'], r['backend'], r['level']))
  tmp = path + '.tmp'
  with open(tmp, 'w') as f:
    json.dump({'what': 'scripted success per (task, source, physics, style): tools/check_demos.py --record',
               'rows': table}, f, indent=1)
  os.replace(tmp, path)


def check_measured(task: str, sources: dict, backend: str, styles: dict, path: str = SUCCESS_TABLE) -> None:
  """Refuses a style with non-default motion whose demonstrator has no measured scripted success of at least
  MIN_SUCCESS for this task and physics (`sources` {name: level}); the error says how to measure it."""
  # rows measured on another scene (glam_jax.sim.scene.SCENE_VERSION; rows before versions: 1) do not count
  table = {(r['task'], r['source'], r['backend'], r['motion_key']): r for r in read_success_table(path)
           if r.get('scene_version', 1) == scene.SCENE_VERSION}
  for source, style in styles.items():
    if style.motion == DEFAULT.motion and not style.recording.control_dt:
      continue
    row = table.get((task, source, backend, motion_key(style)))
    if row is None:
      raise ValueError(
          f'{task}/{source} at heterogeneity level {sources[source]} (motion {motion_key(style)}) on {backend} physics '
          f'has no measured scripted success; measure it: python tools/check_demos.py --tasks={task} '
          f'--sources={source} --levels={sources[source]} --backend={backend} --record')
    if row['rate'] < MIN_SUCCESS:
      raise ValueError(f'{task}/{source} at heterogeneity level {sources[source]} on {backend} physics: its scripted '
                       f'demonstrator succeeds {row["successes"]}/{row["episodes"]}, below {MIN_SUCCESS:.0%}')
