"""Comparisons that count training seeds, not only trials: the unit of replication is the policy seed.

Pooled trials (stats.py: Wilson, Newcombe) treat every episode as an independent draw. Seeds of one recipe
differ more than that allows (`homogeneity`), so a verdict rests on the per-seed success rates:
- `welch`: Welch's t over per-seed rates, one-sided "A better than B", and its two-sided interval. Every
  seed is evaluated on the same placements (`eval_seed`), so the placements' difficulty is common to every
  per-seed rate and cancels in their differences: the test is already paired over placements.
- `permutation`: the exact permutation test over seed labels; at 3 seeds against 3 there are 20 splits, so
  its p is never below 0.05 and no verdict can pass a multiplicity correction on it alone.
- `holm`: Holm's step-down adjustment over the family of one-sided verdicts a report prints.
- `t_power`, `detectable`: the power of that one-sided test and the smallest difference it detects with 80 %
  power, in the direction tested, at the seed-to-seed spread observed.
- `paired_across_tasks`: the paper's own test, a paired t over tasks of the two methods' rates.

Runtime statistics from scipy (pinned in requirements.txt); tests/eval/test_seed_stats.py holds reference
values from statsmodels and scipy for fixed tables.
"""
from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
from scipy import optimize
from scipy import stats as sps


def _rates(values, name: str) -> np.ndarray:
  v = np.round(np.asarray(values, np.float64), 12)      # k / n computed two ways is one rate
  if v.ndim != 1 or not np.all((v >= 0) & (v <= 1)):
    raise ValueError(f'{name}: per-seed success rates in [0, 1] expected, got {values!r}')
  return v


def welch(a, b, confidence: float = 0.95) -> dict | None:
  """Welch's t over per-seed rates `a` and `b`: difference of means, one-sided p of "a better than b", the
  two-sided interval at `confidence` and Welch's degrees of freedom. None with fewer than 2 seeds in an arm
  (no spread to estimate); p NaN when both arms have no spread at all (every seed the same rate)."""
  a, b = _rates(a, 'a'), _rates(b, 'b')
  if len(a) < 2 or len(b) < 2:
    return None
  diff = float(a.mean() - b.mean())
  if a.var(ddof=1) == 0 and b.var(ddof=1) == 0:
    return {'difference': diff, 'p_one_sided': math.nan, 'interval': [diff, diff], 'df': math.nan,
            'seeds': [len(a), len(b)]}
  with warnings.catch_warnings():       # one arm without spread: exact, though scipy warns of cancellation
    warnings.simplefilter('ignore', RuntimeWarning)
    r = sps.ttest_ind(a, b, equal_var=False, alternative='greater')
    lo, hi = sps.ttest_ind(a, b, equal_var=False).confidence_interval(confidence)
  return {'difference': diff, 'p_one_sided': float(r.pvalue), 'interval': [float(lo), float(hi)],
          'df': float(r.df), 'seeds': [len(a), len(b)]}


def permutation(a, b) -> float:
  """Exact one-sided p of "a better than b": the share of the C(n_a + n_b, n_a) splits of the seeds into
  two arms whose mean difference is at least the observed one (the observed split included)."""
  a, b = _rates(a, 'a'), _rates(b, 'b')
  pooled, n = np.concatenate([a, b]), len(a)
  observed = a.mean() - b.mean()
  total = pooled.sum()
  hits = count = 0
  for idx in itertools.combinations(range(len(pooled)), n):
    s = pooled[list(idx)].sum()
    hits += s / n - (total - s) / len(b) >= observed - 1e-12
    count += 1
  return hits / count


def holm(pvalues) -> list:
  """Holm's step-down adjusted p-values (family-wise error), in the input's order. NaN entries (tests that
  could not be run) are left out of the family and stay NaN."""
  p = np.asarray(pvalues, np.float64)
  out = np.full(len(p), np.nan)
  ok = np.flatnonzero(~np.isnan(p))
  m = len(ok)
  running = 0.0
  for rank, i in enumerate(ok[np.argsort(p[ok], kind='stable')]):
    running = max(running, min(1.0, (m - rank) * p[i]))
    out[i] = running
  return [float(v) for v in out]


