"""Reading the data-scaling curves: what an auxiliary episode is worth in target episodes.

A point is a dict: `x` (episodes on the curve's axis), `successes`, `trials`, `seeds` (per-seed success
rates) and `key` (the cell it comes from: a cell on two curves, such as 100 target + 400 UMI, is one draw in
both). Slopes are least-squares lines of success rate against episodes. Intervals come from a parametric
bootstrap, percentile 95 %: a point with two or more seeds draws its mean rate from a t distribution over
its seeds (mean + se · t_{n-1}, se from the seeds' spread, at least one seed's trial noise), so the
training seed's variance is in the interval; a point with one seed draws its successes from a binomial at
its observed rate (trial noise only; `seed_variance` then says so).

A ratio is "not determined" when its interval is unbounded or spans more than tenfold.
"""
from __future__ import annotations

import math

import numpy as np

SPAN = 10.0                 # an interval wider than this factor says nothing about the ratio


def point(x, successes: int, trials: int, seeds=(), key=None) -> dict:
  return {'x': x, 'successes': int(successes), 'trials': int(trials), 'seeds': list(seeds),
          'key': key if key is not None else ('point', x, successes, trials)}


def _key(p: dict):
  return p['key'] if isinstance(p['key'], (str, int, float)) else tuple(p['key'])


def _observed(p: dict) -> float:
  return p['successes'] / p['trials']


def _draw(p: dict, rng, draws: int) -> np.ndarray:
  seeds = np.asarray(p['seeds'], np.float64)
  rate = _observed(p)
  if len(seeds) < 2:
    return rng.binomial(p['trials'], rate, size=draws) / p['trials']
  per_seed_trials = p['trials'] / len(seeds)
  var = max(float(seeds.var(ddof=1)), rate * (1 - rate) / per_seed_trials)
  return np.clip(rate + math.sqrt(var / len(seeds)) * rng.standard_t(len(seeds) - 1, size=draws), 0.0, 1.0)


def _draws(curves, rng, draws: int) -> list:
  """(draws, P) rates per curve, each distinct point (by key) drawn once however many curves hold it."""
  cache = {}
  for pts in curves:
    for p in pts:
      if _key(p) not in cache:
        cache[_key(p)] = _draw(p, rng, draws)
  return [np.stack([cache[_key(p)] for p in pts], axis=1) for pts in curves]


def slope(episodes, rates: np.ndarray) -> np.ndarray:
  """Least-squares slope of rate on episodes, per row of `rates` (..., P)."""
  x = np.asarray(episodes, np.float64)
  xc = x - x.mean()
  return (rates - rates.mean(-1, keepdims=True)) @ xc / (xc @ xc)


def determined(interval) -> bool:
  lo, hi = interval
  return bool(np.isfinite(lo) and np.isfinite(hi) and lo > 0 and hi / lo <= SPAN)


def _seed_note(points) -> dict:
  distinct = {_key(p): p for p in points}.values()
  return {'points': len(distinct), 'points_with_seeds': sum(len(p['seeds']) >= 2 for p in distinct)}


def exchange_rate(aux_points, target_points, draws: int = 4000, seed: int = 0) -> dict:
  """Auxiliary episodes that buy one target episode: slope of success with target episodes (more target
  data, auxiliary fixed) over slope with auxiliary episodes (more auxiliary data, target fixed). 1 means one
  for one; larger means auxiliary episodes are worth less. The interval is the bootstrap's 2.5-97.5 %
  percentiles of the ratio; its upper end is unbounded when the auxiliary slope is not positive in more than
  2.5 % of draws (`unbounded_fraction`: more auxiliary data did not help, so no number of episodes buys one)."""
  if len(aux_points) < 2 or len(target_points) < 2:
    raise ValueError('each curve needs at least two points')
  xa, xt = [p['x'] for p in aux_points], [p['x'] for p in target_points]
  if len(set(xa)) < 2 or len(set(xt)) < 2:
    raise ValueError('each curve needs at least two distinct episode counts')
  rng = np.random.default_rng(seed)
  s_aux = float(slope(xa, np.array([_observed(p) for p in aux_points])))
  s_tgt = float(slope(xt, np.array([_observed(p) for p in target_points])))
  r_aux, r_tgt = _draws([aux_points, target_points], rng, draws)
  b_aux, b_tgt = slope(xa, r_aux), slope(xt, r_tgt)
  ok = b_aux > 0
  ratio = b_tgt[ok] / b_aux[ok]
  low, high = (np.percentile(ratio, [2.5, 97.5]) if ok.mean() > 0.975 else
               (np.percentile(ratio, 2.5) if ok.any() else np.nan, np.inf))
  interval = [float(low), float(high)]
  return {'aux_per_target': s_tgt / s_aux if s_aux > 0 else float('inf'), 'interval': interval,
          'determined': determined(interval), 'slope_aux': s_aux, 'slope_target': s_tgt,
          'unbounded_fraction': float(1 - ok.mean()), 'draws': draws,
          **_seed_note(list(aux_points) + list(target_points))}


def matching_episodes(curve_points, level_point, draws: int = 4000, seed: int = 0) -> dict:
  """Episodes a curve (e.g. MIP on target data alone) needs to reach the success rate of `level_point`
  (e.g. GLAM-O with 100 target + 400 auxiliary), by linear interpolation between the curve's points; NaN
  where the level lies beyond the curve's measured range. Bootstrap interval as above; NaN ends when the
  level falls outside the range in more than 2.5 % of draws."""
  rng = np.random.default_rng(seed)
  pts = sorted(curve_points, key=lambda p: p['x'])
  x = np.array([p['x'] for p in pts], np.float64)

  def match(curve: np.ndarray, level: np.ndarray) -> np.ndarray:
    out = np.full(len(level), np.nan)
    for i, (c, lv) in enumerate(zip(curve, level)):
      c = np.maximum.accumulate(c)               # a noisy dip does not give a second crossing
      if c[0] <= lv <= c[-1]:
        j = min(int(np.searchsorted(c, lv)), len(c) - 1)
        lo = max(j - 1, 0)
        out[i] = x[j] if c[j] == c[lo] else x[lo] + (lv - c[lo]) / (c[j] - c[lo]) * (x[j] - x[lo])
    return out

  observed = float(match(np.array([[_observed(p) for p in pts]]), np.array([_observed(level_point)]))[0])
  curve, level = _draws([pts, [level_point]], rng, draws)
  boot = match(curve, level[:, 0])
  inside = ~np.isnan(boot)
  interval = ([float(v) for v in np.percentile(boot[inside], [2.5, 97.5])] if inside.mean() > 0.975
              else [float('nan'), float('nan')])
  return {'episodes': observed, 'interval': interval, 'in_range_fraction': float(inside.mean()), 'draws': draws,
          **_seed_note(list(pts) + [level_point])}
