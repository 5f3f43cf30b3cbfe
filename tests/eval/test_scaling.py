"""Reading the scaling curves: the exchange rate of auxiliary for target episodes and the target episodes
a curve needs to match a level, with bootstrap intervals that cover the truth and widen with fewer trials."""
import math

import numpy as np
import pytest

from glam_jax.eval import scaling


def test_exchange_rate_reads_slopes():
  aux = [(0, 300, 1000), (200, 400, 1000), (400, 500, 1000)]           # +0.05 per 100 auxiliary
  target = [(100, 500, 1000), (300, 700, 1000), (500, 900, 1000)]      # +0.10 per 100 target
  r = scaling.exchange_rate(aux, target)
  assert r['aux_per_target'] == pytest.approx(2.0)                    # two auxiliary buy one target
  assert r['interval'][0] < 2.0 < r['interval'][1] and r['unbounded_fraction'] == 0
  few = scaling.exchange_rate([(x, k // 10, n // 10) for x, k, n in aux], [(x, k // 10, n // 10) for x, k, n in target])
  assert few['interval'][1] - few['interval'][0] > r['interval'][1] - r['interval'][0]
  flat = scaling.exchange_rate([(0, 50, 100), (400, 50, 100)], [(100, 50, 100), (500, 90, 100)])
  assert math.isinf(flat['aux_per_target']) and flat['interval'][1] == math.inf and flat['unbounded_fraction'] > 0.3
  with pytest.raises(ValueError, match='at least two'):
    scaling.exchange_rate([(0, 1, 2)], target)


def test_matching_episodes_interpolates():
  curve = [(100, 200, 1000), (300, 400, 1000), (500, 800, 1000)]
  m = scaling.matching_episodes(curve, (100, 300, 1000))
  assert m['episodes'] == pytest.approx(200.0) and m['interval'][0] < 200 < m['interval'][1]
  assert scaling.matching_episodes(curve, (100, 600, 1000))['episodes'] == pytest.approx(400.0)
  beyond = scaling.matching_episodes(curve, (100, 950, 1000))
  assert np.isnan(beyond['episodes']) and beyond['in_range_fraction'] < 0.05
