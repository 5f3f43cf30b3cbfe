"""Reading the data-scaling curves: what an auxiliary episode is worth in target episodes.

Points are (episodes, successes, trials). Slopes are least-squares lines of success rate against episodes;
intervals come from a parametric bootstrap that redraws every point's successes from a binomial at its
observed rate (the evaluation's own noise; the training seed's is inside it only as far as the seeds are
pooled), percentile 95 %.
"""
from __future__ import annotations

import numpy as np


def _rates(points, rng=None, draws: int = 0) -> np.ndarray:
  """(draws or 1, P) success rates: observed, or redrawn from Binomial(trials, observed rate)."""
  k = np.array([p[1] for p in points], np.float64)
  n = np.array([p[2] for p in points], np.float64)
  if not draws:
    return (k / n)[None]
  return rng.binomial(n.astype(np.int64), k / n, size=(draws, len(points))) / n


def slope(episodes, rates: np.ndarray) -> np.ndarray:
  """Least-squares slope of rate on episodes, per row of `rates` (..., P)."""
  x = np.asarray(episodes, np.float64)
  xc = x - x.mean()
  return (rates - rates.mean(-1, keepdims=True)) @ xc / (xc @ xc)


def exchange_rate(aux_points, target_points, draws: int = 4000, seed: int = 0) -> dict:
  """Auxiliary episodes that buy one target episode: slope of success with target episodes (more target
  data, auxiliary fixed) over slope with auxiliary episodes (more auxiliary data, target fixed). 1 means one
  for one; larger means auxiliary episodes are worth less. The interval is the bootstrap's 2.5-97.5 %
  percentiles over draws where the auxiliary slope is positive; `unbounded_fraction` is the share of draws
  where it is not (more auxiliary data did not help, so no finite number of episodes buys one)."""
  if len(aux_points) < 2 or len(target_points) < 2:
    raise ValueError('each curve needs at least two points')
  rng = np.random.default_rng(seed)
  xa, xt = [p[0] for p in aux_points], [p[0] for p in target_points]
  if len(set(xa)) < 2 or len(set(xt)) < 2:
    raise ValueError('each curve needs at least two distinct episode counts')
  s_aux, s_tgt = slope(xa, _rates(aux_points))[0], slope(xt, _rates(target_points))[0]
  b_aux = slope(xa, _rates(aux_points, rng, draws))
  b_tgt = slope(xt, _rates(target_points, rng, draws))
  ok = b_aux > 0
  ratio = b_tgt[ok] / b_aux[ok]
  low, high = (np.percentile(ratio, [2.5, 97.5]) if ok.mean() > 0.975 else
               (np.percentile(ratio, 2.5) if ok.any() else np.nan, np.inf))
  return {'aux_per_target': float(s_tgt / s_aux) if s_aux > 0 else float('inf'),
          'interval': [float(low), float(high)], 'slope_aux': float(s_aux), 'slope_target': float(s_tgt),
          'unbounded_fraction': float(1 - ok.mean()), 'draws': draws}


def matching_episodes(curve_points, level_point, draws: int = 4000, seed: int = 0) -> dict:
  """Target episodes a curve (e.g. MIP on target data alone) needs to reach the success rate of
  `level_point` (e.g. GLAM-O with 100 target + 400 auxiliary), by linear interpolation between the curve's
  points; NaN where the level lies beyond the curve's measured range. Bootstrap interval as above."""
  rng = np.random.default_rng(seed)
  pts = sorted(curve_points)
  x = np.array([p[0] for p in pts], np.float64)

  def match(curve: np.ndarray, level: np.ndarray) -> np.ndarray:
    out = np.full(len(level), np.nan)
    for i, (c, lv) in enumerate(zip(curve, level)):
      c = np.maximum.accumulate(c)               # a noisy dip does not give a second crossing
      if c[0] <= lv <= c[-1]:
        j = min(int(np.searchsorted(c, lv)), len(c) - 1)
        lo = max(j - 1, 0)
        out[i] = x[j] if c[j] == c[lo] else x[lo] + (lv - c[lo]) / (c[j] - c[lo]) * (x[j] - x[lo])
    return out

  point = float(match(_rates(pts), _rates([level_point])[:, 0])[0])
  boot = match(_rates(pts, rng, draws), _rates([level_point], rng, draws)[:, 0])
  inside = ~np.isnan(boot)
  return {'episodes': point, 'interval': ([float(v) for v in np.percentile(boot[inside], [2.5, 97.5])]
                                          if inside.mean() > 0.975 else [float('nan'), float('nan')]),
          'in_range_fraction': float(inside.mean()), 'draws': draws}
