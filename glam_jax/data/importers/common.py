"""What every importer shares: a format's reader describes its keys (`SourceInfo`) and yields raw episodes
(`RawEpisode`); this module maps the chosen keys onto the project's fields, converts rotations, crops and
resizes images, adds masks, and writes through `DatasetWriter`, inside its context so that a failed import
leaves no output directory.

Choosing keys (`Fields`). A *spec* names per-step values of the source: `KEY`, `KEY[i]`, `KEY[a:b]`, or the
difference of two single values `KEY[i]-KEY[j]` (a gripper opening from two finger joints). Per arm:
`ee_pos` + `ee_rot` (in the rotation format `rot`), or `ee_pose` already in the project's layout (position,
then the first two columns of the rotation matrix: 9 numbers), and `gripper` (one number, the opening).
Concatenated over arms: `joint_pos`, `joint_target`, `action`. Views: (source image key, view name) pairs,
stored as `{view}/rgb` (+ `{view}/mask` with a mask provider, `{view}/depth` where `depth` names one).
Images are centre-cropped to a square and resized to `image_size`.

Imported episodes are taken as given: `scripted_success_rate` is 1.0 and `attempts` the episode count
(unless the source is a glam_jax export, whose meta.json fields come back); `imported_from` records the
format, path, keys and options.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import os
import re
from typing import Callable, Iterator

import numpy as np
from PIL import Image
from tqdm import tqdm

from glam_jax.data.importers import masks as masks_lib
from glam_jax.data.schema import DatasetError
from glam_jax.data.writer import DatasetWriter

CHUNK = 32                               # frames processed together (bounded memory at any source resolution)
ROT_DIMS = {'quat_xyzw': 4, 'quat_wxyz': 4, 'axis_angle': 3, 'euler_xyz': 3, 'rot6d': 6, 'matrix': 9}
POSE_DIM = 9


class SourceError(DatasetError):
  """A source dataset (LeRobot, robomimic, UMI) is missing, malformed, or lacks what the import asks for."""


@dataclasses.dataclass(frozen=True)
class Fields:
  """Which source keys become which fields; a format gives defaults, the user overrides any of them."""
  views: tuple = ()           # ((source image key, view name), ...)
  ee_pose: tuple = ()         # per arm: specs of 9 values in the project's layout
  ee_pos: tuple = ()          # per arm: specs of 3 values
  ee_rot: tuple = ()          # per arm: specs in `rot`
  rot: str = 'quat_xyzw'      # a key of ROT_DIMS
  gripper: tuple = ()         # per arm: specs of 1 value
  joint_pos: tuple = ()       # concatenated; none: no proprioception
  joint_target: tuple = ()    # concatenated; the absolute form of the actions (data/action_space.py)
  action: tuple = ()          # concatenated; none: an auxiliary source
  depth: tuple = ()           # ((source key, view), ...) float (H, W) images

  def override(self, **given) -> Fields:
    """These fields with `given` ones replaced; naming either end-effector form drops the other."""
    given = {k: v if k == 'rot' else tuple(tuple(p) if isinstance(p, list) else p for p in v)
             for k, v in given.items()}          # lists (from JSON or callers) as tuples
    out = dataclasses.replace(self, **given)
    if {'ee_pos', 'ee_rot'} & set(given) and 'ee_pose' not in given:
      out = dataclasses.replace(out, ee_pose=())
    if 'ee_pose' in given and not {'ee_pos', 'ee_rot'} & set(given):
      out = dataclasses.replace(out, ee_pos=(), ee_rot=())
    return out


@dataclasses.dataclass
class SourceInfo:
  """What a reader found: its per-step keys with their sizes, and defaults for the import."""
  path: str
  format: str                            # e.g. 'lerobot v3.0'
  lowdim: dict                           # key -> dim of its per-step vector
  images: dict                           # key -> shape of one image (H, W[, C])
  num_episodes: int
  fields: Fields                         # the format's default choice of keys
  fps: float | None = None               # None: the source does not say; the user must
  embodiment: str = ''
  task: str = ''
  mask_keys: dict = dataclasses.field(default_factory=dict)     # view -> key of masks shipped by convention
  unavailable: dict = dataclasses.field(default_factory=dict)   # key -> why it cannot be read here
  meta: dict = dataclasses.field(default_factory=dict)          # meta.json fields the source restores


@dataclasses.dataclass
class RawEpisode:
  """One source episode: the requested per-step vectors (length, d) and a frame iterator per image key."""
  name: str                                          # where it is, for errors
  length: int
  lowdim: dict
  frames: Callable[[str], Iterator[np.ndarray]]


@dataclasses.dataclass(frozen=True)
class ImportOptions:
  fields: dict = dataclasses.field(default_factory=dict)    # Fields overrides
  image_size: int | None = None          # None: the source's (a glam_jax export) or the data recipe's
  masks: str = 'auto'                    # masks.parse
  drop_actions: bool = False             # import as an auxiliary source (no action, no joint_target)
  embodiment: str = ''
  task: str = ''
  source: str = ''                       # meta.json "source"; default: the embodiment
  fps: float = 0.0                       # 0: the source's rate
  stride: int = 1                        # keep every stride-th step
  overwrite: bool = False
  progress: bool = True


# -- specs --------------------------------------------------------------------------------------------------
_REF = re.compile(r'(?P<key>[^\[\]]+?)(?:\[(?P<index>-?\d+)\]|\[(?P<start>-?\d*):(?P<stop>-?\d*)\])?')
_DIFF = re.compile(r'(?P<a>[^\[\]]+\[-?\d+\])-(?P<b>[^\[\]]+\[-?\d+\])')


def parse_spec(spec: str) -> list[tuple[int, str, slice]]:
  """'KEY', 'KEY[i]', 'KEY[a:b]' or 'KEY[i]-KEY[j]' -> [(sign, key, columns)]."""
  m = _REF.fullmatch(spec)
  if m:
    return [(1, m['key'], _columns(m))]
  m = _DIFF.fullmatch(spec)
  if m:
    a, b = _REF.fullmatch(m['a']), _REF.fullmatch(m['b'])
    return [(1, a['key'], _columns(a)), (-1, b['key'], _columns(b))]
  raise ValueError(f'bad key spec {spec!r}; expected KEY, KEY[i], KEY[a:b] or KEY[i]-KEY[j]')


def _columns(m) -> slice:
  if m['index'] is not None:
    i = int(m['index'])
    return slice(i, i + 1 if i != -1 else None)
  if m['start'] is None:
    return slice(None)
  return slice(int(m['start']) if m['start'] else None, int(m['stop']) if m['stop'] else None)


def spec_dim(spec: str, info: SourceInfo, what: str) -> int:
  """The number of values `spec` selects; unknown keys and empty selections name the source and the keys it has."""
  try:
    refs = parse_spec(spec)
  except ValueError as e:
    raise SourceError(f'{info.path}: {what}: {e}') from None
  dims = []
  for _, key, cols in refs:
    if key not in info.lowdim:
      why = f' ({info.unavailable[key]})' if key in info.unavailable else ''
      raise SourceError(f'{info.path}: {what}: unknown key "{key}"{why}; the per-step keys are '
                        f'{sorted(info.lowdim)}')
    n = len(range(info.lowdim[key])[cols])
    if n == 0:
      raise SourceError(f'{info.path}: {what}: "{spec}" selects nothing of "{key}" ({info.lowdim[key]} values)')
    dims.append(n)
  if len(dims) == 2 and dims != [1, 1]:
    raise SourceError(f'{info.path}: {what}: a difference needs single values, got "{spec}"')
  return dims[0]


def select(spec: str, arrays: dict) -> np.ndarray:
  """(T, d) float64 values of a spec (checked by spec_dim first)."""
  out = None
  for sign, key, cols in parse_spec(spec):
    x = sign * np.asarray(arrays[key], np.float64).reshape(len(arrays[key]), -1)[:, cols]
    out = x if out is None else out + x
  return out


def spec_keys(specs) -> set:
  return {key for s in specs for _, key, _ in parse_spec(s)}


# -- rotations ----------------------------------------------------------------------------------------------
def rotation_matrix(rot: np.ndarray, fmt: str) -> np.ndarray:
  """(T, k) rotations in `fmt` -> (T, 3, 3) matrices. Quaternions are normalised; axis-angle is a rotation
  vector (angle = norm); euler_xyz is extrinsic x, then y, then z (R = Rz Ry Rx), in radians."""
  rot = np.asarray(rot, np.float64)
  if fmt in ('quat_xyzw', 'quat_wxyz'):
    q = rot / np.linalg.norm(rot, axis=-1, keepdims=True)
    x, y, z, w = q.T if fmt == 'quat_xyzw' else q[:, [1, 2, 3, 0]].T
    return np.stack([np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)], -1),
                     np.stack([2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)], -1),
                     np.stack([2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)], -1)], -2)
  if fmt == 'axis_angle':
    angle = np.linalg.norm(rot, axis=-1)
    axis = rot / np.where(angle > 1e-12, angle, 1.0)[:, None]
    k = np.zeros((len(rot), 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k = k - k.transpose(0, 2, 1)
    s, c = np.sin(angle)[:, None, None], np.cos(angle)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)
  if fmt == 'euler_xyz':
    def axis_rot(a, i):
      r = np.tile(np.eye(3), (len(a), 1, 1))
      j, k = [(1, 2), (2, 0), (0, 1)][i]
      r[:, j, j], r[:, j, k], r[:, k, j], r[:, k, k] = np.cos(a), -np.sin(a), np.sin(a), np.cos(a)
      return r
    return axis_rot(rot[:, 2], 2) @ axis_rot(rot[:, 1], 1) @ axis_rot(rot[:, 0], 0)
  if fmt == 'rot6d':
    c0, c1 = rot[:, :3], rot[:, 3:6]
    return np.stack([c0, c1, np.cross(c0, c1)], -1)
  if fmt == 'matrix':
    return rot.reshape(-1, 3, 3)
  raise ValueError(f'unknown rotation format {fmt!r}; valid: {", ".join(ROT_DIMS)}')


def pose9(pos: np.ndarray, rot: np.ndarray, fmt: str) -> np.ndarray:
  """Position + the first two rotation-matrix columns: the project's `ee_pose` layout (sim/env.py)."""
  r = rotation_matrix(rot, fmt)
  return np.concatenate([np.asarray(pos, np.float64), r[:, :, 0], r[:, :, 1]], -1)


