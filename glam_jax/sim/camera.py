"""Cameras rendered inside jit by ray casting the scene's primitives: shaded RGB, depth, object masks.

Why not `mjx.ray`: it returns distance and geom id only, and tests every geom type for every ray. Scenes
here are built from planes, spheres, capsules and boxes only, so this caster intersects each ray with each
primitive of those four types in closed form (one dense [cams, geoms, rays] computation per type, fused
with the nearest-hit reduction), and takes the surface normal of the nearest hit for Lambertian shading.
A fixed camera's ray origins and directions are constants of the model; a camera on a moving body (the
wrist camera) follows a geom of that body, so its rays are those constants turned by that geom's pose.
Depth is the z-depth along the optical axis (as MuJoCo renders it); rays that hit nothing get `FAR`.
"""
from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from glam_jax.sim import native_ffi

FAR = 5.0
SKY = np.array([0.78, 0.84, 0.9])
_TYPES = tuple(int(t) for t in (mujoco.mjtGeom.mjGEOM_PLANE, mujoco.mjtGeom.mjGEOM_SPHERE,
                                 mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_BOX))
_EPS = 1e-9


@dataclasses.dataclass(frozen=True)
class Appearance:
  """Light and table texture of the renders: what differs between recordings of different sources."""
  light_dir: tuple = (0.35, 0.25, 1.0)     # towards the light (normalised when used)
  ambient: float = 0.35                    # share of the light that reaches every surface
  table_rgb: tuple | None = None           # the table's colour; None: the scene's
  checker: float = 0.1                     # side (m) of the table's checkerboard cells
  checker_contrast: float = 0.1            # darkening of every other cell


@dataclasses.dataclass(frozen=True)
class CameraRig:
  """Static description of the views and the renderable geometry of one model (numpy, jit constants)."""
  names: tuple
  height: int
  width: int
  origins: np.ndarray      # (num_cams, 3)
  dirs: np.ndarray         # (num_cams, H * W, 3), unit length, world frame
  forward: np.ndarray      # (num_cams, 3) optical axis
  geom_ids: tuple          # per primitive type (plane, sphere, capsule, box): renderable geom ids
  geom_type: np.ndarray    # (ngeom,) index into _TYPES (or -1)
  geom_size: np.ndarray    # (ngeom, 3)
  geom_rgb: np.ndarray     # (ngeom, 3)
  mask_geoms: np.ndarray   # (ngeom,) bool: geoms of the task's manipulated objects
  appearance: Appearance = Appearance()
  # cameras on a moving body follow a geom of that body (-1: fixed); their pose in that geom's frame, and
  # their ray directions in the camera's own frame
  anchor: np.ndarray = None      # (num_cams,) geom id or -1
  local_pos: np.ndarray = None   # (num_cams, 3)
  local_rot: np.ndarray = None   # (num_cams, 3, 3)
  local_dirs: np.ndarray = None  # (num_cams, H * W, 3)


def make_rig(model: mujoco.MjModel, camera_names, height: int, width: int, mask_geom_names=(),
             appearance: Appearance = Appearance()) -> CameraRig:
  if height < 1 or width < 1:
    raise ValueError(f'image size must be positive, got {height}x{width}')
  data = mujoco.MjData(model)
  mujoco.mj_forward(model, data)
  origins, dirs, forward, anchor, local_pos, local_rot, local_dirs = [], [], [], [], [], [], []
  for name in camera_names:
    cam = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
    if cam < 0:
      cams = [model.camera(i).name for i in range(model.ncam)]
      raise ValueError(f'model has no camera {name!r}; it has {", ".join(cams)}')
    rot = data.cam_xmat[cam].reshape(3, 3)       # columns: camera x (right), y (up), z (backwards)
    tan = np.tan(np.deg2rad(model.cam_fovy[cam]) / 2)
    u = ((np.arange(width) + 0.5) / width * 2 - 1) * tan * width / height
    v = (1 - (np.arange(height) + 0.5) / height * 2) * tan
    uu, vv = np.meshgrid(u, v)
    local = np.stack([uu, vv, -np.ones_like(uu)], -1).reshape(-1, 3)
    world = local @ rot.T
    dirs.append(world / np.linalg.norm(world, axis=-1, keepdims=True))
    origins.append(data.cam_xpos[cam].copy())
    forward.append(-rot[:, 2])
    local_dirs.append(local / np.linalg.norm(local, axis=-1, keepdims=True))
    body = int(model.cam_bodyid[cam])
    geoms = np.flatnonzero(model.geom_bodyid == body) if body > 0 else []
    if body > 0 and len(geoms) == 0:
      raise ValueError(f'camera {name!r} sits on a body without geoms: nothing to follow')
    g = int(geoms[0]) if body > 0 else -1
    g_rot = data.geom_xmat[g].reshape(3, 3) if g >= 0 else np.eye(3)
    anchor.append(g)
    local_pos.append(g_rot.T @ (data.cam_xpos[cam] - data.geom_xpos[g]) if g >= 0 else np.zeros(3))
    local_rot.append(g_rot.T @ rot)
  geom_type = np.full(model.ngeom, -1)
  rgba = model.geom_rgba.copy()
  has_mat = model.geom_matid >= 0
  rgba[has_mat] = model.mat_rgba[model.geom_matid[has_mat]]
  if appearance.table_rgb is not None:
    rgba[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, 'table'), :3] = appearance.table_rgb
  for g in range(model.ngeom):
    if rgba[g, 3] == 0:
      continue
    if int(model.geom_type[g]) not in _TYPES:
      raise ValueError(f'geom {model.geom(g).name or g} has type {mujoco.mjtGeom(model.geom_type[g]).name}; '
                       'the ray caster renders planes, spheres, capsules and boxes only')
    geom_type[g] = _TYPES.index(int(model.geom_type[g]))
  mask = np.zeros(model.ngeom, bool)
  for name in mask_geom_names:
    mask[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)] = True
  return CameraRig(
      names=tuple(camera_names), height=height, width=width, origins=np.array(origins),
      dirs=np.array(dirs, np.float32), forward=np.array(forward),
      geom_ids=tuple(np.nonzero(geom_type == k)[0] for k in range(len(_TYPES))),
      geom_type=geom_type, geom_size=model.geom_size.copy(), geom_rgb=rgba[:, :3].copy(), mask_geoms=mask,
      appearance=appearance, anchor=np.array(anchor, int), local_pos=np.array(local_pos),
      local_rot=np.array(local_rot), local_dirs=np.array(local_dirs, np.float32))


