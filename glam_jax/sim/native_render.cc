// The ray caster of camera.py as an XLA FFI call on the CPU, built into the same library as native_step.cc.
//
// camera.py intersects every ray with every renderable geom: one dense [cams, geoms, rays] computation,
// which XLA vectorises but cannot skip. Here each image is cut into tiles of 8 x 8 rays; a tile tests only
// the geoms whose bounding sphere meets the cone of its rays (planes: every tile), a handful of the scene's
// geoms (1.2-1.4 per tile on average in lift's views), and the (env, camera) images are shared out over
// threads. The tiles' cones are constants of the rig, in the camera's frame (`native_ffi.tile_cones`).
//
// Same arithmetic as camera.py, in float32: the closed-form hits of planes, spheres, capsules and boxes;
// the nearest hit chosen by the same int32 key (distance bits with the geom id in the low mantissa bits,
// so ties go the same way and the distance keeps the same truncation); the same normals, checkerboard,
// Lambertian shade, sky, z-depth and masks. Results differ from XLA's only where float32 rounding of one
// operation differs (an FMA contracted here or there): a rare pixel at a silhouette.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "native_pool.h"
#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr float kEps = 1e-9f;
constexpr float kNoHit = 1.2676506002282294e30f;   // 2^100, as camera._NO_HIT
constexpr float kFar = 5.0f;
constexpr int kTile = 8;
enum Kind { kPlane = 0, kSphere = 1, kCapsule = 2, kBox = 3 };

struct Scene {          // the rig: constants of the model
  int64_t C, R, G, H, W, T;
  const float *origins, *dirs, *forward, *local_pos, *local_rot, *local_dirs, *size, *rgb;
  const float *tile_centre, *tile_cos, *tile_sin;     // each tile's cone: axis in the camera frame, cos/sin of its half-angle
  const int32_t *anchor, *kind;
  const uint8_t* mask;
  float light[3], ambient, checker, contrast, sky[3];
  int bits;
};

inline float Dot(const float* a, const float* b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }

inline float SphereHit(float b, float c) {
  const float disc = b * b - c;
  const float t = -b - std::sqrt(std::max(disc, 0.0f));
  return (disc > 0 && t > 0) ? t : std::numeric_limits<float>::infinity();
}

// Ray (origin o, unit direction d) against geom g at pos p with rotation m (row-major; columns = axes).
float Hit(int kind, const float* o, const float* d, const float* p, const float* m, const float* s) {
  const float w[3] = {o[0] - p[0], o[1] - p[1], o[2] - p[2]};
  const float inf = std::numeric_limits<float>::infinity();
  if (kind == kSphere) return SphereHit(Dot(d, w), Dot(w, w) - s[0] * s[0]);
  if (kind == kCapsule) {
    const float r = s[0], h = s[1];
    const float a[3] = {m[2], m[5], m[8]};
    const float wa = Dot(w, a), ww = Dot(w, w), da = Dot(d, a), dw = Dot(d, w);
    const float qa = 1.0f - da * da, qb = dw - da * wa;
    const float disc = qb * qb - qa * (ww - wa * wa - r * r);
    const float num = -qb - std::sqrt(std::max(disc, 0.0f));
    const float z_qa = wa * qa + num * da;
    const bool side = qa > kEps;
    if (side && disc > 0 && num > 0 && std::fabs(z_qa) <= h * qa) return num / qa;
    if (side && disc <= 0) return inf;
    const float end = (side ? z_qa > 0 : da < 0) ? h : -h;
    return SphereHit(dw - end * da, ww - 2 * end * wa + h * h - r * r);
  }
  // plane and box: in the geom's frame
  float ol[3], dl[3];
  for (int i = 0; i < 3; ++i) {
    const float c[3] = {m[i], m[3 + i], m[6 + i]};
    ol[i] = Dot(w, c);
    dl[i] = Dot(d, c);
  }
  if (kind == kPlane) {
    const float t = -ol[2] / (dl[2] < -kEps ? dl[2] : -kEps);
    const bool inside = (std::fabs(ol[0] + t * dl[0]) <= s[0] || s[0] <= 0) &&
                        (std::fabs(ol[1] + t * dl[1]) <= s[1] || s[1] <= 0);
    return (dl[2] < -kEps && t > 0 && inside) ? t : inf;
  }
  float near = -inf, far = inf;
  for (int i = 0; i < 3; ++i) {
    const float inv = 1.0f / (std::fabs(dl[i]) > kEps ? dl[i] : kEps);
    const float t1 = (-s[i] - ol[i]) * inv, t2 = (s[i] - ol[i]) * inv;
    near = std::max(near, std::min(t1, t2));
    far = std::min(far, std::max(t1, t2));
  }
  return (far >= near && near > 0) ? near : inf;
}

