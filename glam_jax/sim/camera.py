"""Cameras rendered inside jit by ray casting the scene's primitives: shaded RGB, depth, object masks.

Why not `mjx.ray`: it returns distance and geom id only, and tests every geom type for every ray. Scenes
here are built from planes, spheres, capsules and boxes only, so this caster intersects each ray with each
primitive of those four types in closed form (one dense [rays, geoms] computation per type), and takes the
surface normal of the nearest hit for Lambertian shading. Cameras are fixed, so ray origins and
directions are constants of the model. Depth is the z-depth along the optical axis (as MuJoCo renders
it); rays that hit nothing get `FAR`.
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import mujoco
import numpy as np

FAR = 5.0
LIGHT_DIR = np.array([0.35, 0.25, 1.0]) / np.linalg.norm([0.35, 0.25, 1.0])   # towards the light
AMBIENT = 0.35
SKY = np.array([0.78, 0.84, 0.9])
_TYPES = tuple(int(t) for t in (mujoco.mjtGeom.mjGEOM_PLANE, mujoco.mjtGeom.mjGEOM_SPHERE,
                                 mujoco.mjtGeom.mjGEOM_CAPSULE, mujoco.mjtGeom.mjGEOM_BOX))
_EPS = 1e-9


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


def make_rig(model: mujoco.MjModel, camera_names, height: int, width: int, mask_geom_names=()) -> CameraRig:
  if height < 1 or width < 1:
    raise ValueError(f'image size must be positive, got {height}x{width}')
  data = mujoco.MjData(model)
  mujoco.mj_forward(model, data)
  origins, dirs, forward = [], [], []
  for name in camera_names:
    cam = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, name)
    if cam < 0:
      raise ValueError(f'model has no camera {name!r}')
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
  geom_type = np.full(model.ngeom, -1)
  rgba = model.geom_rgba.copy()
  has_mat = model.geom_matid >= 0
  rgba[has_mat] = model.mat_rgba[model.geom_matid[has_mat]]
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
      geom_type=geom_type, geom_size=model.geom_size.copy(), geom_rgb=rgba[:, :3].copy(), mask_geoms=mask)


# Ray-primitive tests work on vector components kept as separate arrays (x, y, z), so each primitive type is
# one elementwise computation over [cams, rays, geoms] that XLA fuses with the reduction over geoms; a
# trailing axis of size 3 would instead materialise many large intermediates.

def _to_local(o, d, pos, mat):
  """Ray origins (C, 3) and directions (C, R, 3) in the frames of G geoms, as components of shape
  (C, 1, G) and (C, R, G)."""
  rel = o[:, None] - pos[None]                                         # (C, G, 3)
  o_l = [jnp.sum(rel * mat[None, :, :, i], -1)[:, None] for i in range(3)]
  d_l = [sum(d[..., j:j + 1] * mat[None, None, :, j, i] for j in range(3)) for i in range(3)]
  return o_l, d_l


def _sphere_t(oc, d, r):
  """Nearest positive hit with spheres; oc = origin - centre and d as components."""
  b = oc[0] * d[0] + oc[1] * d[1] + oc[2] * d[2]
  c = oc[0] ** 2 + oc[1] ** 2 + oc[2] ** 2 - r ** 2
  disc = b * b - c
  t = -b - jnp.sqrt(jnp.maximum(disc, 0.0))
  return jnp.where((disc > 0) & (t > 0), t, jnp.inf)


def _plane_t(o, d, size):
  t = -o[2] / jnp.where(d[2] < -_EPS, d[2], -_EPS)
  px, py = o[0] + t * d[0], o[1] + t * d[1]
  inside = (((jnp.abs(px) <= size[:, 0]) | (size[:, 0] <= 0))
            & ((jnp.abs(py) <= size[:, 1]) | (size[:, 1] <= 0)))
  return jnp.where((d[2] < -_EPS) & (t > 0) & inside, t, jnp.inf)


def _capsule_t(o, d, size):
  r, h = size[:, 0], size[:, 1]
  a = d[0] ** 2 + d[1] ** 2
  b = o[0] * d[0] + o[1] * d[1]
  c = o[0] ** 2 + o[1] ** 2 - r ** 2
  disc = b * b - a * c
  t_cyl = (-b - jnp.sqrt(jnp.maximum(disc, 0.0))) / jnp.maximum(a, _EPS)
  z = o[2] + t_cyl * d[2]
  t_cyl = jnp.where((disc > 0) & (a > _EPS) & (t_cyl > 0) & (jnp.abs(z) <= h), t_cyl, jnp.inf)
  t_top = _sphere_t((o[0], o[1], o[2] - h), d, r)
  t_bot = _sphere_t((o[0], o[1], o[2] + h), d, r)
  return jnp.minimum(t_cyl, jnp.minimum(t_top, t_bot))


def _box_t(o, d, size):
  near, far = -jnp.inf, jnp.inf
  for i in range(3):
    inv = 1.0 / jnp.where(jnp.abs(d[i]) > _EPS, d[i], _EPS)
    t1 = (-size[:, i] - o[i]) * inv
    t2 = (size[:, i] - o[i]) * inv
    near = jnp.maximum(near, jnp.minimum(t1, t2))
    far = jnp.minimum(far, jnp.maximum(t1, t2))
  return jnp.where((far >= near) & (near > 0), near, jnp.inf)


_HIT = (_plane_t, None, _capsule_t, _box_t)


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


def cast(rig: CameraRig, geom_xpos, geom_xmat):
  """Nearest hit of every ray: distance (C, R) (inf when none) and geom id (C, R) (-1 when none)."""
  o = jnp.asarray(rig.origins, geom_xpos.dtype)
  d = jnp.asarray(rig.dirs, geom_xpos.dtype)
  best_t = jnp.full(d.shape[:2], jnp.inf, d.dtype)
  best_id = jnp.full(d.shape[:2], -1, jnp.int32)
  for k, gids in enumerate(rig.geom_ids):
    if len(gids) == 0:
      continue
    pos, mat = geom_xpos[gids], geom_xmat[gids].reshape(-1, 3, 3)
    size = jnp.asarray(rig.geom_size[gids], geom_xpos.dtype)
    if k == 1:   # spheres need no rotation
      oc = [(o[:, i:i + 1] - pos[None, :, i])[:, None] for i in range(3)]
      t = _sphere_t(oc, [d[..., i:i + 1] for i in range(3)], size[:, 0])
    else:
      t = _HIT[k](*_to_local(o, d, pos, mat), size)
    t_k, i_k = jnp.min(t, -1), jnp.argmin(t, -1)
    closer = t_k < best_t
    best_t = jnp.where(closer, t_k, best_t)
    best_id = jnp.where(closer, jnp.asarray(gids, jnp.int32)[i_k], best_id)
  return best_t, best_id


def render(rig: CameraRig, geom_xpos, geom_xmat) -> dict:
  """Images of every view: `{name}/rgb` (H, W, 3) uint8, `{name}/depth` (H, W) float32 m,
  `{name}/mask` (H, W) uint8 in {0, 1}."""
  t, gid = cast(rig, geom_xpos, geom_xmat)
  hit = gid >= 0
  safe = jnp.maximum(gid, 0)
  o = jnp.asarray(rig.origins, geom_xpos.dtype)
  d = jnp.asarray(rig.dirs, geom_xpos.dtype)
  t_safe = jnp.where(hit, t, 0.0)
  p = o[:, None] + t_safe[..., None] * d
  mat = geom_xmat[safe].reshape(*safe.shape, 3, 3)
  local_p = jnp.einsum('crj,crji->cri', p - geom_xpos[safe], mat)
  kind = jnp.asarray(rig.geom_type)[safe]
  size = jnp.asarray(rig.geom_size, geom_xpos.dtype)[safe]
  n = jnp.einsum('crij,crj->cri', mat, _normals(local_p, kind, size))
  albedo = jnp.asarray(rig.geom_rgb, geom_xpos.dtype)[safe]
  # A faint 10 cm checkerboard on the table plane so that motion over it reads.
  cell = jnp.floor(p[..., 0] / 0.1) + jnp.floor(p[..., 1] / 0.1)
  albedo = albedo * jnp.where((kind == 0) & (jnp.mod(cell, 2) == 1), 0.9, 1.0)[..., None]
  shade = AMBIENT + (1 - AMBIENT) * jnp.clip(n @ jnp.asarray(LIGHT_DIR, n.dtype), 0.0, 1.0)
  sky = jnp.asarray(SKY, n.dtype) * (0.85 + 0.15 * jnp.clip(d[..., 2:3], 0, 1))
  rgb = jnp.where(hit[..., None], albedo * shade[..., None], sky)
  rgb = jnp.clip(rgb * 255.0 + 0.5, 0, 255).astype(jnp.uint8)
  depth = jnp.where(hit, t * jnp.einsum('crj,cj->cr', d, jnp.asarray(rig.forward, d.dtype)), FAR)
  mask = (jnp.asarray(rig.mask_geoms)[safe] & hit).astype(jnp.uint8)
  shape = (rig.height, rig.width)
  out = {}
  for c, name in enumerate(rig.names):
    out[f'{name}/rgb'] = rgb[c].reshape(*shape, 3)
    out[f'{name}/depth'] = depth[c].reshape(shape).astype(jnp.float32)
    out[f'{name}/mask'] = mask[c].reshape(shape)
  return out
