"""Object masks for GLAM-O on real data (its world model sees a binary mask of the manipulated objects, not
RGB). One spec string chooses where they come from:

- `auto` (default): masks shipped under the format's convention (a glam_jax export's
  `observation.masks.<view>`) when every view has them, else none;
- `none`: no `{view}/mask` fields (RGB methods only);
- `key` / `key:K1,K2,...`: masks shipped with the data, under the convention's keys or one key per view
  (0/1 or 0/255 images; nonzero, respectively > 127, is the object);
- `hsv:H0,H1,S0,S1,V0,V1`: a colour range, hue in degrees (H0 > H1 wraps through red), saturation and
  value in [0, 1]; `rgb:R0,R1,G0,G1,B0,B1`: a range per channel in 0..255;
- `fn:MODULE:FUNCTION` or `fn:path/to/file.py:FUNCTION`: the user's segmentation,
  `FUNCTION(rgb (N, H, W, 3) uint8, view: str) -> (N, H, W)` bool or 0/1, called on source-resolution frames.

Masks are made at the source's resolution, then cropped and resized with the RGB (common.square_mask).
"""
from __future__ import annotations

import importlib
import importlib.util
import os

import numpy as np

from glam_jax.data.schema import DatasetError


class Shipped:
  """Masks stored in the source beside the images, read in step with them."""

  def __init__(self, keys: tuple | None, convention: dict):
    self.keys, self.convention = keys, convention

  def keys_for(self, views) -> list:
    if self.keys is None:
      missing = [v for v in views if v not in self.convention]
      if missing:
        raise DatasetError(f'masks "key": no masks shipped for view(s) {missing} under this format\'s convention; '
                           'name one key per view (key:K1,K2,...)')
      return [self.convention[v] for v in views]
    if len(self.keys) != len(views):
      raise DatasetError(f'masks "key:{",".join(self.keys)}" names {len(self.keys)} key(s) for {len(views)} '
                         f'view(s) {list(views)}')
    return list(self.keys)

  def start(self, frames, view: str, index: int, where: str):
    key = self.keys[index] if self.keys is not None else self.convention[view]
    it = frames(key)

    def masks(rgb: np.ndarray) -> np.ndarray:
      out = []
      for _ in range(len(rgb)):
        m = next(it, None)
        if m is None:
          raise DatasetError(f'{where}: mask key "{key}" has fewer frames than the images')
        m = np.asarray(m)
        m = m[..., 0] if m.ndim == 3 else m
        out.append(m > (127 if m.max() > 1 else 0))
      return out
    return masks


class ColourRange:
  """Pixels whose colour lies in a box of HSV or RGB space."""

  def __init__(self, space: str, bounds):
    self.space, self.lo, self.hi = space, np.asarray(bounds[0::2], float), np.asarray(bounds[1::2], float)

  def start(self, frames, view, index, where):
    return self

  def __call__(self, rgb: np.ndarray) -> np.ndarray:
    x = rgb_to_hsv(rgb) if self.space == 'hsv' else np.asarray(rgb, float)
    ok = np.ones(x.shape[:-1], bool)
    for c in range(3):
      lo, hi, v = self.lo[c], self.hi[c], x[..., c]
      ok &= ((v >= lo) | (v <= hi)) if self.space == 'hsv' and c == 0 and lo > hi else ((v >= lo) & (v <= hi))
    return ok


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
  """(..., 3) uint8 -> (..., 3): hue in degrees [0, 360), saturation and value in [0, 1]."""
  x = np.asarray(rgb, np.float64) / 255.0
  r, g, b = x[..., 0], x[..., 1], x[..., 2]
  v, mn = x.max(-1), x.min(-1)
  d = v - mn
  safe = np.where(d > 0, d, 1.0)
  h = np.where(v == r, ((g - b) / safe) % 6, np.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4))
  h = np.where(d > 0, h * 60.0, 0.0)
  s = np.where(v > 0, d / np.where(v > 0, v, 1.0), 0.0)
  return np.stack([h, s, v], -1)


class UserFunction:
  """The user's segmentation `fn(rgb (N, H, W, 3) uint8, view) -> (N, H, W)`, its output checked."""

  def __init__(self, target: str):
    self.target = target
    where, _, name = target.rpartition(':')
    if not where or not name:
      raise ValueError(f'masks "fn:{target}": expected fn:MODULE:FUNCTION or fn:FILE.py:FUNCTION')
    try:
      if where.endswith('.py'):
        spec = importlib.util.spec_from_file_location(f'glam_masks_{abs(hash(where))}', os.path.abspath(where))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
      else:
        module = importlib.import_module(where)
    except (ImportError, FileNotFoundError) as e:
      raise ValueError(f'masks "fn:{target}": cannot import {where} ({e})') from e
    self.fn = getattr(module, name, None)
    if not callable(self.fn):
      raise ValueError(f'masks "fn:{target}": {where} has no function {name!r}')

  def start(self, frames, view, index, where):
    def masks(rgb: np.ndarray) -> np.ndarray:
      m = np.asarray(self.fn(rgb, view))
      if m.shape != rgb.shape[:3]:
        raise DatasetError(f'{where}: masks "fn:{self.target}" returned shape {list(m.shape)} for images '
                           f'{list(rgb.shape)}; expected {list(rgb.shape[:3])}')
      return m > 0
    return masks


def parse(spec: str, views, convention: dict):
  """A provider (with `start(frames, view, index, where) -> fn(rgb chunk) -> masks`), or None for no masks."""
  kind, _, arg = (spec or 'auto').partition(':')
  if kind == 'none':
    return None
  if kind == 'auto':
    return Shipped(None, convention) if views and all(v in convention for v in views) else None
  if kind == 'key':
    provider = Shipped(tuple(arg.split(',')) if arg else None, convention)
    provider.keys_for(views)
    return provider
  if kind in ('hsv', 'rgb'):
    try:
      bounds = [float(x) for x in arg.split(',')]
    except ValueError:
      bounds = []
    if len(bounds) != 6:
      raise ValueError(f'masks "{spec}": expected {kind}:{kind[0].upper()}0,{kind[0].upper()}1,... with 6 numbers')
    return ColourRange(kind, bounds)
  if kind == 'fn':
    return UserFunction(arg)
  raise ValueError(f'unknown masks spec {spec!r}; valid: auto, none, key[:K1,...], hsv:..., rgb:..., '
                   'fn:MODULE:FUNCTION')
