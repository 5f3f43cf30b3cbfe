"""Normalisation statistics of low-dimensional fields: computed once when a dataset is written, stored in
`stats.json`, applied by the input pipeline."""
from __future__ import annotations

import numpy as np

MIN_STD = 1e-3     # dimensions that never vary (e.g. a fixed orientation entry) are not blown up


class RunningStats:
  """Per-dimension count, mean, std, min and max over rows added in batches (float64 sums)."""

  def __init__(self, dim: int):
    self.n, self.sum, self.sumsq = 0, np.zeros(dim), np.zeros(dim)
    self.min, self.max = np.full(dim, np.inf), np.full(dim, -np.inf)

  def update(self, rows: np.ndarray) -> None:
    rows = np.asarray(rows, np.float64).reshape(-1, len(self.sum))
    self.n += len(rows)
    self.sum += rows.sum(0)
    self.sumsq += (rows ** 2).sum(0)
    self.min = np.minimum(self.min, rows.min(0))
    self.max = np.maximum(self.max, rows.max(0))

  def result(self) -> dict:
    mean = self.sum / max(self.n, 1)
    std = np.sqrt(np.maximum(self.sumsq / max(self.n, 1) - mean ** 2, 0.0))
    return {'count': self.n, 'mean': mean.tolist(), 'std': std.tolist(), 'min': self.min.tolist(),
            'max': self.max.tolist()}


class Normalizer:
  """(x - mean) / max(std, MIN_STD) per field, and its inverse; fields without stats pass through."""

  def __init__(self, stats: dict, keys):
    self.mean = {k: np.asarray(stats[k]['mean'], np.float32) for k in keys if k in stats}
    self.scale = {k: np.maximum(np.asarray(stats[k]['std'], np.float32), MIN_STD) for k in keys if k in stats}

  def normalize(self, key: str, x):
    return (x - self.mean[key]) / self.scale[key] if key in self.mean else x

  def denormalize(self, key: str, x):
    return x * self.scale[key] + self.mean[key] if key in self.mean else x
