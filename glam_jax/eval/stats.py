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


def compare(a: dict, b: dict, confidence: float = 0.95) -> dict:
  """Arm `a` against arm `b` (success blocks with `successes` and `trials`): Newcombe's two-sided interval
  of p_a - p_b and its one-sided lower bound ("a better than b" when above 0)."""
  args = (a['successes'], a['trials'], b['successes'], b['trials'])
  return {'newcombe_two_sided': list(newcombe(*args, confidence=confidence)),
          'newcombe_one_sided_low': newcombe(*args, confidence=confidence, two_sided=False)[0]}


def mean_std(values) -> tuple:
  """Mean and sample standard deviation (ddof 1; 0 for a single value) over seeds."""
  v = np.asarray(values, np.float64)
  return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def rate_summary(successes: int, trials: int, confidence: float = 0.95) -> dict:
  low, high = wilson(successes, trials, confidence)
  return {'successes': int(successes), 'trials': int(trials), 'rate': successes / trials,
          'wilson_low': low, 'wilson_high': high}


def power(p_ref: float, p_other: float, n1: int, n2: int, confidence: float = 0.95) -> float:
  """Probability that the one-sided test "reference better" at `confidence` (normal approximation of the
  trials-only verdict, pooled variance under the null) finds it when the rates are p_ref and p_other, with
  n1 and n2 trials per arm. Near 0 when p_other is above p_ref: the test looks in one direction."""
  if n1 <= 0 or n2 <= 0:
    raise ValueError(f'trials per arm must be positive, got {n1} and {n2}')
  pooled = (p_ref * n1 + p_other * n2) / (n1 + n2)
  null_se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
  alt_se = math.sqrt(p_ref * (1 - p_ref) / n1 + p_other * (1 - p_other) / n2)
  if alt_se == 0:
    return float(p_ref > p_other)
  return NormalDist().cdf((p_ref - p_other - z_value(confidence, two_sided=False) * null_se) / alt_se)


def detectable_difference(rate: float, n1: int, n2: int, confidence: float = 0.95, target_power: float = 0.8) -> float:
  """The smallest p_ref - p_other that n1 and n2 trials detect with `target_power` in the direction tested
  (the other arm below the reference at `rate`), by the one-sided test of `power`; inf when even an other
  arm at 0 is not enough. What a report prints next to each comparison: a difference below it is not a
  reason to call two methods equal."""
  if not 0 <= rate <= 1:
    raise ValueError(f'rate must be in [0, 1], got {rate}')
  if rate == 0 or power(rate, 0.0, n1, n2, confidence) < target_power:
    return math.inf
  lo, hi = 0.0, rate                                 # power grows with the gap: bisect to the root
  while hi - lo > 1e-10:
    mid = (lo + hi) / 2
    lo, hi = (lo, mid) if power(rate, rate - mid, n1, n2, confidence) >= target_power else (mid, hi)
  return hi
