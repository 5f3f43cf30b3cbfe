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