float BoundRadius(int kind, const float* s) {
  if (kind == kPlane) return std::numeric_limits<float>::infinity();
  if (kind == kSphere) return s[0];
  if (kind == kCapsule) return s[0] + s[1];
  return std::sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]);
}

inline int32_t Bits(float x) { int32_t i; std::memcpy(&i, &x, 4); return i; }
inline float Float(int32_t i) { float x; std::memcpy(&x, &i, 4); return x; }

// One camera image of one environment.
void RenderImage(const Scene& sc, const float* pos, const float* mat, int64_t c, uint8_t* rgb_out,
                 float* depth_out, uint8_t* mask_out) {
  const int64_t R = sc.R;
  // the camera's pose: fixed, or carried by its anchor geom
  float origin[3], fwd[3], rot[9];
  const int32_t g0 = sc.anchor[c];
  std::vector<float> moved;
  const float* dirs = sc.dirs + c * R * 3;
  if (g0 < 0) {
    std::copy(sc.origins + 3 * c, sc.origins + 3 * c + 3, origin);
    std::copy(sc.forward + 3 * c, sc.forward + 3 * c + 3, fwd);
    std::copy(sc.local_rot + 9 * c, sc.local_rot + 9 * c + 9, rot);      // a fixed camera's own rotation
  } else {
    const float* gr = mat + 9 * g0;        // row-major 3x3
    const float* lr = sc.local_rot + 9 * c;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) rot[3 * i + j] = gr[3 * i] * lr[j] + gr[3 * i + 1] * lr[3 + j] + gr[3 * i + 2] * lr[6 + j];
    const float* lp = sc.local_pos + 3 * c;
    for (int i = 0; i < 3; ++i) {
      origin[i] = pos[3 * g0 + i] + gr[3 * i] * lp[0] + gr[3 * i + 1] * lp[1] + gr[3 * i + 2] * lp[2];
      fwd[i] = -rot[3 * i + 2];
    }
    moved.resize(R * 3);
    const float* ld = sc.local_dirs + c * R * 3;
    for (int64_t r = 0; r < R; ++r)
      for (int i = 0; i < 3; ++i)
        moved[3 * r + i] = ld[3 * r] * rot[3 * i] + ld[3 * r + 1] * rot[3 * i + 1] + ld[3 * r + 2] * rot[3 * i + 2];
    dirs = moved.data();
  }
  const int32_t low = (1 << sc.bits) - 1;
  // each geom's bounding sphere as seen from the camera: direction, and cos/sin of its angular radius
  std::vector<float> gdir(3 * sc.G), gcos(sc.G), gsin(sc.G);
  std::vector<char> always(sc.G, 0);
  for (int32_t g = 0; g < sc.G; ++g) {
    if (sc.kind[g] < 0) continue;
    const float rb = BoundRadius(sc.kind[g], sc.size + 3 * g) * 1.001f + 1e-6f;
    const float v[3] = {pos[3 * g] - origin[0], pos[3 * g + 1] - origin[1], pos[3 * g + 2] - origin[2]};
    const float dist = std::sqrt(Dot(v, v));
    if (!std::isfinite(rb) || dist <= rb) { always[g] = 1; continue; }
    for (int i = 0; i < 3; ++i) gdir[3 * g + i] = v[i] / dist;
    gsin[g] = rb / dist;
    gcos[g] = std::sqrt(1.0f - gsin[g] * gsin[g]);
  }
  std::vector<int32_t> candidates;
  candidates.reserve(sc.G);
  const int64_t tiles_x = (sc.W + kTile - 1) / kTile;
  for (int64_t ty = 0; ty < sc.H; ty += kTile) {
    for (int64_t tx = 0; tx < sc.W; tx += kTile) {
      const int64_t y1 = std::min<int64_t>(ty + kTile, sc.H), x1 = std::min<int64_t>(tx + kTile, sc.W);
      const int64_t tile = c * sc.T + (ty / kTile) * tiles_x + tx / kTile;
      const float* lc = sc.tile_centre + 3 * tile;
      float centre[3];
      for (int i = 0; i < 3; ++i) centre[i] = rot[3 * i] * lc[0] + rot[3 * i + 1] * lc[1] + rot[3 * i + 2] * lc[2];
      const float ct = sc.tile_cos[tile], st = sc.tile_sin[tile];
      // a ray of the tile can meet the sphere only if the angle between the tile's axis and the sphere's
      // centre is at most the tile's half-angle plus the sphere's (both below pi / 2 + the tile's)
      candidates.clear();
      for (int32_t g = 0; g < sc.G; ++g) {
        if (sc.kind[g] < 0) continue;
        if (always[g] || Dot(centre, &gdir[3 * g]) >= ct * gcos[g] - st * gsin[g]) candidates.push_back(g);
      }
      for (int64_t y = ty; y < y1; ++y) {
        for (int64_t x = tx; x < x1; ++x) {
          const int64_t r = y * sc.W + x;
          const float* d = dirs + 3 * r;
          int32_t best = std::numeric_limits<int32_t>::max();
          for (int32_t g : candidates) {
            const float t = Hit(sc.kind[g], origin, d, pos + 3 * g, mat + 9 * g, sc.size + 3 * g);
            const int32_t key = (Bits(std::min(t, kNoHit)) & ~low) | g;
            best = std::min(best, key);
          }
          const float t = Float(best & ~low);
          const bool hit = t < kNoHit;
          uint8_t* px = rgb_out + 3 * r;
          float colour[3];
          if (hit) {
            const int32_t g = best & low;
            const float* p = pos + 3 * g;
            const float* m = mat + 9 * g;
            const float* s = sc.size + 3 * g;
            const float q[3] = {origin[0] + t * d[0], origin[1] + t * d[1], origin[2] + t * d[2]};
            const float rel[3] = {q[0] - p[0], q[1] - p[1], q[2] - p[2]};
            float lp[3], n[3] = {0, 0, 0};
            for (int i = 0; i < 3; ++i) lp[i] = rel[0] * m[i] + rel[1] * m[3 + i] + rel[2] * m[6 + i];
            const int kind = sc.kind[g];
            if (kind == kPlane) {
              n[2] = 1.0f;
            } else if (kind == kSphere) {
              std::copy(lp, lp + 3, n);
            } else if (kind == kCapsule) {
              n[0] = lp[0];
              n[1] = lp[1];
              n[2] = lp[2] - std::clamp(lp[2], -s[1], s[1]);
            } else {
              int axis = 0;
              float most = -1.0f;
              for (int i = 0; i < 3; ++i) {
                const float v = std::fabs(lp[i]) / std::max(s[i], kEps);
                if (v > most) { most = v; axis = i; }
              }
              n[axis] = (lp[axis] > 0) - (lp[axis] < 0);
            }
            const float len = std::max(std::sqrt(Dot(n, n)), kEps);
            float nw[3];
            for (int i = 0; i < 3; ++i) nw[i] = (m[3 * i] * n[0] + m[3 * i + 1] * n[1] + m[3 * i + 2] * n[2]) / len;
            float albedo_scale = 1.0f;
            if (kind == kPlane) {
              const float cell = std::floor(q[0] / sc.checker) + std::floor(q[1] / sc.checker);
              if (cell - 2.0f * std::floor(cell / 2.0f) == 1.0f) albedo_scale = 1.0f - sc.contrast;
            }
            const float shade = sc.ambient + (1 - sc.ambient) * std::clamp(Dot(nw, sc.light), 0.0f, 1.0f);
            for (int i = 0; i < 3; ++i) colour[i] = sc.rgb[3 * g + i] * albedo_scale * shade;
            depth_out[r] = t * Dot(d, fwd);
            mask_out[r] = sc.mask[g];
          } else {
            const float up = 0.85f + 0.15f * std::clamp(d[2], 0.0f, 1.0f);
            for (int i = 0; i < 3; ++i) colour[i] = sc.sky[i] * up;
            depth_out[r] = kFar;
            mask_out[r] = 0;
          }
          for (int i = 0; i < 3; ++i)
            px[i] = static_cast<uint8_t>(std::clamp(colour[i] * 255.0f + 0.5f, 0.0f, 255.0f));
        }
      }
    }
  }
}

