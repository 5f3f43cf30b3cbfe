"""Wilson and Newcombe intervals against values computed independently here and published examples."""
import math
from statistics import NormalDist

import numpy as np
import pytest

from glam_jax.eval import stats


def _wilson_by_quadratic(s, n, z):
  """Wilson's interval as the roots in p of (p̂ - p)² = z² p (1 - p) / n (the score test's acceptance edge)."""
  ph = s / n
  a = 1 + z * z / n
  b = -(2 * ph + z * z / n)
  c = ph * ph
  disc = math.sqrt(b * b - 4 * a * c)
  return (-b - disc) / (2 * a), (-b + disc) / (2 * a)


@pytest.mark.parametrize('s, n', [(0, 10), (1, 10), (7, 20), (18, 20), (20, 20), (46, 100), (150, 150)])
def test_wilson_matches_the_score_test_roots(s, n):
  z = 1.959963984540054
  lo, hi = stats.wilson(s, n)
  elo, ehi = _wilson_by_quadratic(s, n, z)
  assert lo == pytest.approx(max(0.0, elo), abs=1e-9) and hi == pytest.approx(min(1.0, ehi), abs=1e-9)
  assert lo <= s / n <= hi


def test_newcombe_published_example():
  # Newcombe (1998), Stat. Med. 17:873, table II example (56/70 vs 48/80): method 10 gives 0.0524 to 0.3339
  lo, hi = stats.newcombe(56, 70, 48, 80)
  assert lo == pytest.approx(0.0524, abs=5e-4) and hi == pytest.approx(0.3339, abs=5e-4)
  # swapping the groups mirrors the interval
  lo2, hi2 = stats.newcombe(48, 80, 56, 70)
  assert lo2 == pytest.approx(-hi, abs=1e-12) and hi2 == pytest.approx(-lo, abs=1e-12)


def test_one_sided_is_narrower_and_z_values():
  assert stats.z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
  assert stats.z_value(0.95, two_sided=False) == pytest.approx(1.644854, abs=1e-6)
  two = stats.newcombe(18, 20, 11, 20)
  one = stats.newcombe(18, 20, 11, 20, two_sided=False)
  assert two[0] < one[0] and 0 < one[0]


def test_mean_std_and_bad_input():
  m, s = stats.mean_std([0.9, 0.8, 1.0])
  assert m == pytest.approx(0.9) and s == pytest.approx(np.std([0.9, 0.8, 1.0], ddof=1))
  assert stats.mean_std([0.5]) == (0.5, 0.0)
  with pytest.raises(ValueError, match='trials must be positive'):
    stats.wilson(0, 0)
  with pytest.raises(ValueError, match=r'successes must be in \[0, 5\]'):
    stats.wilson(6, 5)
  r = stats.rate_summary(3, 4)
  assert r['rate'] == 0.75 and r['wilson_low'] < 0.75 < r['wilson_high']


def test_power_and_detectable_difference_look_in_the_direction_tested():
  # one-sided z-test by hand: 0.6 against 0.4, 100 trials each, pooled null 0.5
  null_se, alt_se = math.sqrt(0.25 * 0.02), math.sqrt(0.24 / 100 * 2)
  hand = NormalDist().cdf((0.2 - 1.6448536269514722 * null_se) / alt_se)
  assert stats.power(0.6, 0.4, 100, 100) == pytest.approx(hand, rel=1e-9)
  assert stats.power(0.4, 0.6, 100, 100) < 0.01                       # the other direction is not tested
  d = stats.detectable_difference(0.5, 100, 100)
  assert stats.power(0.5, 0.5 - d, 100, 100) == pytest.approx(0.8, abs=1e-6)   # the root, not a bracket end
  # one-sided needs less than the two-sided textbook 0.198 (2.8 * sqrt(0.5 / 100)): about 2.49 * 0.0707
  assert 0.16 < d < 0.19
  sizes = [stats.detectable_difference(0.6, n, n) for n in (30, 100, 300, 1000)]
  assert sizes == sorted(sizes, reverse=True)
  # only downwards from the reference: at 0.05 nothing below it is detectable with 100 trials
  assert stats.detectable_difference(0.05, 100, 100) == math.inf
  assert stats.detectable_difference(0.0, 100, 100) == math.inf
  assert stats.detectable_difference(0.5, 2, 2) == math.inf
  with pytest.raises(ValueError, match='trials per arm must be positive'):
    stats.power(0.5, 0.5, 0, 10)
