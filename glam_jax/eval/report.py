"""What an evaluation run leaves for a person to read: a success-rate bar chart (PNG) and `report.md`.

Both take the `results` dict the evaluation job assembles:
  {'task': str,
   'methods': {name: {'success': {'successes', 'trials', 'rate', 'wilson_low', 'wilson_high'},
                      'smoothness': {'ldlj', 'sparc', 'fft', 'valid'}   (optional),
                      'seeds': [per-seed success rates]                  (optional)}},
   'comparisons': [{'a', 'b', 'newcombe_two_sided': [lo, hi], 'newcombe_one_sided_low'}],
   (per method, optional) 'replay': {'<source>-><target>': {'successes', 'trials', 'rate', 'wilson_low',
                                      'wilson_high', 'tracking_error_m'}},
   'machine': str, 'timings': {stage: seconds}}
The chart is drawn with PIL alone (matplotlib is not a dependency of this project).
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from glam_jax import viz
from glam_jax.eval import stats

BAR_COLOUR = (66, 114, 196)
ERROR_COLOUR = (0, 0, 0)
GRID_COLOUR = (225, 225, 225)
AXIS_COLOUR = (60, 60, 60)
TEXT_COLOUR = (0, 0, 0)
CHART_SIZE = (640, 420)
_MARGIN = {'left': 64, 'right': 24, 'top': 44, 'bottom': 72}   # pixels around the plot area


def font(size: int):
  try:
    return ImageFont.load_default(size=size)
  except (TypeError, OSError, ImportError):   # Pillow without FreeType: the fixed bitmap font
    return ImageFont.load_default()


def success_block(name: str, method: dict) -> dict:
  """The method's success block, with its Wilson interval computed here if the job left it out."""
  if 'success' not in method:
    raise ValueError(f'method {name!r} has no success block')
  s = dict(method['success'])
  k, n = int(s['successes']), int(s['trials'])
  s.setdefault('rate', k / n if n else math.nan)
  if 'wilson_low' not in s or 'wilson_high' not in s:
    s['wilson_low'], s['wilson_high'] = stats.wilson(k, n)
  return s


def _methods(results: dict) -> dict:
  methods = results.get('methods')
  if not methods:
    raise ValueError('results has no methods')
  return methods


def rate_axes(draw, box, title: str, small, title_font):
  """A titled 0-1 rate axis with grid lines and ticks in `box` (x0, y_top, x1, y_bottom) -> y_of(rate)."""
  x0, y_top, x1, y_bottom = box

  def y_of(rate: float) -> int:
    return int(round(y_bottom - min(max(rate, 0.0), 1.0) * (y_bottom - y_top)))

  draw.text(((x0 + x1) / 2, 8), title, fill=TEXT_COLOUR, font=title_font, anchor='ma')
  for tick in np.linspace(0.0, 1.0, 6):
    y = y_of(tick)
    draw.line([(x0, y), (x1, y)], fill=GRID_COLOUR)
    draw.line([(x0 - 5, y), (x0, y)], fill=AXIS_COLOUR)
    draw.text((x0 - 8, y), f'{tick:.1f}', fill=TEXT_COLOUR, font=small, anchor='rm')
  draw.line([(x0, y_top), (x0, y_bottom)], fill=AXIS_COLOUR)
  draw.line([(x0, y_bottom), (x1, y_bottom)], fill=AXIS_COLOUR)
  return y_of