def seed_spread(a, b, trials_per_seed: int = 0) -> float:
  """Pooled standard deviation of per-seed rates over both arms, at least the evaluation noise of one seed's
  rate at the pooled rate (`trials_per_seed` episodes): a seed's rate cannot vary less than its trials do."""
  a, b = _rates(a, 'a'), _rates(b, 'b')
  dof = len(a) + len(b) - 2
  if dof < 1:
    raise ValueError('the spread needs at least three seeds over both arms')
  pooled = ((len(a) - 1) * a.var(ddof=1 if len(a) > 1 else 0) + (len(b) - 1) * b.var(ddof=1 if len(b) > 1 else 0)) / dof
  floor = 0.0
  if trials_per_seed:
    p = float(np.concatenate([a, b]).mean())
    floor = p * (1 - p) / trials_per_seed
  return math.sqrt(max(pooled, floor))


def t_power(difference: float, sd: float, n1: int, n2: int, alpha: float = 0.05) -> float:
  """Power of the one-sided t-test at level `alpha` to find "a better than b" when the true difference of
  mean per-seed rates is `difference` and the seeds' spread `sd` in both arms: Welch's test at equal
  spreads, whose degrees of freedom are then n1 + n2 - 2 for equal arms (noncentral t)."""
  if n1 < 2 or n2 < 2:
    raise ValueError(f'power needs at least two seeds per arm, got {n1} and {n2}')
  if sd <= 0:
    return float(difference > 0)
  df = n1 + n2 - 2
  nc = difference / (sd * math.sqrt(1 / n1 + 1 / n2))
  return float(sps.nct.sf(sps.t.ppf(1 - alpha, df), df, nc))


def detectable(reference_rate: float, sd: float, n1: int, n2: int, alpha: float = 0.05, power: float = 0.8) -> float:
  """The smallest difference p_ref - p_other > 0 that the one-sided test detects with `power`, the other
  arm below the reference (the direction tested); inf when even an other arm at rate 0 is not enough."""
  if t_power(reference_rate, sd, n1, n2, alpha) < power:
    return math.inf
  if sd <= 0:
    return 0.0
  return float(optimize.brentq(lambda d: t_power(d, sd, n1, n2, alpha) - power, 0.0, reference_rate, xtol=1e-10))


def homogeneity(successes, trials) -> dict:
  """Do the seeds of one recipe share one success rate? Pearson's chi-square over the seeds x (success,
  failure) table and the dispersion: the observed variance of per-seed rates over what independent trials
  at the pooled rate would give (1 when the seeds differ no more than their trials). p NaN when the pooled
  rate is 0 or 1 (no variation to test)."""
  k, n = np.asarray(successes, np.float64), np.asarray(trials, np.float64)
  if len(k) < 2:
    raise ValueError('homogeneity needs at least two seeds')
  p = k.sum() / n.sum()
  if p in (0.0, 1.0):
    return {'chi2': 0.0, 'p': math.nan, 'dispersion': math.nan, 'seeds': len(k)}
  table = np.stack([k, n - k], axis=1)
  chi2, pv, _, _ = sps.chi2_contingency(table, correction=False)
  dispersion = float(np.var(k / n, ddof=1) / np.mean(p * (1 - p) / n))
  return {'chi2': float(chi2), 'p': float(pv), 'dispersion': dispersion, 'seeds': len(k)}


def paired_across_tasks(a, b) -> dict | None:
  """The paper's test: a paired t over tasks of method a's and method b's rates, one-sided "a better".
  None with fewer than two tasks; p NaN when every task gives the same difference."""
  a, b = _rates(a, 'a'), _rates(b, 'b')
  if len(a) != len(b):
    raise ValueError(f'one rate per task for each method, got {len(a)} and {len(b)}')
  if len(a) < 2:
    return None
  d = np.round(a - b, 12)
  if d.var(ddof=1) == 0:
    return {'difference': float(d.mean()), 't': math.nan, 'p_one_sided': math.nan, 'tasks': len(a)}
  with warnings.catch_warnings():
    warnings.simplefilter('ignore', RuntimeWarning)
    r = sps.ttest_rel(a, b, alternative='greater')
  return {'difference': float(d.mean()), 't': float(r.statistic), 'p_one_sided': float(r.pvalue), 'tasks': len(a)}
