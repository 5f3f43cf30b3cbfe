"""Reading the scaling curves: the exchange rate of auxiliary for target episodes and the target episodes
a curve needs to match a level, with bootstrap intervals that cover the truth, widen with fewer trials and
with seed-to-seed spread, and draw a point that two curves share once."""
import math

import numpy as np
import pytest

from glam_jax.eval import scaling


def _pts(rows, seeds=None):
  return [scaling.point(x, k, n, seeds[i] if seeds else ()) for i, (x, k, n) in enumerate(rows)]


AUX = [(0, 300, 1000), (200, 400, 1000), (400, 500, 1000)]           # +0.05 per 100 auxiliary
TARGET = [(100, 500, 1000), (300, 700, 1000), (500, 900, 1000)]      # +0.10 per 100 target


def test_exchange_rate_reads_slopes():
  r = scaling.exchange_rate(_pts(AUX), _pts(TARGET))
  assert r['aux_per_target'] == pytest.approx(2.0)                    # two auxiliary buy one target
  assert r['interval'][0] < 2.0 < r['interval'][1] and r['unbounded_fraction'] == 0 and r['determined']
  assert r['points'] == 6 and r['points_with_seeds'] == 0
  few = scaling.exchange_rate(_pts([(x, k // 10, n // 10) for x, k, n in AUX]),
                              _pts([(x, k // 10, n // 10) for x, k, n in TARGET]))
  assert few['interval'][1] - few['interval'][0] > r['interval'][1] - r['interval'][0]
  flat = scaling.exchange_rate(_pts([(0, 50, 100), (400, 50, 100)]), _pts([(100, 50, 100), (500, 90, 100)]))
  assert math.isinf(flat['aux_per_target']) and flat['interval'][1] == math.inf and flat['unbounded_fraction'] > 0.3
  assert not flat['determined']
  with pytest.raises(ValueError, match='at least two'):
    scaling.exchange_rate(_pts([(0, 1, 2)]), _pts(TARGET))


def test_seed_spread_widens_the_interval():
  # the same pooled counts, three seeds each that agree (spread at the trials' noise) or disagree widely
  agree = [[k / n] * 3 for _, k, n in AUX + TARGET]
  spread = [[k / n - 0.15, k / n, k / n + 0.15] for _, k, n in AUX + TARGET]
  tight = scaling.exchange_rate(_pts(AUX, agree[:3]), _pts(TARGET, agree[3:]))
  wide = scaling.exchange_rate(_pts(AUX, spread[:3]), _pts(TARGET, spread[3:]))
  assert tight['points_with_seeds'] == 6 and tight['aux_per_target'] == wide['aux_per_target']
  assert wide['interval'][1] - wide['interval'][0] > 2 * (tight['interval'][1] - tight['interval'][0])
  assert not wide['determined']


def test_a_point_on_both_curves_is_drawn_once():
  # 100 target + 400 aux sits at x=400 on the aux curve and x=100 on the target curve: a high draw of it
  # raises one slope and lowers the other, so drawing it once gives a wider interval than two draws would
  exact = lambda x, rate: scaling.point(x, int(rate * 10 ** 6), 10 ** 6)
  shared = scaling.point(None, 60, 100, key='main/stack_two/glam_o')
  aux = [exact(0, 0.4), {**shared, 'x': 400}]
  target = [{**shared, 'x': 100}, exact(500, 0.8)]
  once = scaling.exchange_rate(aux, target)
  twice = scaling.exchange_rate(aux, [{**shared, 'x': 100, 'key': 'copy'}, exact(500, 0.8)])
  assert once['points'] == 3 and twice['points'] == 4
  assert once['aux_per_target'] == pytest.approx(twice['aux_per_target'])
  assert once['interval'][1] - once['interval'][0] > 1.2 * (twice['interval'][1] - twice['interval'][0])


def test_matching_episodes_interpolates():
  curve = _pts([(100, 200, 1000), (300, 400, 1000), (500, 800, 1000)])
  m = scaling.matching_episodes(curve, scaling.point(100, 300, 1000))
  assert m['episodes'] == pytest.approx(200.0) and m['interval'][0] < 200 < m['interval'][1]
  assert scaling.matching_episodes(curve, scaling.point(100, 600, 1000))['episodes'] == pytest.approx(400.0)
  beyond = scaling.matching_episodes(curve, scaling.point(100, 950, 1000))
  assert np.isnan(beyond['episodes']) and beyond['in_range_fraction'] < 0.05


def test_determined():
  assert scaling.determined([0.8, 2.5]) and not scaling.determined([0.5, 20])
  assert not scaling.determined([0.5, math.inf]) and not scaling.determined([math.nan, math.nan])