# Ray-primitive tests work on vector components kept as separate arrays (x, y, z) laid out [cams, geoms, rays]:
# each primitive type is one elementwise computation that XLA fuses with the reduction over geoms, and with rays
# as the minor axis that reduction vectorises (a trailing axis of size 3, or geoms minor, would not). Ray
# directions come as components of shape (C, 1, R); per-geom values have shape (C, G, 1) or (1, G, 1).

def _per_geom(x):
  """(G,) values of one component as (1, G, 1)."""
  return x[None, :, None]


def _offsets(o, pos):
  """Ray origin minus geom centre, as components of shape (C, G, 1)."""
  return [(o[:, None, i] - pos[None, :, i])[..., None] for i in range(3)]


def _dot(a, b):
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _to_local(w, d, mat):
  """Origins (offsets w) and directions d in the frames of the geoms: columns of the rotation matrices."""
  cols = [[_per_geom(mat[:, j, i]) for j in range(3)] for i in range(3)]
  return [_dot(w, c) for c in cols], [_dot(d, c) for c in cols]


def _sphere_hit(b, c):
  """Nearest positive root of t^2 + 2bt + c for a unit direction: b = d.(o - centre), c = |o - centre|^2 - r^2."""
  disc = b * b - c
  t = -b - jnp.sqrt(jnp.maximum(disc, 0.0))
  return jnp.where((disc > 0) & (t > 0), t, jnp.inf)


def _sphere_t(o, d, pos, mat, size):
  w = _offsets(o, pos)
  return _sphere_hit(_dot(d, w), _dot(w, w) - _per_geom(size[:, 0]) ** 2)


def _plane_t(o, d, pos, mat, size):
  o_l, d_l = _to_local(_offsets(o, pos), d, mat)
  t = -o_l[2] / jnp.where(d_l[2] < -_EPS, d_l[2], -_EPS)
  sx, sy = _per_geom(size[:, 0]), _per_geom(size[:, 1])
  inside = (((jnp.abs(o_l[0] + t * d_l[0]) <= sx) | (sx <= 0))
            & ((jnp.abs(o_l[1] + t * d_l[1]) <= sy) | (sy <= 0)))
  return jnp.where((d_l[2] < -_EPS) & (t > 0) & inside, t, jnp.inf)


