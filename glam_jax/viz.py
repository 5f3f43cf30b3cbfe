"""Turning observations into pictures a person can check: depth and masks as RGB, grids, PNG and GIF files."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageDraw


def depth_to_rgb(depth: np.ndarray, near: float | None = None, far: float | None = None) -> np.ndarray:
  """Near is bright, far is dark; range from the image's own finite values unless given."""
  d = np.asarray(depth, np.float32)
  near = float(np.min(d)) if near is None else near
  far = float(np.max(d)) if far is None else far
  g = 1.0 - np.clip((d - near) / max(far - near, 1e-6), 0, 1)
  return np.repeat((g * 255).astype(np.uint8)[..., None], 3, -1)


def mask_to_rgb(mask: np.ndarray) -> np.ndarray:
  return np.repeat((np.asarray(mask) > 0).astype(np.uint8)[..., None] * 255, 3, -1)


def grid(rows: list[list[np.ndarray]], scale: int = 4, pad: int = 2, labels: list[str] | None = None
         ) -> np.ndarray:
  """Tiles equally sized RGB images (row-major), upscaled by `scale` with nearest-neighbour."""
  h, w = rows[0][0].shape[:2]
  h, w = h * scale, w * scale
  label_w = 90 if labels else 0
  ncol = max(len(r) for r in rows)
  out = np.full((len(rows) * (h + pad) + pad, label_w + ncol * (w + pad) + pad, 3), 255, np.uint8)
  for i, row in enumerate(rows):
    for j, img in enumerate(row):
      big = np.kron(np.asarray(img, np.uint8), np.ones((scale, scale, 1), np.uint8))
      y, x = pad + i * (h + pad), label_w + pad + j * (w + pad)
      out[y:y + h, x:x + w] = big
  if labels:
    pil = Image.fromarray(out)
    draw = ImageDraw.Draw(pil)
    for i, text in enumerate(labels):
      draw.text((4, pad + i * (h + pad) + h // 2 - 6), text, fill=(0, 0, 0))
    out = np.asarray(pil)
  return out


def save_png(path: str, image: np.ndarray) -> None:
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  Image.fromarray(np.asarray(image, np.uint8)).save(path)


def _rollout_frames(frames) -> np.ndarray:
  f = np.asarray(frames)
  if f.ndim != 4 or f.shape[-1] != 3:
    raise ValueError(f'frames must have shape (T, H, W, 3), got {f.shape}')
  if f.shape[0] == 0:
    raise ValueError('frames is empty')
  if f.dtype != np.uint8:
    raise ValueError(f'frames must be uint8, got {f.dtype}')
  return f


def save_gif(path: str, frames, fps: float = 10, scale: int = 2, pad: int = 2) -> None:
  """Animated GIF of a rollout, upscaled by `scale` with nearest-neighbour; loops forever.

  frames: (T, H, W, 3) uint8, or a list of such to play several rollouts side by side (separated by `pad`
  white pixels; a shorter rollout holds its last frame, a smaller one is padded with white below).
  Pillow merges identical consecutive frames into one with the summed duration, so playback time is
  always T / fps but the file may hold fewer than T frames when the picture stands still.
  """
  rollouts = [_rollout_frames(f) for f in (frames if isinstance(frames, (list, tuple)) else [frames])]
  if not rollouts:
    raise ValueError('no rollouts given')
  if not fps > 0 or int(scale) != scale or scale < 1:
    raise ValueError(f'fps must be positive and scale a positive integer, got fps={fps}, scale={scale}')
  scale = int(scale)
  steps = max(r.shape[0] for r in rollouts)
  height = max(r.shape[1] for r in rollouts) * scale
  width = sum(r.shape[2] * scale for r in rollouts) + pad * (len(rollouts) - 1)
  video = np.full((steps, height, width, 3), 255, np.uint8)
  x = 0
  for r in rollouts:
    held = np.concatenate([r, np.repeat(r[-1:], steps - r.shape[0], axis=0)], axis=0)
    big = held.repeat(scale, axis=1).repeat(scale, axis=2)
    video[:, :big.shape[1], x:x + big.shape[2]] = big
    x += big.shape[2] + pad
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  images = [Image.fromarray(f) for f in video]
  images[0].save(path, format='GIF', save_all=True, append_images=images[1:],
                 duration=max(10, int(round(1000 / fps))), loop=0)