ffi::Error Render(ffi::Buffer<ffi::F32> pos, ffi::Buffer<ffi::F32> mat, ffi::Buffer<ffi::F32> origins,
                  ffi::Buffer<ffi::F32> dirs, ffi::Buffer<ffi::F32> forward, ffi::Buffer<ffi::F32> local_pos,
                  ffi::Buffer<ffi::F32> local_rot, ffi::Buffer<ffi::F32> local_dirs, ffi::Buffer<ffi::F32> size,
                  ffi::Buffer<ffi::F32> rgb, ffi::Buffer<ffi::S32> anchor, ffi::Buffer<ffi::S32> kind,
                  ffi::Buffer<ffi::U8> mask, ffi::Buffer<ffi::F32> look, ffi::Buffer<ffi::F32> tile_centre,
                  ffi::Buffer<ffi::F32> tile_cos, ffi::Buffer<ffi::F32> tile_sin, ffi::ResultBuffer<ffi::U8> rgb_out,
                  ffi::ResultBuffer<ffi::F32> depth_out, ffi::ResultBuffer<ffi::U8> mask_out, int64_t height,
                  int64_t width, int64_t bits, int64_t threads) {
  Scene sc;
  sc.C = static_cast<int64_t>(anchor.element_count());
  sc.G = static_cast<int64_t>(kind.element_count());
  sc.H = height;
  sc.W = width;
  sc.R = height * width;
  sc.T = ((height + kTile - 1) / kTile) * ((width + kTile - 1) / kTile);
  if (static_cast<int64_t>(dirs.element_count()) != sc.C * sc.R * 3 || look.element_count() != 9 ||
      static_cast<int64_t>(tile_cos.element_count()) != sc.C * sc.T)
    return ffi::Error::InvalidArgument("glam_ray_render: the rig's arrays do not match its cameras and image size");
  const int64_t per_env = sc.G * 3;
  if (pos.element_count() % per_env || mat.element_count() != pos.element_count() * 3)
    return ffi::Error::InvalidArgument("glam_ray_render: geom poses do not match the rig's geoms");
  const int64_t n = static_cast<int64_t>(pos.element_count()) / per_env;
  sc.origins = origins.typed_data();
  sc.dirs = dirs.typed_data();
  sc.forward = forward.typed_data();
  sc.local_pos = local_pos.typed_data();
  sc.local_rot = local_rot.typed_data();
  sc.local_dirs = local_dirs.typed_data();
  sc.size = size.typed_data();
  sc.rgb = rgb.typed_data();
  sc.anchor = anchor.typed_data();
  sc.kind = kind.typed_data();
  sc.mask = mask.typed_data();
  sc.tile_centre = tile_centre.typed_data();
  sc.tile_cos = tile_cos.typed_data();
  sc.tile_sin = tile_sin.typed_data();
  const float* l = look.typed_data();     // light (3), ambient, checker, contrast, sky (3)
  std::copy(l, l + 3, sc.light);
  sc.ambient = l[3];
  sc.checker = l[4];
  sc.contrast = l[5];
  std::copy(l + 6, l + 9, sc.sky);
  sc.bits = static_cast<int>(bits);
  const int64_t jobs = n * sc.C;
  auto work = [&](int64_t lo, int64_t hi) {
    for (int64_t j = lo; j < hi; ++j) {
      const int64_t e = j / sc.C, c = j % sc.C;
      RenderImage(sc, pos.typed_data() + e * per_env, mat.typed_data() + e * sc.G * 9, c,
                  rgb_out->typed_data() + j * sc.R * 3, depth_out->typed_data() + j * sc.R,
                  mask_out->typed_data() + j * sc.R);
    }
  };
  const int64_t k = std::max<int64_t>(1, std::min<int64_t>(threads, jobs));
  glam::WorkerPool::Run(k, [&](int64_t i) { work(jobs * i / k, jobs * (i + 1) / k); });
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(GlamRayRender, Render,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()    // geom_xpos (..., G, 3)
                                  .Arg<ffi::Buffer<ffi::F32>>()    // geom_xmat (..., G, 9)
                                  .Arg<ffi::Buffer<ffi::F32>>()    // origins (C, 3)
                                  .Arg<ffi::Buffer<ffi::F32>>()    // dirs (C, R, 3)
                                  .Arg<ffi::Buffer<ffi::F32>>()    // forward (C, 3)
                                  .Arg<ffi::Buffer<ffi::F32>>()    // local_pos (C, 3)
                                  .Arg<ffi::Buffer<ffi::F32>>()    // local_rot (C, 9)
                                  .Arg<ffi::Buffer<ffi::F32>>()    // local_dirs (C, R, 3)
                                  .Arg<ffi::Buffer<ffi::F32>>()    // geom_size (G, 3)
                                  .Arg<ffi::Buffer<ffi::F32>>()    // geom_rgb (G, 3)
                                  .Arg<ffi::Buffer<ffi::S32>>()    // anchor (C)
                                  .Arg<ffi::Buffer<ffi::S32>>()    // geom kind (G), -1: not rendered
                                  .Arg<ffi::Buffer<ffi::U8>>()     // mask geoms (G)
                                  .Arg<ffi::Buffer<ffi::F32>>()    // light, ambient, checker, contrast, sky
                                  .Arg<ffi::Buffer<ffi::F32>>()    // tile axes (C, T, 3), camera frame
                                  .Arg<ffi::Buffer<ffi::F32>>()    // tile cos half-angle (C, T)
                                  .Arg<ffi::Buffer<ffi::F32>>()    // tile sin half-angle (C, T)
                                  .Ret<ffi::Buffer<ffi::U8>>()     // rgb (..., C, R, 3)
                                  .Ret<ffi::Buffer<ffi::F32>>()    // depth (..., C, R)
                                  .Ret<ffi::Buffer<ffi::U8>>()     // mask (..., C, R)
                                  .Attr<int64_t>("height")
                                  .Attr<int64_t>("width")
                                  .Attr<int64_t>("bits")
                                  .Attr<int64_t>("threads"));