def _capsule_t(o, d, pos, mat, size):
  """In the world frame with the capsule axis a: where the ray's line enters the infinite cylinder says
  whether it enters the capsule through the side (|z| <= h there) or through which end sphere, so each ray
  needs one cylinder and one sphere test. Written so that each square root and division has one use: XLA
  would otherwise materialise them as [cams, geoms, rays] arrays instead of fusing them into the reduction."""
  r, h = _per_geom(size[:, 0]), _per_geom(size[:, 1])
  w = _offsets(o, pos)
  a = [_per_geom(mat[:, i, 2]) for i in range(3)]
  wa, ww = _dot(w, a), _dot(w, w)
  da, dw = _dot(d, a), _dot(d, w)
  qa = 1.0 - da * da                        # t_cyl = num / qa; qa > 0 unless the ray is along the axis
  qb = dw - da * wa
  disc = qb * qb - qa * (ww - wa * wa - r * r)
  num = -qb - jnp.sqrt(jnp.maximum(disc, 0.0))
  z_qa = wa * qa + num * da                 # axial coordinate of the entry point, times qa
  side = qa > _EPS
  on_side = side & (disc > 0) & (num > 0) & (jnp.abs(z_qa) <= h * qa)
  end = jnp.where(jnp.where(side, z_qa > 0, da < 0), h, -h)       # offset of the end sphere along a
  t_end = _sphere_hit(dw - end * da, ww - 2 * end * wa + h * h - r * r)
  t_side = num / jnp.where(side, qa, 1.0)
  return jnp.where(on_side, t_side, jnp.where(side & (disc <= 0), jnp.inf, t_end))


def _box_t(o, d, pos, mat, size):
  o_l, d_l = _to_local(_offsets(o, pos), d, mat)
  near, far = -jnp.inf, jnp.inf
  for i in range(3):
    inv = 1.0 / jnp.where(jnp.abs(d_l[i]) > _EPS, d_l[i], _EPS)
    s = _per_geom(size[:, i])
    t1, t2 = (-s - o_l[i]) * inv, (s - o_l[i]) * inv
    near = jnp.maximum(near, jnp.minimum(t1, t2))
    far = jnp.minimum(far, jnp.maximum(t1, t2))
  return jnp.where((far >= near) & (near > 0), near, jnp.inf)


_HIT = (_plane_t, _sphere_t, _capsule_t, _box_t)
_NO_HIT = 2.0 ** 100      # stands for a miss in the key; a power of two keeps its low mantissa bits zero


def _id_bits(rig: CameraRig) -> int:
  return max(1, (len(rig.geom_type) - 1).bit_length())


def rays(rig: CameraRig, geom_xpos, geom_xmat):
  """Ray origins (C, 3), unit directions (C, R, 3) and optical axes (C, 3) of every camera in this state:
  constants for fixed cameras, and for a camera on a moving body its pose carried by its anchor geom."""
  dtype = jnp.float32
  if (rig.anchor < 0).all():
    return (jnp.asarray(rig.origins, dtype), jnp.asarray(rig.dirs, dtype), jnp.asarray(rig.forward, dtype))
  origins, dirs, forward = [], [], []
  for c, g in enumerate(rig.anchor):
    if g < 0:
      origins.append(jnp.asarray(rig.origins[c], dtype))
      dirs.append(jnp.asarray(rig.dirs[c], dtype))
      forward.append(jnp.asarray(rig.forward[c], dtype))
      continue
    g_rot = geom_xmat[g].reshape(3, 3).astype(dtype)
    rot = g_rot @ jnp.asarray(rig.local_rot[c], dtype)
    origins.append(geom_xpos[g].astype(dtype) + g_rot @ jnp.asarray(rig.local_pos[c], dtype))
    dirs.append(jnp.asarray(rig.local_dirs[c], dtype) @ rot.T)
    forward.append(-rot[:, 2])
  return jnp.stack(origins), jnp.stack(dirs), jnp.stack(forward)


def cast(rig: CameraRig, geom_xpos, geom_xmat):
  """Nearest hit of every ray: distance (C, R) (inf when none) and geom id (C, R) (-1 when none).

  Distance and geom id are reduced together as one int32 key: the bits of a positive float32 order like the
  float, and the lowest `_id_bits` mantissa bits are replaced by the geom id, so one min over geoms gives
  both (a variadic argmin does not vectorise). Distances lose those bits: relative error < 2^(bits - 23),
  under 0.1 mm at 2 m for up to 256 geoms."""
  bits = _id_bits(rig)
  low = (1 << bits) - 1
  o, dirs, _ = rays(rig, geom_xpos, geom_xmat)
  d = [dirs[:, None, :, i] for i in range(3)]
  best = jnp.full(rig.dirs.shape[:2], jnp.iinfo(jnp.int32).max, jnp.int32)
  for k, gids in enumerate(rig.geom_ids):
    if len(gids) == 0:
      continue
    pos, mat = geom_xpos[gids].astype(jnp.float32), geom_xmat[gids].reshape(-1, 3, 3).astype(jnp.float32)
    t = _HIT[k](o, d, pos, mat, jnp.asarray(rig.geom_size[gids], jnp.float32))
    key = jax.lax.bitcast_convert_type(jnp.minimum(t, _NO_HIT), jnp.int32)
    key = (key & ~low) | jnp.asarray(gids, jnp.int32)[None, :, None]
    best = jnp.minimum(best, jnp.min(key, axis=1))
  t = jax.lax.bitcast_convert_type(best & ~low, jnp.float32)
  hit = t < _NO_HIT
  return jnp.where(hit, t, jnp.inf), jnp.where(hit, best & low, -1)


