"""Success-rate statistics of the paper's protocol (DESIGN.md §2): Wilson score intervals for one
proportion, Newcombe's hybrid-score interval (method 10) for a difference of two, mean ± std over seeds."""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def z_value(confidence: float = 0.95, two_sided: bool = True) -> float:
  alpha = 1.0 - confidence
  return NormalDist().inv_cdf(1.0 - (alpha / 2 if two_sided else alpha))


def wilson(successes: int, trials: int, confidence: float = 0.95, two_sided: bool = True) -> tuple:
  """(low, high) Wilson score interval of successes / trials."""
  if trials <= 0:
    raise ValueError(f'trials must be positive, got {trials}')
  if not 0 <= successes <= trials:
    raise ValueError(f'successes must be in [0, {trials}], got {successes}')
  z = z_value(confidence, two_sided)
  n, p = trials, successes / trials
  centre = (p + z * z / (2 * n)) / (1 + z * z / n)
  half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
  low = 0.0 if successes == 0 else max(0.0, centre - half)      # exact at the ends (no rounding residue)
  high = 1.0 if successes == trials else min(1.0, centre + half)
  return low, high


def newcombe(s1: int, n1: int, s2: int, n2: int, confidence: float = 0.95, two_sided: bool = True) -> tuple:
  """(low, high) interval for p1 - p2 from the two Wilson intervals (Newcombe 1998, method 10).

  One-sided (`two_sided=False`): "A better than B" at this confidence when `low > 0`.
  """
  p1, p2 = s1 / n1, s2 / n2
  l1, u1 = wilson(s1, n1, confidence, two_sided)
  l2, u2 = wilson(s2, n2, confidence, two_sided)
  d = p1 - p2
  return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def mean_std(values) -> tuple:
  """Mean and sample standard deviation (ddof 1; 0 for a single value) over seeds."""
  v = np.asarray(values, np.float64)
  return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def rate_summary(successes: int, trials: int, confidence: float = 0.95) -> dict:
  low, high = wilson(successes, trials, confidence)
  return {'successes': int(successes), 'trials': int(trials), 'rate': successes / trials,
          'wilson_low': low, 'wilson_high': high}
