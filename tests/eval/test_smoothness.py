"""Smoothness metrics against closed forms derived here, the SPARC authors' published example values,
and the orderings that make them useful (a jerky movement scores worse than a smooth one)."""
import math

import numpy as np
import pytest
from numpy.polynomial import Polynomial

from glam_jax.eval import smoothness as sm


def _min_jerk_positions(n_steps, duration, distance, direction=(1.0, 0.0, 0.0)):
  """n_steps + 1 TCP positions along a straight minimum-jerk reach x(τ) = D(10τ³ − 15τ⁴ + 6τ⁵)."""
  tau = np.arange(n_steps + 1) / n_steps
  x = distance * (10 * tau ** 3 - 15 * tau ** 4 + 6 * tau ** 5)
  d = np.asarray(direction, np.float64) / np.linalg.norm(direction)
  return np.array([0.3, -0.1, 0.2]) + x[:, None] * d


def _min_jerk_speed(n, duration, distance):
  """v(τ) = 30 τ²(1−τ)² D/T sampled at the midpoints of n intervals."""
  tau = (np.arange(n) + 0.5) / n
  return 30 * tau ** 2 * (1 - tau) ** 2 * distance / duration


def _min_jerk_ldlj_exact(duration, distance):
  """-ln(T³/v_peak² ∫₀ᵀ (d²v/dt²)² dt) for v = 30 s(τ) D/T, s = τ²(1−τ)², from exact polynomial calculus:
  d²v/dt² = 30 D/T³ · s''(τ), dt = T dτ, v_peak = 30 D/T · s(1/2)."""
  s = Polynomial([0, 0, 1]) * Polynomial([1, -1]) ** 2
  s2 = s.deriv(2)
  sq = (s2 * s2).integ()
  jerk_integral = (30 * distance / duration ** 3) ** 2 * duration * (sq(1.0) - sq(0.0))
  v_peak = 30 * distance / duration * s(0.5)
  return -math.log(duration ** 3 / v_peak ** 2 * jerk_integral)


def test_min_jerk_closed_form_is_the_textbook_constant():
  # ∫₀¹ (2 − 12τ + 12τ²)² dτ = 4/5 and v_peak = 15/8 · D/T, so the dimensionless jerk is 720·64/225 = 204.8.
  assert _min_jerk_ldlj_exact(2.0, 0.3) == pytest.approx(-math.log(204.8), abs=1e-12)
  assert _min_jerk_ldlj_exact(0.7, 5.0) == pytest.approx(-math.log(204.8), abs=1e-12)


def test_ldlj_of_min_jerk_converges_to_the_analytic_value():
  exact = _min_jerk_ldlj_exact(2.0, 0.3)
  errors = []
  for n in (100, 200, 400, 800):
    dt = 2.0 / n
    errors.append(abs(sm.ldlj(_min_jerk_speed(n, 2.0, 0.3), dt) - exact))
  # The rectangle rule drops the end intervals, where the integrand is largest: relative error ~10/n.
  assert all(b < a for a, b in zip(errors, errors[1:]))
  assert errors[0] < 0.12
  assert errors[-1] < 0.015


def test_ldlj_from_positions_matches_the_analytic_value():
  n, duration = 800, 4.0
  speed = sm.speed_profile(_min_jerk_positions(n, duration, 0.25, (1, 2, -1)), duration / n)
  assert speed.shape == (n,)
  assert sm.ldlj(speed, duration / n) == pytest.approx(_min_jerk_ldlj_exact(duration, 0.25), abs=0.015)


def test_ldlj_is_dimensionless_and_the_paper_variant_is_not():
  n = 200
  base = sm.ldlj(_min_jerk_speed(n, 1.0, 0.2), 1.0 / n)
  slow_far = sm.ldlj(_min_jerk_speed(n, 3.0, 0.9), 3.0 / n)
  assert slow_far == pytest.approx(base, abs=1e-9)
  # T⁵ instead of T³ multiplies the jerk measure by T², i.e. shifts LDLJ by -2 ln T.
  for duration in (0.5, 3.0):
    v = _min_jerk_speed(n, duration, 0.2)
    t5 = sm.ldlj(v, duration / n, variant='paper_t5')
    assert t5 == pytest.approx(sm.ldlj(v, duration / n) - 2 * math.log(duration), abs=1e-9)
  with pytest.raises(ValueError):
    sm.ldlj(_min_jerk_speed(n, 1.0, 0.2), 1.0 / n, variant='t4')