def bar_chart(results: dict, path: str, size: tuple = CHART_SIZE) -> np.ndarray:
  """Success rate per method as bars on a 0–1 axis, with 95 % Wilson error bars, the method's name and
  its k/n under each bar. Writes a PNG to `path` and returns the (H, W, 3) uint8 image."""
  methods = _methods(results)
  width, height = size
  img = Image.new('RGB', (width, height), (255, 255, 255))
  draw = ImageDraw.Draw(img)
  small, title_font = font(13), font(16)
  x0, x1 = _MARGIN['left'], width - _MARGIN['right']
  y_top, y_bottom = _MARGIN['top'], height - _MARGIN['bottom']

  title = f"{results.get('task', '')}: success rate (95 % Wilson interval)".lstrip(': ')
  y_of = rate_axes(draw, (x0, y_top, x1, y_bottom), title, small, title_font)
  draw.text((14, (y_top + y_bottom) / 2), 'rate', fill=TEXT_COLOUR, font=small, anchor='mm')

  slot = (x1 - x0) / len(methods)
  bar_w = max(4, int(slot * 0.55))
  cap = max(2, bar_w // 6)
  for i, (name, method) in enumerate(methods.items()):
    s = success_block(name, method)
    cx = int(round(x0 + (i + 0.5) * slot))
    left, right = cx - bar_w // 2, cx + bar_w // 2
    if s['rate'] > 0:
      draw.rectangle([left, y_of(s['rate']), right, y_bottom], fill=BAR_COLOUR)
    lo, hi = y_of(s['wilson_low']), y_of(s['wilson_high'])
    draw.line([(cx, hi), (cx, lo)], fill=ERROR_COLOUR, width=2)
    draw.line([(cx - cap, hi), (cx + cap, hi)], fill=ERROR_COLOUR, width=2)
    draw.line([(cx - cap, lo), (cx + cap, lo)], fill=ERROR_COLOUR, width=2)
    draw.text((cx, y_bottom + 8), name, fill=TEXT_COLOUR, font=small, anchor='ma')
    draw.text((cx, y_bottom + 28), f"{int(s['successes'])}/{int(s['trials'])}", fill=TEXT_COLOUR,
              font=small, anchor='ma')
  draw.line([(x0, y_top), (x0, y_bottom)], fill=AXIS_COLOUR)
  draw.line([(x0, y_bottom), (x1, y_bottom)], fill=AXIS_COLOUR)
  out = np.asarray(img)
  viz.save_png(path, out)
  return out


def num(value, fmt: str) -> str:
  if value is None:
    return '–'
  value = float(value)
  return 'n/a' if not math.isfinite(value) else format(value, fmt)


def interval(lo, hi, fmt: str = '.3f') -> str:
  return f'[{num(lo, fmt)}, {num(hi, fmt)}]'


def verdict(comparison: dict) -> bool:
  """A is better than B at one-sided 95 % when Newcombe's one-sided lower bound of p_A − p_B is above 0."""
  return float(comparison['newcombe_one_sided_low']) > 0


def alignment_lines(methods: dict, head: tuple = ('method',)) -> list:
  """The alignment probe's table (glam_jax/eval/alignment.py) for the methods that have one: `methods`
  {row key: method block}, the keys tuples as long as `head` (the first columns) or plain names."""
  probes = {(k if isinstance(k, tuple) else (k,)): m['alignment'] for k, m in methods.items() if m.get('alignment')}
  if not probes:
    return []
  truth = sorted({kind for p in probes.values() for kind in p['truth'].values()})
  lines = ['', '## Alignment probe', '',
           'A ridge map from each method\'s latent to the end effector\'s motion over one step (position and '
           'rotation change, gripper change), fitted on target transitions; R² (variance-weighted) on held-out '
           'target episodes and on each other source. Gap: target R² minus the source\'s. Reference: the same '
           'probe on the recorded pose change; margin: the latent\'s R² minus the reference\'s. Phase distance: '
           'the two sources\' latent centroids per scripted phase, over the distance between phases (0: aligned). '
           f'Truth: {", ".join(truth)}.', '',
           '| ' + ' | '.join(head) + ' | source | R² | gap | reference R² | margin | phase distance |',
           '|---' * len(head) + '|---|---|---|---|---|---|']
  for key, p in probes.items():
    for source, r in p['results'].items():
      phase = (r.get('phase_distance') or {}).get('ratio')
      label = 'target (held out)' if source == 'target_held_out' else source
      lines.append(f"| {' | '.join(key)} | {label} | {num(r['r2'], '.3f')} | {num(r.get('gap'), '+.3f')} | "
                   f"{num(r['reference_r2'], '.3f')} | {num(r['margin'], '+.3f')} | {num(phase, '.2f')} |")
  return lines


def markdown(results: dict) -> str:
  """`report.md`: per-method success and smoothness table, pairwise comparisons with verdicts, timings."""
  methods = _methods(results)
  with_seeds = any(m.get('seeds') for m in methods.values())
  lines = [f"# Evaluation: {results.get('task', '?')}", '']
  if results.get('machine'):
    lines += [f"Machine: {results['machine']}", '']
  lines += ['## Success and smoothness', '',
            'Success: pooled trials with a 95 % Wilson score interval. Smoothness of the end-effector speed '
            'profile, mean over valid episodes: LDLJ and SPARC closer to 0 is smoother, a lower FFT score '
            'is smoother.', '']
  head = ['method', 'success k/n', 'rate', '95 % Wilson', 'LDLJ', 'SPARC', 'FFT', 'valid episodes']
  if with_seeds:
    head.append('per-seed rate (mean ± std)')
  lines += ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
  for name, method in methods.items():
    s = success_block(name, method)
    sm = method.get('smoothness') or {}
    row = [name, f"{int(s['successes'])}/{int(s['trials'])}", num(s['rate'], '.3f'),
           interval(s['wilson_low'], s['wilson_high']), num(sm.get('ldlj'), '.3f'),
           num(sm.get('sparc'), '.3f'), num(sm.get('fft'), '.4g'),
           '–' if sm.get('valid') is None else str(int(sm['valid']))]
    if with_seeds:
      seeds = method.get('seeds') or []
      if seeds:
        mean, std = stats.mean_std(seeds)
        row.append(f'{mean:.3f} ± {std:.3f} (n={len(seeds)})')
      else:
        row.append('–')
    lines.append('| ' + ' | '.join(row) + ' |')

  comparisons = results.get('comparisons') or []
  if comparisons:
    lines += ['', '## Comparisons', '',
              "Difference of success rates p_A − p_B with Newcombe's hybrid-score interval (method 10).", '',
              '| A | B | p_A − p_B | 95 % two-sided | one-sided 95 % lower bound |', '|---|---|---|---|---|']
    verdicts = []
    for c in comparisons:
      a, b = c['a'], c['b']
      diff = (success_block(a, methods[a])['rate'] - success_block(b, methods[b])['rate']
              if a in methods and b in methods else None)
      lo, hi = c['newcombe_two_sided']
      lines.append(f"| {a} | {b} | {num(diff, '+.3f')} | {interval(lo, hi)} | "
                   f"{num(c['newcombe_one_sided_low'], '+.3f')} |")
      verdicts.append(f"- {a} better than {b} at one-sided 95 %: {'yes' if verdict(c) else 'no'}")
    lines += [''] + verdicts

  replays = {name: m['replay'] for name, m in methods.items() if m.get('replay')}
  if replays:
    lines += ['', '## Latent replay', '',
              'Unseen episodes of each source encoded by the method\'s world model, decoded into target actions '
              'and replayed open loop on the target robot; success as in closed-loop evaluation (the task '
              'predicate at any step), 95 % Wilson interval; TCP error: mean distance to the source\'s TCP.', '',
              '| method | replay | success k/n | rate | 95 % Wilson | TCP error (m) |', '|---|---|---|---|---|---|']
    for name, rows in replays.items():
      for pair, r in rows.items():
        lines.append(f"| {name} | {pair} | {int(r['successes'])}/{int(r['trials'])} | {num(r['rate'], '.3f')} | "
                     f"{interval(r['wilson_low'], r['wilson_high'])} | {num(r.get('tracking_error_m'), '.4f')} |")

  lines += alignment_lines(methods)

  timings = results.get('timings') or {}
  if timings:
    lines += ['', '## Timings', '', '| stage | seconds |', '|---|---|']
    lines += [f'| {stage} | {float(sec):.1f} |' for stage, sec in timings.items()]
    lines.append(f'| total | {sum(float(v) for v in timings.values()):.1f} |')
  cache = results.get('compile_cache')
  if cache and cache['hit_rate'] is not None:
    lines += ['', f"Persistent compile cache (this run): {cache['hits']} of {cache['hits'] + cache['misses']} "
                  f"lookups hit ({cache['hit_rate']:.0%}; programs compiled in under 1 s are never stored), "
                  f"{cache['compile_s'] / 60:.1f} min compiling, {cache['saved_s'] / 60:.1f} min saved by the hits."]
  return '\n'.join(lines) + '\n'