# -- images -------------------------------------------------------------------------------------------------
def _crop(img: np.ndarray) -> np.ndarray:
  h, w = img.shape[:2]
  s = min(h, w)
  return img[(h - s) // 2:(h - s) // 2 + s, (w - s) // 2:(w - s) // 2 + s]


def as_rgb(img: np.ndarray) -> np.ndarray:
  """(H, W[, 1|3|4]) -> (H, W, 3) uint8: grey repeated, alpha dropped."""
  img = np.asarray(img)
  if img.ndim == 2:
    img = img[..., None]
  return (np.repeat(img, 3, -1) if img.shape[-1] == 1 else img[..., :3]).astype(np.uint8, copy=False)


def square_rgb(img: np.ndarray, size: int) -> np.ndarray:
  """(H, W[, 1|3|4]) uint8 -> (size, size, 3) uint8: centre crop, antialiased bilinear resize."""
  img = _crop(as_rgb(img))
  if img.shape[0] == size:
    return img
  return np.asarray(Image.fromarray(img).resize((size, size), Image.Resampling.BILINEAR))


def square_mask(mask: np.ndarray, size: int) -> np.ndarray:
  """(H, W) bool -> (size, size) uint8 in {0, 1}: centre crop, then a pixel is set where most of its area is."""
  m = _crop(np.asarray(mask).astype(bool)).astype(np.uint8) * 255
  if m.shape[0] != size:
    m = np.asarray(Image.fromarray(m).resize((size, size), Image.Resampling.BILINEAR))
  return (m >= 128).astype(np.uint8)


def square_depth(depth: np.ndarray, size: int) -> np.ndarray:
  d = _crop(np.asarray(depth, np.float32).reshape(np.shape(depth)[:2]))
  if d.shape[0] == size:
    return d
  return np.asarray(Image.fromarray(d, 'F').resize((size, size), Image.Resampling.BILINEAR), np.float32)


# -- the plan: what will be written -------------------------------------------------------------------------
def recipe_image_size() -> int:
  """The data recipe's image size (experiments/configs/data.py), what training expects by default."""
  from glam_jax import configs
  return int(configs.load('data').image_size)


@dataclasses.dataclass(frozen=True)
class Plan:
  fields: Fields
  num_arms: int
  lowdim_fields: dict
  frame_fields: dict
  image_size: int
  masks: object            # a masks provider, or None
  meta: dict               # meta.json fields besides those the writer sets


def make_plan(info: SourceInfo, options: ImportOptions) -> Plan:
  """Checks every chosen key against the source before anything is written."""
  f = info.fields.override(**options.fields)
  if options.drop_actions:
    f = dataclasses.replace(f, action=(), joint_target=())
  if f.rot not in ROT_DIMS:
    raise ValueError(f'unknown rotation format {f.rot!r}; valid: {", ".join(ROT_DIMS)}')
  if options.stride < 1:
    raise ValueError(f'stride must be positive, got {options.stride}')
  if not f.views:
    raise SourceError(f'{info.path}: no camera images chosen; the image keys are {sorted(info.images)}')
  views = [v for _, v in f.views]
  for key, view in f.views + f.depth:
    if key not in info.images:
      why = f' ({info.unavailable[key]})' if key in info.unavailable else ''
      raise SourceError(f'{info.path}: views: unknown image key "{key}"{why}; the image keys are {sorted(info.images)}')
    if not view or '/' in view:
      raise SourceError(f'{info.path}: views: view name {view!r} must be non-empty without "/"')
  if len(set(views)) != len(views):
    raise SourceError(f'{info.path}: views: view names repeat: {views}')
  for _, view in f.depth:
    if view not in views:
      raise SourceError(f'{info.path}: depth: view "{view}" is not among the views {views}')

  if f.ee_pose:
    num_arms = len(f.ee_pose)
    for s in f.ee_pose:
      _expect(spec_dim(s, info, 'ee_pose'), POSE_DIM, s, 'ee_pose', info)
  elif f.ee_pos or f.ee_rot:
    if len(f.ee_pos) != len(f.ee_rot):
      raise SourceError(f'{info.path}: ee_pos names {len(f.ee_pos)} arm(s), ee_rot {len(f.ee_rot)}')
    num_arms = len(f.ee_pos)
    for s in f.ee_pos:
      _expect(spec_dim(s, info, 'ee_pos'), 3, s, 'ee_pos', info)
    for s in f.ee_rot:
      _expect(spec_dim(s, info, 'ee_rot'), ROT_DIMS[f.rot], s, f'ee_rot (rot={f.rot})', info)
  else:
    raise SourceError(f'{info.path}: no end-effector pose; name it with ee_pose (9 per arm: position, then the '
                      f'first two rotation-matrix columns) or ee_pos + ee_rot + rot; the per-step keys are '
                      f'{sorted(info.lowdim)}')
  if len(f.gripper) != num_arms:
    raise SourceError(f'{info.path}: gripper names {len(f.gripper)} value(s) for {num_arms} arm(s); the per-step '
                      f'keys are {sorted(info.lowdim)}')
  for s in f.gripper:
    _expect(spec_dim(s, info, 'gripper'), 1, s, 'gripper', info)
  dims = {'ee_pose': POSE_DIM * num_arms, 'gripper': num_arms}
  for name in ('joint_pos', 'joint_target', 'action'):
    if getattr(f, name):
      dims[name] = sum(spec_dim(s, info, name) for s in getattr(f, name))

  fps = options.fps or info.fps
  if not fps:
    raise SourceError(f'{info.path}: the source does not record its control rate; pass fps')
  size = options.image_size or info.meta.get('image_size') or recipe_image_size()
  provider = masks_lib.parse(options.masks, views, info.mask_keys)
  frame_fields = {}
  depth_views = {v for _, v in f.depth}
  for view in views:
    frame_fields[f'{view}/rgb'] = {'shape': (size, size, 3), 'dtype': 'uint8'}
    if provider is not None:
      frame_fields[f'{view}/mask'] = {'shape': (size, size), 'dtype': 'uint8'}
    if view in depth_views:
      frame_fields[f'{view}/depth'] = {'shape': (size, size), 'dtype': 'float32'}
  if isinstance(provider, masks_lib.Shipped):
    for key in provider.keys_for(views):
      if key not in info.images:
        raise SourceError(f'{info.path}: masks: unknown image key "{key}"; the image keys are {sorted(info.images)}')

  restored = info.meta if options.stride == 1 else {}
  embodiment = options.embodiment or restored.get('embodiment') or info.embodiment or 'unknown'
  meta = dict(
      task=options.task or restored.get('task') or info.task or 'unknown',
      source=options.source or restored.get('source') or embodiment, embodiment=embodiment, num_arms=num_arms,
      has_actions='action' in dims, has_proprio='joint_pos' in dims, action_dim=dims.get('action', 0),
      proprio_dim=dims['joint_pos'] + num_arms if 'joint_pos' in dims else 0,
      ctrl_dt=float(options.stride / fps if options.fps or 'ctrl_dt' not in restored else restored['ctrl_dt']),
      image_size=int(size), views=views,
      seed=int(restored.get('seed', 0)),
      imported_from={'format': info.format, 'path': info.path,
                     'fields': json.loads(json.dumps(dataclasses.asdict(f))),    # as meta.json reads back
                     'masks': options.masks, 'stride': options.stride})
  for k in ('scripted_success_rate', 'attempts'):
    if k in restored:
      meta[k] = restored[k]
  lowdim_fields = {k: {'dim': d, 'dtype': 'float32'} for k, d in dims.items()}
  return Plan(f, num_arms, lowdim_fields, frame_fields, int(size), provider, meta)


def _expect(dim: int, want: int, spec: str, what: str, info: SourceInfo) -> None:
  if dim != want:
    raise SourceError(f'{info.path}: {what}: "{spec}" has {dim} values, expected {want}')


def needed_keys(plan: Plan) -> set:
  """The per-step source keys an import reads."""
  f = plan.fields
  return spec_keys(f.ee_pose + f.ee_pos + f.ee_rot + f.gripper + f.joint_pos + f.joint_target + f.action)


# -- one episode --------------------------------------------------------------------------------------------
def episode_lowdim(ep: RawEpisode, plan: Plan, stride: int) -> dict:
  f, a = plan.fields, ep.lowdim
  if f.ee_pose:
    ee = np.concatenate([select(s, a) for s in f.ee_pose], -1)
  else:
    ee = np.concatenate([pose9(select(p, a), select(r, a), f.rot) for p, r in zip(f.ee_pos, f.ee_rot)], -1)
  out = {'ee_pose': ee, 'gripper': np.concatenate([select(s, a) for s in f.gripper], -1)}
  for name in ('joint_pos', 'joint_target', 'action'):
    if name in plan.lowdim_fields:
      out[name] = np.concatenate([select(s, a) for s in getattr(f, name)], -1)
  return {k: v[::stride].astype(np.float32) for k, v in out.items()}


def episode_frames(ep: RawEpisode, plan: Plan, stride: int, length: int) -> dict:
  """Every frame field of one episode, (length, ...), read and resized CHUNK frames at a time."""
  strided = lambda key: itertools.islice(ep.frames(key), 0, None, stride)
  size, out = plan.image_size, {}
  depth = dict((v, k) for k, v in plan.fields.depth)
  for index, (key, view) in enumerate(plan.fields.views):
    rgb = out[f'{view}/rgb'] = np.empty((length, size, size, 3), np.uint8)
    mask = None
    if plan.masks is not None:
      mask = out[f'{view}/mask'] = np.empty((length, size, size), np.uint8)
      mask_fn = plan.masks.start(strided, view, index, f'{ep.name}, view "{view}"')
    n = 0
    for chunk in _chunks(strided(key)):
      chunk = [as_rgb(x) for x in chunk]
      if n + len(chunk) > length:
        raise SourceError(f'{ep.name}: image key "{key}" has more frames than the episode\'s {length} steps')
      rgb[n:n + len(chunk)] = [square_rgb(x, size) for x in chunk]
      if mask is not None:
        mask[n:n + len(chunk)] = [square_mask(m, size) for m in mask_fn(np.stack(chunk))]
      n += len(chunk)
    if n != length:
      raise SourceError(f'{ep.name}: image key "{key}" has {n} frames, expected {length} (one per step)')
    if view in depth:
      frames = [square_depth(x, size) for x in strided(depth[view])]
      if len(frames) != length:
        raise SourceError(f'{ep.name}: depth key "{depth[view]}" has {len(frames)} frames, expected {length}')
      out[f'{view}/depth'] = np.stack(frames)
  return out


def _chunks(it):
  while True:
    chunk = list(itertools.islice(it, CHUNK))
    if not chunk:
      return
    yield chunk


# -- the import ---------------------------------------------------------------------------------------------
def write(reader, out: str, options: ImportOptions) -> dict:
  """Imports every episode of an open reader into `out`; returns the written meta.json."""
  info = reader.info
  plan = make_plan(info, options)
  keys = needed_keys(plan)
  skipped = 0
  with DatasetWriter(out, plan.frame_fields, plan.lowdim_fields, overwrite=options.overwrite) as writer:
    bar = tqdm(total=info.num_episodes, desc=f'import {info.format}', unit='ep', disable=not options.progress)
    for ep in reader.episodes(keys):
      length = len(range(0, ep.length, options.stride))
      if length < 2:             # a transition needs two steps
        skipped += 1
        logging.warning('%s: %d step(s) after stride %d, skipped', ep.name, length, options.stride)
      else:
        writer.add_episode(episode_lowdim(ep, plan, options.stride),
                           episode_frames(ep, plan, options.stride, length))
      bar.update(1)
    bar.close()
    meta = dict(plan.meta)
    meta.setdefault('scripted_success_rate', 1.0)
    meta.setdefault('attempts', len(writer.lengths))
    return writer.close(**meta, skipped_episodes=skipped)


def abspath(path: str) -> str:
  return os.path.abspath(os.path.expanduser(path))