def _normals(local_p, kind, size):
  """Outward normals at hit points given in the hit geom's frame, per primitive kind."""
  plane = jnp.broadcast_to(jnp.array([0.0, 0.0, 1.0]), local_p.shape)
  sphere = local_p
  capsule = local_p.at[..., 2].set(local_p[..., 2] - jnp.clip(local_p[..., 2], -size[..., 1], size[..., 1]))
  rel = jnp.abs(local_p) / jnp.maximum(size, _EPS)
  axis = jnp.argmax(rel, -1)
  box = jnp.sign(local_p) * (jnp.arange(3) == axis[..., None])
  n = jnp.select([kind[..., None] == k for k in range(4)], [plane, sphere, capsule, box])
  return n / jnp.maximum(jnp.linalg.norm(n, axis=-1, keepdims=True), _EPS)


def native() -> bool:
  """Whether `render` runs the C++ ray caster (glam_jax/sim/native_render.cc): on the CPU where the native
  library builds, unless GLAM_NATIVE_RENDER=0. Same images (tests/sim/test_native_render.py), 4-6x faster
  on the 2-core CPU; accelerators keep this module's caster."""
  return (os.environ.get('GLAM_NATIVE_RENDER', '1') != '0' and jax.default_backend() == 'cpu'
          and native_ffi.library() is not None)


def render(rig: CameraRig, geom_xpos, geom_xmat) -> dict:
  """Images of every view: `{name}/rgb` (H, W, 3) uint8, `{name}/depth` (H, W) float32 m,
  `{name}/mask` (H, W) uint8 in {0, 1}. The C++ caster on the CPU (`native`), else `render_jax`."""
  if not native():
    return render_jax(rig, geom_xpos, geom_xmat)
  rgb, depth, mask = native_ffi.ray_render(rig, geom_xpos, geom_xmat, _id_bits(rig))
  shape = (rig.height, rig.width)
  out = {}
  for c, name in enumerate(rig.names):
    out[f'{name}/rgb'] = rgb[c].reshape(*shape, 3)
    out[f'{name}/depth'] = depth[c].reshape(shape)
    out[f'{name}/mask'] = mask[c].reshape(shape)
  return out


def render_jax(rig: CameraRig, geom_xpos, geom_xmat) -> dict:
  """`render` in JAX: any device, any batching."""
  t, gid = cast(rig, geom_xpos, geom_xmat)
  hit = gid >= 0
  safe = jnp.maximum(gid, 0)
  o, d, forward = (x.astype(geom_xpos.dtype) for x in rays(rig, geom_xpos, geom_xmat))
  t_safe = jnp.where(hit, t, 0.0)
  p = o[:, None] + t_safe[..., None] * d
  mat = geom_xmat[safe].reshape(*safe.shape, 3, 3)
  local_p = jnp.einsum('crj,crji->cri', p - geom_xpos[safe], mat)
  kind = jnp.asarray(rig.geom_type)[safe]
  size = jnp.asarray(rig.geom_size, geom_xpos.dtype)[safe]
  n = jnp.einsum('crij,crj->cri', mat, _normals(local_p, kind, size))
  albedo = jnp.asarray(rig.geom_rgb, geom_xpos.dtype)[safe]
  look = rig.appearance
  # A faint checkerboard on the table plane so that motion over it reads.
  cell = jnp.floor(p[..., 0] / look.checker) + jnp.floor(p[..., 1] / look.checker)
  albedo = albedo * jnp.where((kind == 0) & (jnp.mod(cell, 2) == 1), 1.0 - look.checker_contrast, 1.0)[..., None]
  light = np.asarray(look.light_dir, np.float64) / np.linalg.norm(look.light_dir)
  shade = look.ambient + (1 - look.ambient) * jnp.clip(n @ jnp.asarray(light, n.dtype), 0.0, 1.0)
  sky = jnp.asarray(SKY, n.dtype) * (0.85 + 0.15 * jnp.clip(d[..., 2:3], 0, 1))
  rgb = jnp.where(hit[..., None], albedo * shade[..., None], sky)
  rgb = jnp.clip(rgb * 255.0 + 0.5, 0, 255).astype(jnp.uint8)
  depth = jnp.where(hit, t * jnp.einsum('crj,cj->cr', d, forward), FAR)
  mask = (jnp.asarray(rig.mask_geoms)[safe] & hit).astype(jnp.uint8)
  shape = (rig.height, rig.width)
  out = {}
  for c, name in enumerate(rig.names):
    out[f'{name}/rgb'] = rgb[c].reshape(*shape, 3)
    out[f'{name}/depth'] = depth[c].reshape(shape).astype(jnp.float32)
    out[f'{name}/mask'] = mask[c].reshape(shape)
  return out
