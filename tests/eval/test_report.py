"""The report a person reads: bar heights follow the success rates, report.md carries every number with its
interval and the right verdicts, and rollout GIFs have one frame per step."""
import numpy as np
import pytest
from PIL import Image

from glam_jax import viz
from glam_jax.eval import report, stats


def _results():
  counts = {'glam_o': (45, 50), 'mip': (15, 50), 'clam_o': (28, 50), 'lapa': (0, 50)}
  methods = {name: {'success': stats.rate_summary(k, n)} for name, (k, n) in counts.items()}
  methods['glam_o']['smoothness'] = {'ldlj': -5.4321, 'sparc': -1.5123, 'fft': 0.0123456, 'valid': 45}
  methods['mip']['smoothness'] = {'ldlj': -8.765, 'sparc': -2.25, 'fft': 0.031, 'valid': 50}
  methods['glam_o']['seeds'] = [0.88, 0.92, 0.90]
  comparisons = []
  for a, b in (('glam_o', 'mip'), ('clam_o', 'glam_o')):
    (s1, n1), (s2, n2) = counts[a], counts[b]
    comparisons.append({'a': a, 'b': b, 'newcombe_two_sided': list(stats.newcombe(s1, n1, s2, n2)),
                        'newcombe_one_sided_low': stats.newcombe(s1, n1, s2, n2, two_sided=False)[0]})
  return {'task': 'lift', 'methods': methods, 'comparisons': comparisons, 'machine': 'test box, 2 CPU',
          'timings': {'stage1': 812.4, 'stage2': 1204.25, 'eval': 95.0}}


def _bar_runs(img):
  """Column runs holding the bar colour, and each bar's height measured in a column at a quarter of its
  width (clear of the error bar drawn at the centre)."""
  is_bar = np.all(img == np.array(report.BAR_COLOUR, np.uint8), axis=-1)
  cols = np.flatnonzero(is_bar.any(axis=0))
  runs = np.split(cols, np.flatnonzero(np.diff(cols) > 1) + 1) if cols.size else []
  heights = [int(is_bar[:, run[0] + (run[-1] - run[0]) // 4].sum()) for run in runs]
  return runs, heights


def test_bar_chart_is_a_png_whose_bars_follow_the_rates(tmp_path):
  results = _results()
  path = tmp_path / 'chart' / 'success.png'
  report.bar_chart(results, str(path))
  with open(path, 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'
  with Image.open(path) as im:
    assert im.format == 'PNG' and im.size == (640, 420)
    img = np.asarray(im.convert('RGB'))
  assert tuple(img[2, 2]) == (255, 255, 255)
  runs, heights = _bar_runs(img)
  rates = [m['success']['rate'] for m in results['methods'].values()]
  nonzero = [r for r in rates if r > 0]
  assert len(runs) == len(nonzero)                  # lapa at 0 % draws no bar
  assert all(len(run) > 40 for run in runs)         # readable bars, not hairlines
  assert np.argsort(heights).tolist() == np.argsort(nonzero).tolist()
  # Same pixels per unit of rate for every bar (to the pixel rounding).
  per_unit = np.array(heights) / np.array(nonzero)
  assert np.ptp(per_unit) < 3 / min(nonzero)
  assert per_unit.mean() > 200                      # the 0–1 axis spans most of the 420 px height


def test_bar_chart_needs_methods(tmp_path):
  with pytest.raises(ValueError):
    report.bar_chart({'task': 'lift', 'methods': {}}, str(tmp_path / 'x.png'))


def test_markdown_carries_every_count_interval_and_verdict():
  results = _results()
  text = report.markdown(results)
  assert text.startswith('# Evaluation: lift')
  header = '| method | success k/n | rate | 95 % Wilson | LDLJ | SPARC | FFT |'
  assert header in text
  for name, m in results['methods'].items():
    s = m['success']
    row = next(line for line in text.splitlines() if line.startswith(f'| {name} |'))
    assert f"| {s['successes']}/{s['trials']} |" in row
    assert f"| {s['rate']:.3f} |" in row
    assert f"[{s['wilson_low']:.3f}, {s['wilson_high']:.3f}]" in row
  glam_row = next(line for line in text.splitlines() if line.startswith('| glam_o |'))
  assert '-5.432' in glam_row and '-1.512' in glam_row and '0.01235' in glam_row
  assert '0.900 ± 0.020 (n=3)' in glam_row
  lapa_row = next(line for line in text.splitlines() if line.startswith('| lapa |'))
  assert '| 0/50 |' in lapa_row and '[0.000, ' in lapa_row and lapa_row.count('–') >= 3
  for c in results['comparisons']:
    lo, hi = c['newcombe_two_sided']
    assert f'[{lo:.3f}, {hi:.3f}]' in text
    assert f"{c['newcombe_one_sided_low']:+.3f}" in text
  # 45/50 vs 15/50 is clearly better; 28/50 vs 45/50 is clearly not.
  assert '- glam_o better than mip at one-sided 95 %: yes' in text
  assert '- clam_o better than glam_o at one-sided 95 %: no' in text
  assert '| stage1 | 812.4 |' in text and '| total | 2111.7 |' in text
  assert 'test box, 2 CPU' in text


def test_verdict_follows_the_one_sided_lower_bound():
  assert report.verdict({'newcombe_one_sided_low': 0.01})
  assert not report.verdict({'newcombe_one_sided_low': 0.0})
  assert not report.verdict({'newcombe_one_sided_low': -0.2})


def _moving_square(steps, h, w, colour):
  frames = np.zeros((steps, h, w, 3), np.uint8)
  for t in range(steps):
    frames[t, 1:4, t % (w - 3):t % (w - 3) + 3] = colour
  return frames


def test_save_gif_writes_one_frame_per_step(tmp_path):
  frames = _moving_square(7, 8, 10, (255, 0, 0))
  path = tmp_path / 'gif' / 'rollout.gif'
  viz.save_gif(str(path), frames, fps=10, scale=2)
  with Image.open(path) as im:
    assert im.format == 'GIF' and im.n_frames == 7 and im.size == (20, 16)
    assert im.info['duration'] == 100 and im.info['loop'] == 0
    im.seek(3)
    got = np.asarray(im.convert('RGB'))
  np.testing.assert_array_equal(got, frames[3].repeat(2, axis=0).repeat(2, axis=1))


def test_save_gif_puts_rollouts_side_by_side(tmp_path):
  a = _moving_square(5, 8, 10, (0, 255, 0))
  b = _moving_square(7, 6, 6, (0, 0, 255))
  path = tmp_path / 'pair.gif'
  viz.save_gif(str(path), [a, b], fps=5, scale=3)
  with Image.open(path) as im:
    assert im.n_frames == 7 and im.size == (10 * 3 + 2 + 6 * 3, 8 * 3)
    assert im.info['duration'] == 200
    im.seek(6)
    got = np.asarray(im.convert('RGB'))
  np.testing.assert_array_equal(got[:, :30], a[-1].repeat(3, axis=0).repeat(3, axis=1))   # a holds its end
  np.testing.assert_array_equal(got[:18, 32:], b[6].repeat(3, axis=0).repeat(3, axis=1))
  assert np.all(got[18:, 32:] == 255)                                                     # b padded white


def test_save_gif_rejects_bad_frames(tmp_path):
  with pytest.raises(ValueError):
    viz.save_gif(str(tmp_path / 'x.gif'), np.zeros((3, 4, 4), np.uint8))
  with pytest.raises(ValueError):
    viz.save_gif(str(tmp_path / 'x.gif'), np.zeros((3, 4, 4, 3), np.float32))