def test_reference_implementation_examples():
  # Values printed in the docstrings of Balasubramanian et al.'s reference code for exp(-5 t²), t ∈ [-1, 1),
  # sampled at 100 Hz (github.com/siva82kb/SPARC, scripts/smoothness.py).
  t = np.arange(-1, 1, 0.01)
  bell = np.exp(-5 * t ** 2)
  assert sm.sparc(bell, 0.01) == pytest.approx(-1.41403, abs=5e-6)
  assert sm.ldlj(bell, 0.01) == pytest.approx(-5.81636, abs=5e-6)


def test_sparc_of_a_gaussian_matches_the_arc_length_of_its_analytic_spectrum():
  # v(t) = exp(-t²/(2σ²)) has |V(f)|/|V(0)| = exp(-2π²σ²f²); it falls to the 0.05 threshold at
  # f_c = sqrt(ln 20 / (2π²σ²)). SPARC's limit is minus the arc length of that curve for f/f_c ∈ [0, 1].
  sigma2 = 0.1
  f_c = math.sqrt(math.log(20) / (2 * math.pi ** 2 * sigma2))
  u = np.linspace(0, 1, 100001)
  magnitude = np.exp(-2 * math.pi ** 2 * sigma2 * (u * f_c) ** 2)
  expected = -np.sum(np.hypot(np.diff(u), np.diff(magnitude)))
  t = np.arange(-2, 2, 0.005)
  assert sm.sparc(np.exp(-t ** 2 / (2 * sigma2)), 0.005) == pytest.approx(expected, abs=5e-3)


def test_sparc_of_a_min_jerk_bell():
  for n, duration in ((50, 1.0), (200, 2.0)):
    value = sm.sparc(_min_jerk_speed(n, duration, 0.3), duration / n)
    assert -1.6 < value < -1.4


def test_sparc_cutoff_is_capped_at_nyquist():
  # At 10 Hz control the 10 Hz cut-off lies above Nyquist (5 Hz): white noise then spans the whole
  # one-sided band, which must not be folded back in (that would double its arc length).
  rng = np.random.default_rng(0)
  v = 1.0 + 0.5 * rng.random(64)
  assert sm.sparc(v, 0.1) == pytest.approx(sm.sparc(v, 0.1, cutoff_hz=5.0), abs=1e-12)


def test_fft_score_of_a_sinusoid_is_amplitude_times_normalised_frequency():
  # n = 200 samples at f_s = 100 Hz, f0 = 5 Hz: 10 whole periods, so all energy sits in bin k0 = 10 with
  # raw magnitude A·n/2. Sm = 2/(n f_s) · (A n/2) · f0 = A · f0 / f_s.
  n, fs, f0, amp = 200, 100.0, 5.0, 0.3
  t = np.arange(n) / fs
  assert sm.fft_score(amp * np.sin(2 * np.pi * f0 * t), 1 / fs) == pytest.approx(amp * f0 / fs, rel=1e-9)
  # A constant offset sits at f = 0 and adds nothing; a second tone adds its own A f / f_s.
  two = 0.7 + amp * np.sin(2 * np.pi * f0 * t) + 0.1 * np.cos(2 * np.pi * 20.0 * t)
  assert sm.fft_score(two, 1 / fs) == pytest.approx((amp * f0 + 0.1 * 20.0) / fs, rel=1e-9)


