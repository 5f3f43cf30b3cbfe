"""Seed-aware comparisons against reference values of independent implementations, computed once for these
fixed tables and written here with their source (statsmodels 0.14.6, scipy 1.17.1):

  from statsmodels.stats.weightstats import ttest_ind, DescrStatsW, CompareMeans
  ttest_ind(A, B, usevar='unequal', alternative='larger')                       -> t, p, df
  CompareMeans(DescrStatsW(A), DescrStatsW(B)).tconfint_diff(usevar='unequal')  -> interval
  statsmodels.stats.multitest.multipletests(p, method='holm')[1]
  statsmodels.stats.power.TTestIndPower().power(effect_size, nobs1, alpha=0.05, ratio, alternative='larger')
  TTestIndPower().solve_power(effect_size=None, nobs1=3, power=0.8, alternative='larger') * sd
  DescrStatsW(a - b).ttest_mean(0, alternative='larger')                        -> paired t
  statsmodels.stats.proportion.proportions_chisquare(successes, trials)
  scipy.stats.permutation_test(..., permutation_type='independent', alternative='greater', n_resamples=inf)
"""
import math

import numpy as np
import pytest

from glam_jax.eval import seed_stats

A, B = [0.86, 0.77, 0.79], [0.60, 0.65, 0.69]
C, D = [0.52, 0.40, 0.61], [0.55, 0.47, 0.30, 0.44]


@pytest.mark.parametrize('a, b, t_p, df, interval', [
    (A, B, 0.006648833663432323, 3.9912302070645556, (0.05520290154537982, 0.26479709845462024)),
    (C, D, 0.21353259801513694, 4.424847007313797, (-0.14423096936421667, 0.28423096936421666))])
def test_welch_matches_statsmodels(a, b, t_p, df, interval):
  r = seed_stats.welch(a, b)
  assert r['p_one_sided'] == pytest.approx(t_p, rel=1e-9)
  assert r['df'] == pytest.approx(df, rel=1e-9)
  assert r['interval'] == pytest.approx(list(interval), rel=1e-9)
  assert r['difference'] == pytest.approx(np.mean(a) - np.mean(b)) and r['seeds'] == [len(a), len(b)]
  # the other direction: its p is the complement
  assert seed_stats.welch(b, a)['p_one_sided'] == pytest.approx(1 - t_p, rel=1e-9)


def test_welch_needs_two_seeds_and_handles_no_spread():
  assert seed_stats.welch([0.8], B) is None
  r = seed_stats.welch([0.0, 0.0, 0.0], [0.0, 0.0, 0.0])
  assert math.isnan(r['p_one_sided']) and r['difference'] == 0
  with pytest.raises(ValueError, match='per-seed success rates'):
    seed_stats.welch([1.2, 0.5], B)


def test_permutation_matches_scipy_exhaustive():
  assert seed_stats.permutation(A, B) == pytest.approx(0.05)      # 1 split of 20: the floor at 3 vs 3
  assert seed_stats.permutation(C, D) == pytest.approx(0.22857142857142856)
  assert seed_stats.permutation(B, A) == pytest.approx(1.0)


def test_holm_matches_statsmodels_and_skips_untested():
  p = [0.01, 0.04, 0.03, 0.005, 0.2]
  assert seed_stats.holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.025, 0.2])
  out = seed_stats.holm([0.01, math.nan, 0.04])                  # a family of two
  assert out[0] == pytest.approx(0.02) and math.isnan(out[1]) and out[2] == pytest.approx(0.04)
  assert seed_stats.holm([0.35, 0.3]) == pytest.approx([0.6, 0.6])   # monotone: 0.35 alone would be lower
  assert seed_stats.holm([0.9, 0.8]) == [1.0, 1.0]                   # capped at 1


def test_power_and_detectable_match_statsmodels():
  assert seed_stats.t_power(0.1, 0.05, 3, 3) == pytest.approx(0.6452020867588502, rel=1e-6)
  assert seed_stats.t_power(0.1, 0.05, 4, 5) == pytest.approx(0.8490689976907563, rel=1e-6)
  d = seed_stats.detectable(0.8, 0.05, 3, 3)
  assert d == pytest.approx(0.12409734147921819, rel=1e-6)
  assert seed_stats.t_power(d, 0.05, 3, 3) == pytest.approx(0.8, abs=1e-8)   # the root, not a bracket's end
  # in the direction tested: a reference at 0.1 cannot be beaten by 0.124 (the other arm would be below 0)
  assert seed_stats.detectable(0.1, 0.05, 3, 3) == math.inf
  # the spread floors at one seed's trial noise
  assert seed_stats.seed_spread([0.5, 0.5], [0.5, 0.5], 100) == pytest.approx(0.05)
  assert seed_stats.seed_spread(A, B) == pytest.approx(math.sqrt((np.var(A, ddof=1) + np.var(B, ddof=1)) / 2))


def test_paired_across_tasks_matches_statsmodels():
  r = seed_stats.paired_across_tasks([0.81, 0.47, 0.92, 0.22], [0.65, 0.27, 0.87, 0.06])
  assert r['t'] == pytest.approx(4.41962284955001, rel=1e-9)
  assert r['p_one_sided'] == pytest.approx(0.010752771820033948, rel=1e-9) and r['tasks'] == 4
  assert seed_stats.paired_across_tasks([0.5], [0.4]) is None


def test_homogeneity_matches_statsmodels_and_measures_dispersion():
  r = seed_stats.homogeneity([86, 77, 79], [100, 100, 100])
  assert r['chi2'] == pytest.approx(2.86406383585067, rel=1e-9) and r['p'] == pytest.approx(0.23882315983675614, rel=1e-9)
  # seeds at 0.3 and 0.9 of 100 trials each: far more spread than trials give
  wide = seed_stats.homogeneity([30, 90], [100, 100])
  assert wide['p'] < 1e-10 and wide['dispersion'] > 10
  assert math.isnan(seed_stats.homogeneity([0, 0, 0], [100, 100, 100])['p'])


def test_welch_with_one_arm_without_spread():
  r = seed_stats.welch([0.72, 0.72, 0.72], B)      # Welch's df then n_b - 1; the same rate twice is one rate
  assert r['df'] == pytest.approx(2.0) and r['difference'] == pytest.approx(0.72 - np.mean(B))
  assert seed_stats.welch([0.1 + 0.2, 0.3, 0.3], B)['df'] == pytest.approx(2.0)