def test_a_jerky_reach_scores_worse_on_all_three_metrics():
  # A 3 Hz tremor along the direction of motion, growing from 0 to 4 mm: every metric must get worse
  # at every step (LDLJ and SPARC more negative, FFT score higher).
  n, duration = 100, 2.0
  dt = duration / n
  smooth = _min_jerk_positions(n, duration, 0.3)
  tau = np.arange(n + 1) / n
  tremor = np.sin(2 * np.pi * 3.0 * tau * duration) * np.sin(np.pi * tau)
  scores = [sm.episode_metrics(smooth + amp * tremor[:, None] * np.array([1.0, 0.0, 0.0]), dt)
            for amp in (0.0, 0.002, 0.004)]
  for a, b in zip(scores, scores[1:]):
    assert b['ldlj'] < a['ldlj'] - 0.5
    assert b['sparc'] < a['sparc'] - 0.05
    assert b['fft'] > a['fft'] * 1.2


def test_speed_profile_of_a_constant_velocity_line():
  velocity = np.array([0.1, -0.2, 0.2])
  positions = np.arange(11)[:, None] * 0.05 * velocity
  np.testing.assert_allclose(sm.speed_profile(positions, 0.05), np.full(10, 0.3), rtol=1e-12)
  with pytest.raises(ValueError):
    sm.speed_profile(positions[:, :2], 0.05)
  with pytest.raises(ValueError):
    sm.speed_profile(positions, 0.0)


def test_summarize_cuts_each_episode_and_excludes_degenerate_ones():
  rng = np.random.default_rng(1)
  n_max = 121
  positions = rng.normal(size=(4, n_max, 3))       # garbage past each episode's end
  ep0 = _min_jerk_positions(80, 1.6, 0.3)
  ep1 = _min_jerk_positions(120, 2.4, 0.2, (0, 1, 1))
  positions[0, :81] = ep0
  positions[1, :121] = ep1
  positions[2, :50] = np.array([0.4, 0.0, 0.3])    # never moves
  positions[3, :3] = ep0[:3]                         # too short for a second difference
  out = sm.summarize(positions, [81, 121, 50, 3], 0.02, per_episode=True)
  m0, m1 = sm.episode_metrics(ep0, 0.02), sm.episode_metrics(ep1, 0.02)
  assert out['valid'] == 2 and out['episodes'] == 4
  for k in ('ldlj', 'sparc', 'fft'):
    assert out[k] == pytest.approx((m0[k] + m1[k]) / 2, rel=1e-12)
    assert out['per_episode'][k][:2] == pytest.approx([m0[k], m1[k]], rel=1e-12)
    assert all(math.isnan(x) for x in out['per_episode'][k][2:])
  assert out['ldlj'] == pytest.approx(-math.log(204.8), abs=0.15)


def test_summarize_with_no_valid_episode_reports_nan():
  out = sm.summarize(np.zeros((2, 10, 3)), np.array([10, 10]), 0.1)
  assert out['valid'] == 0 and all(math.isnan(out[k]) for k in ('ldlj', 'sparc', 'fft'))


@pytest.mark.parametrize('positions, lengths', [
    (np.zeros((2, 10)), [10, 10]),          # missing xyz axis
    (np.zeros((2, 10, 2)), [10, 10]),       # not 3-D positions
    (np.zeros((2, 10, 3)), [10]),           # one length for two episodes
    (np.zeros((2, 10, 3)), [10, 11]),       # longer than the buffer
    (np.zeros((2, 10, 3)), [10, -1]),
    (np.zeros((2, 10, 3)), [10, 4.5]),
])
def test_summarize_rejects_bad_shapes(positions, lengths):
  with pytest.raises(ValueError):
    sm.summarize(positions, lengths, 0.1)


def test_sparc_is_undefined_when_one_bin_passes_the_threshold():
  # 1 kHz sampling, 4 samples: padded to 64 points, bins 15.6 Hz apart, so only DC lies below 10 Hz
  speed = np.array([0.2, 0.5, 0.5, 0.2])
  assert math.isnan(sm.sparc(speed, 0.001))
  positions = np.cumsum(np.stack([np.r_[0.0, speed], np.zeros(5), np.zeros(5)], -1) * 0.001, 0)
  smooth = _min_jerk_positions(4, 0.004, 0.001)
  out = sm.summarize(np.stack([positions, smooth]), np.array([5, 5]), 0.001)
  assert out['valid'] == 0 and out['episodes'] == 2 and math.isnan(out['sparc'])
