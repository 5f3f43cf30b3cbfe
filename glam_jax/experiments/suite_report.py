"""What the suite leaves for a person to read: `report.md` (main table, GLAM-O's comparisons with the
trials per arm and the smallest difference they can detect, smoothness, latent replay, failed cells) and
the figures: success bars per task with Wilson intervals, and the latent-replay matrix as a heat map.
Drawn with PIL alone, like eval/report.py."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from glam_jax import viz
from glam_jax.eval import report, scaling, stats
from glam_jax.experiments import verdicts

# one colour per method of the paper's table (11) and a few more, no two alike
PALETTE = ((66, 114, 196), (237, 125, 49), (112, 173, 71), (165, 165, 165), (255, 192, 0), (91, 155, 213),
           (158, 72, 14), (99, 99, 99), (38, 68, 120), (67, 104, 43), (204, 68, 153), (0, 170, 170),
           (140, 86, 180), (200, 30, 30))


def seeds_label(counts) -> str:
  """Seed counts of a legend entry's points: '1 seed', '3 seeds', or '1-3 seeds' where they differ."""
  n = sorted(set(counts))
  if not n:
    return 'not run'
  span = str(n[0]) if n[0] == n[-1] else f'{n[0]}-{n[-1]}'
  return f"{span} seed{'s' if n[-1] > 1 else ''}"


def seed_dots(draw, cx: int, rates, y_of, radius: int = 3) -> None:
  """Each seed's rate as an open circle over its pooled bar, spread sideways where seeds tie."""
  for i, r in enumerate(rates):
    x = cx + (i - (len(rates) - 1) / 2) * (radius + 1)
    y = y_of(r)
    draw.ellipse([x - radius, y - radius, x + radius, y + radius], outline=(0, 0, 0), fill=(255, 255, 255))


def main_table_chart(results: dict, path: str, height: int = 460) -> np.ndarray:
  """Grouped bars: one group per task, one bar per method (legend on top with each method's seed count),
  the pooled rate with its 95 % Wilson error bar and each seed's rate as a dot."""
  tasks = [t for t in results['tasks'] if t in results['main']]
  names = results['methods']
  if not tasks:
    raise ValueError('no finished main-table cell to draw')
  width = max(640, 90 + len(tasks) * (30 + 22 * len(names)))
  img = Image.new('RGB', (width, height), (255, 255, 255))
  draw = ImageDraw.Draw(img)
  font, title_font = report.font(13), report.font(16)
  labels = []
  for name in names:
    counts = [len(by[name].get('seeds') or []) for by in results['main'].values() if name in by]
    labels.append(f'{name} ({seeds_label(counts)})')
  column = 24 + max(int(draw.textlength(label, font=font)) for label in labels)    # the widest label's
  per_row = max(1, min(len(names), (width - 88) // column))
  legend_rows = -(-len(names) // per_row)
  box = (64, 50 + 18 * legend_rows, width - 24, height - 50)
  y_of = report.rate_axes(draw, box, 'success per task: pooled rate, 95 % Wilson interval, o each seed', font,
                          title_font)
  for i, label in enumerate(labels):                     # legend
    x, y = 64 + (i % per_row) * ((width - 88) // per_row), 34 + 18 * (i // per_row)
    draw.rectangle([x, y, x + 12, y + 12], fill=PALETTE[i % len(PALETTE)])
    draw.text((x + 16, y + 6), label, fill=report.TEXT_COLOUR, font=font, anchor='lm')
  slot = (box[2] - box[0]) / len(tasks)
  bar = max(3, int(slot * 0.8 / len(names)))
  for j, task in enumerate(tasks):
    left = box[0] + j * slot + (slot - bar * len(names)) / 2
    for i, name in enumerate(names):
      m = results['main'][task].get(name)
      if not m:
        continue
      s = report.success_block(name, m)
      x = int(left + i * bar)
      if s['rate'] > 0:
        draw.rectangle([x, y_of(s['rate']), x + bar - 2, box[3]], fill=PALETTE[i % len(PALETTE)])
      cx = x + (bar - 2) // 2
      draw.line([(cx, y_of(s['wilson_high'])), (cx, y_of(s['wilson_low']))], fill=report.ERROR_COLOUR, width=2)
      if len(m.get('seeds') or []) > 1:
        seed_dots(draw, cx, m['seeds'], y_of)
    draw.text((box[0] + (j + 0.5) * slot, box[3] + 10), task, fill=report.TEXT_COLOUR, font=font, anchor='ma')
  out = np.asarray(img)
  viz.save_png(path, out)
  return out


def replay_rows(results: dict) -> tuple:
  """(row labels 'method', column labels 'task: source->target', blocks: success blocks, None where not run)."""
  rows = [m for m in results['methods'] if any('replay' in results['main'][t].get(m, {}) for t in results['main'])]
  cols = sorted({(t, pair) for t, by in results['main'].items() for m in by.values() for pair in m.get('replay', {})},
                key=lambda tp: (results['tasks'].index(tp[0]), tp[1]))
  blocks = [[results['main'][t].get(m, {}).get('replay', {}).get(pair) for t, pair in cols] for m in rows]
  return rows, [f'{t}: {p}' for t, p in cols], blocks


def replay_heatmap(results: dict, path: str, cell: tuple = (84, 60)) -> np.ndarray | None:
  """Latent-replay success per method (rows) and task/source pair (columns), white 0 to blue 1; in each
  cell the rate, k/n and the 95 % Wilson interval; grey where not run. None (no file) when no method was
  replayed."""
  rows, cols, blocks = replay_rows(results)
  if not rows:
    return None
  cw, ch = cell
  left, top = 150, 40
  title, title_font = 'latent replay success on the Kinova: rate, k/n, 95 % Wilson', report.font(16)
  width = max(left + cw * len(cols) + 20, int(title_font.getlength(title)) + 16)   # a few columns: the title's
  img = Image.new('RGB', (width, top + ch * len(rows) + 170), (255, 255, 255))
  draw = ImageDraw.Draw(img)
  font, small = report.font(12), report.font(10)
  draw.text((8, 8), title, fill=report.TEXT_COLOUR, font=title_font)
  blue = np.array(PALETTE[0])
  for i, name in enumerate(rows):
    draw.text((left - 6, top + (i + 0.5) * ch), name, fill=report.TEXT_COLOUR, font=font, anchor='rm')
    for j, b in enumerate(blocks[i]):
      box = [left + j * cw, top + i * ch, left + (j + 1) * cw - 2, top + (i + 1) * ch - 2]
      if b is None:
        draw.rectangle(box, fill=(200, 200, 200))
        continue
      s = report.success_block(name, {'success': b})
      draw.rectangle(box, fill=tuple(int(v) for v in 255 + s['rate'] * (blue - 255)))
      ink = (255, 255, 255) if s['rate'] > 0.6 else report.TEXT_COLOUR
      cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
      draw.text((cx, cy - 15), f"{s['rate']:.2f}", fill=ink, font=font, anchor='mm')
      draw.text((cx, cy), f"{int(s['successes'])}/{int(s['trials'])}", fill=ink, font=small, anchor='mm')
      draw.text((cx, cy + 14), f"[{s['wilson_low']:.2f}, {s['wilson_high']:.2f}]", fill=ink, font=small, anchor='mm')
  base = top + ch * len(rows) + 6
  for j, label in enumerate(cols):                    # column labels written downwards, one char wide
    txt = Image.new('RGB', (160, 16), (255, 255, 255))
    ImageDraw.Draw(txt).text((0, 0), label, fill=report.TEXT_COLOUR, font=font)
    img.paste(txt.rotate(-90, expand=True), (left + j * cw + cw // 2 - 8, base))
  out = np.asarray(img)
  viz.save_png(path, out)
  return out


def scaling_panels(results: dict) -> list:
  """[(x label, [(series label, [(x, point)])])], one meaning of x per panel: target episodes (MIP on
  target alone, GLAM-O with the full UMI set) and UMI episodes (GLAM-O at the base target count). A point
  is a scaling series entry (its `success` block and per-seed rates `seeds`)."""
  sc = results['scaling']
  s = sc['series']
  base = s['glam_o_aux'][0]['target'] if s['glam_o_aux'] else 0
  full = s['glam_o_target'][0]['aux'] if s['glam_o_target'] else 0
  by = lambda rows, x: sorted(((p[x], p) for p in rows), key=lambda xp: xp[0])
  panels = [('target episodes', [('MIP, target only', by(s['mip'], 'target')),
                                 (f'GLAM-O, target + {full} UMI', by(s['glam_o_target'], 'target'))]),
            ('UMI episodes', [(f'GLAM-O, {base} target + UMI', by(s['glam_o_aux'], 'aux'))])]
  return [(x, [(label, pts) for label, pts in series if pts]) for x, series in panels
          if any(pts for _, pts in series)]


def scaling_chart(results: dict, path: str, panel: tuple = (440, 440)) -> np.ndarray:
  """Success against episodes, one panel per meaning of x: each point's pooled rate with its 95 % Wilson
  error bar, each seed's rate as a dot where a point has several."""
  panels = scaling_panels(results)
  return line_chart(panels, [f"data scaling on {results['scaling']['task']}"] + [''] * (len(panels) - 1), path, panel)


def heterogeneity_panels(results: dict) -> list:
  """`scaling_panels`' form: one panel per task, x the heterogeneity level, one series per method."""
  panels = []
  for task, t in results.get('heterogeneity', {}).items():
    levels = sorted(t['levels'], key=int)
    names = list(dict.fromkeys(m for lv in levels for m in t['levels'][lv]))
    panels.append(('heterogeneity level', [(m, [(int(lv), t['levels'][lv][m]) for lv in levels if m in t['levels'][lv]])
                                           for m in names]))
  return panels


def heterogeneity_chart(results: dict, path: str, panel: tuple = (440, 440)) -> np.ndarray | None:
  """Success against the auxiliary source's heterogeneity level per task (None without that section)."""
  panels = heterogeneity_panels(results)
  if not panels:
    return None
  return line_chart(panels, list(results['heterogeneity']), path, panel)


def line_chart(panels: list, titles: list, path: str, panel: tuple = (440, 440)) -> np.ndarray:
  """Panels of success curves ([(x label, [(series label, [(x, point)])])], each point a method block with
  `success` and per-seed `seeds`): pooled rates with 95 % Wilson bars, seeds as dots, one title per panel."""
  pw, height = panel
  img = Image.new('RGB', (pw * len(panels), height), (255, 255, 255))
  draw = ImageDraw.Draw(img)
  font = report.font(13)
  colour_of = {}
  for k, (xlabel, series) in enumerate(panels):
    x0 = k * pw
    box = (x0 + 64, 90, x0 + pw - 24, height - 50)
    y_of = report.rate_axes(draw, box, titles[k], font, report.font(16))
    xs = [x for _, pts in series for x, _ in pts]
    lo, hi = min(xs), max(xs)
    x_of = lambda x: int(box[0] + 20 + (x - lo) / max(hi - lo, 1) * (box[2] - box[0] - 40))
    for x in sorted(set(xs)):
      draw.text((x_of(x), box[3] + 8), str(x), fill=report.TEXT_COLOUR, font=font, anchor='ma')
    draw.text(((box[0] + box[2]) / 2, box[3] + 28), xlabel, fill=report.TEXT_COLOUR, font=font, anchor='ma')
    for i, (label, pts) in enumerate(series):
      colour = colour_of.setdefault(label, PALETTE[len(colour_of) % len(PALETTE)])
      draw.rectangle([box[0] + 6, 34 + 18 * i, box[0] + 18, 46 + 18 * i], fill=colour)
      counts = [len(p.get('seeds') or []) for _, p in pts]
      draw.text((box[0] + 24, 40 + 18 * i), f'{label} ({seeds_label(counts)})', fill=report.TEXT_COLOUR, font=font,
                anchor='lm')
      shift = (i - (len(series) - 1) / 2) * 8             # error bars of equal x side by side
      line = [(x_of(x) + shift, y_of(p['success']['rate'])) for x, p in pts]
      if len(line) > 1:
        draw.line(line, fill=colour, width=3)
      for (x, p), (px, py) in zip(pts, line):
        s = p['success']
        draw.line([(px, y_of(s['wilson_high'])), (px, y_of(s['wilson_low']))], fill=colour, width=1)
        draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colour)
        if len(p.get('seeds') or []) > 1:
          seed_dots(draw, int(px), p['seeds'], y_of)
  out = np.asarray(img)
  viz.save_png(path, out)
  return out


STAGE_KINDS = ('data', 'world_model', 'relabel', 'alignment', 'replay', 'pretrain', 'train', 'evaluate')


def heterogeneity_lines(results: dict) -> list:
  """Each method at each heterogeneity level: success, the reference's seed verdict against it (in the
  record's Holm family), the alignment probe on the auxiliary source and latent replay from it."""
  fmt, interval, ref = report.num, report.interval, results['reference']
  if not results.get('heterogeneity'):
    return []
  lines = ['', '## Heterogeneity of the auxiliary source', '',
           'Each method with the UMI source at each level (glam_jax/demos/heterogeneity.py: 0 as before, 1 UMI-like, '
           '2 harder; level 0 is the main table\'s cell). Verdict: the reference against the method at that level '
           'by seeds, Welch one-sided, Holm over the record\'s family. Probe: R² of the latent on UMI transitions, '
           'the gap to held-out target transitions, the margin over the recorded-pose reference and the phase '
           'distance (glam_jax/eval/alignment.py). Replay: UMI episodes decoded and replayed on the Kinova. '
           '![heterogeneity](heterogeneity.png)', '',
           '| task | level | method | success k/n | 95 % Wilson | seeds | p_ref − p | Holm p | '
           f'{ref} better? | probe R² (UMI) | gap | margin | phase distance | replay UMI k/n |',
           '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
  for task, t in results['heterogeneity'].items():
    for level in sorted(t['levels'], key=int):
      for m, b in t['levels'][level].items():
        s = b['success']
        c = (t.get('comparisons', {}).get(level) or {}).get(m)
        probe = ((b.get('alignment') or {}).get('results') or {}).get('umi') or {}
        replay = (b.get('replay') or {}).get('umi->kinova')
        seeds = b.get('seeds') or []
        replayed = f"{int(replay['successes'])}/{int(replay['trials'])}" if replay else '–'
        lines.append(
            f"| {task} | {level} | {m} | {s['successes']}/{s['trials']} | "
            f"{interval(s['wilson_low'], s['wilson_high'], '.2f')} | {len(seeds)} | "
            f"{fmt(c and c['difference'], '+.3f')} | {fmt(c and c['seeds'].get('holm_p'), '.3f')} | "
            f"{(c and c['seeds'].get('verdict')) or '–'} | {fmt(probe.get('r2'), '.3f')} | "
            f"{fmt(probe.get('gap'), '+.3f')} | {fmt(probe.get('margin'), '+.3f')} | "
            f"{fmt((probe.get('phase_distance') or {}).get('ratio'), '.2f')} | "
            f"{replayed} |")
  return lines


def grid_lines(results: dict) -> list:
  """Each main-table method at each point of the hyper-parameter grid: success with its Wilson interval and
  seeds, beside the main table's cell, and the point's difference to that cell with Newcombe's interval
  (exploratory: outside the record's Holm family)."""
  if not results.get('grid'):
    return []
  interval = report.interval
  lines = ['', '## Hyper-parameter grid', '',
           'Each main-table cell at each grid point (the suite\'s `grid`); the main table\'s setting for reference, '
           'and each point minus it with Newcombe\'s 95 % interval. Exploratory: not in the Holm family of the '
           'verdicts.', '',
           '| task | method | point | success k/n | 95 % Wilson | seeds | point - main table [Newcombe 95 %] |',
           '|---|---|---|---|---|---|---|']
  for task, by_method in results['grid'].items():
    for m, points in by_method.items():
      base = results['main'].get(task, {}).get(m)
      rows = ([('main table', base)] if base else []) + sorted(points.items())
      for label, b in rows:
        s = b['success']
        diff = '–'
        if base and b is not base:
          c = stats.compare(s, base['success'])
          diff = f"{s['rate'] - base['success']['rate']:+.3f} {interval(*c['newcombe_two_sided'])}"
        lines.append(f"| {task} | {m} | {label} | {s['successes']}/{s['trials']} | "
                     f"{interval(s['wilson_low'], s['wilson_high'], '.2f')} | {len(b.get('seeds') or [])} | {diff} |")
  return lines


def time_lines(cells: dict) -> list:
  """Where the finished cells' time went, by kind of stage, and the time the unfinished ones would take at
  the mean of the finished cells of their section and method: what a suite run in pieces has left."""
  done = {n: c for n, c in cells.items() if c['status'] == 'done' and c.get('stage_seconds')}
  if not done:
    return []
  kind = lambda stage: next((k for k in STAGE_KINDS if stage.startswith(k)), 'other')
  lines = ['', '"hours": the cell\'s last run; each stage column: the run that finished that stage. A run cut off '
           'before its end records nothing, so a cell resumed after a cut counts only the work done after it.',
           '', '| cell | hours | ' + ' | '.join(STAGE_KINDS) + ' |', '|---|---|' + '---|' * len(STAGE_KINDS)]
  for n, c in done.items():
    by = {}
    for stage, sec in c['stage_seconds'].items():
      by[kind(stage)] = by.get(kind(stage), 0.0) + sec
    lines.append(f"| {n} | {c['seconds'] / 3600:.2f} | " + ' | '.join(f'{by[k] / 60:.0f} min' if k in by else '–'
                                                                       for k in STAGE_KINDS) + ' |')
  group = lambda name: tuple(name.split('/')[0::2][:2])        # (section, method)
  mean = {}
  for n, c in done.items():
    mean.setdefault(group(n), []).append(c['seconds'])
  cached = [c['compile_cache'] for c in done.values() if c.get('compile_cache')]
  if cached:
    hits, lookups = sum(c['hits'] for c in cached), sum(c['hits'] + c['misses'] for c in cached)
    lines += ['', f'Persistent compile cache over the {len(cached)} finished cells that record it (their last runs): '
              f'{hits} of {lookups} lookups hit ({hits / max(lookups, 1):.0%}; a program compiled in under 1 s is '
              f'never stored, so it misses every time), {sum(c["compile_s"] for c in cached) / 60:.0f} min compiling, '
              f'{sum(c["saved_s"] for c in cached) / 60:.0f} min saved by the hits.']
  left = [n for n, c in cells.items() if c['status'] != 'done']
  known = [n for n in left if group(n) in mean]
  if left:
    hours = sum(np.mean(mean[group(n)]) for n in known) / 3600
    lines += ['', f'Left: {len(left)} cells; {len(known)} of them, at the mean time of the finished cells of their '
              f'section and method (last runs), about {hours:.1f} h'
              + (f'; {len(left) - len(known)} with no finished cell to go by.' if len(known) < len(left) else '.')]
  return lines


def comparison_lines(results: dict) -> list:
  """The reference against each method: the verdict that counts seeds (Welch over per-seed rates, Holm over
  the record's family), then the paper's protocol, which counts trials only (Newcombe)."""
  fmt, interval, ref = report.num, report.interval, results['reference']
  fam = results.get('family', {})
  lines = ['', f'## {ref} against each method', '',
           f"**Counting seeds** (the verdict): Welch's t over the per-seed success rates, one-sided (is {ref} "
           f"better, decided before the runs), Holm-adjusted over the {fam.get('tests', 0)} one-sided verdicts this "
           f"report prints (main table, third source and heterogeneity); \"better\" when the adjusted p is below "
           f"{fam.get('alpha', 0.05)}, \"not shown\" otherwise, \"not testable\" with fewer than two seeds in an arm. "
           'Every seed is evaluated on the same placements, so their difficulty is common to all per-seed rates '
           'and the test is paired over placements. At 3 seeds against 3 the test has little power: "detectable" '
           'is the difference it finds with 80 % power (one-sided 5 %, before the correction) at the seeds\' '
           'spread, and the exact permutation p over seed labels cannot go below 0.05.', '',
           "**Counting trials only** (the paper's protocol): Newcombe's interval of the pooled rates and its one-"
           'sided 95 % verdict, with the difference the trials detect one-sided in the direction tested. It treats '
           'every episode as independent, which the seeds do not bear out (see "Seed-to-seed variance").', '',
           '| task | method | p_ref − p | seeds | Welch 95 % | p | Holm p | permutation p | detectable (seeds) | '
           f'{ref} better? | Newcombe 95 % (trials) | trials | detectable (trials) | better by trials? |',
           '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
  for t, by in results['comparisons'].items():
    for m, c in by.items():
      sd = c['seeds']
      w = sd.get('welch')
      lines.append(f"| {t} | {m} | {fmt(c['difference'], '+.3f')} | {sd['n'][0]}, {sd['n'][1]} | "
                   f"{interval(*w['interval']) if w else '–'} | {fmt(sd['p'], '.3f')} | {fmt(sd.get('holm_p'), '.3f')} | "
                   f"{fmt(sd['permutation_p'], '.3f')} | {fmt(sd.get('detectable'), '.3f')} | **{sd.get('verdict', '–')}** | "
                   f"{interval(*c['newcombe_two_sided'])} | {c['trials'][0]}, {c['trials'][1]} | "
                   f"{fmt(c['detectable_difference'], '.3f')} | {'yes' if report.verdict(c) else 'no'} |")
  across = results.get('across_tasks') or {}
  if across:
    lines += ['', f"The paper's own test, for comparability: a paired t over tasks of {ref}'s and the method's "
              'pooled rates, one-sided, not corrected; every task counts once however many trials it has.', '',
              f'| method | tasks | mean p_ref − p | t | one-sided p |', '|---|---|---|---|---|']
    for m, a in across.items():
      lines.append(f"| {m} | {', '.join(a['task_names'])} | {fmt(a['difference'], '+.3f')} | {fmt(a['t'], '.2f')} | "
                   f"{fmt(a['p_one_sided'], '.3f')} |")
  return lines + seed_variance_lines(results)


def seed_variance_lines(results: dict) -> list:
  """Each cell's seeds: do they share one success rate (Pearson's chi-square), and by how much the spread
  of their rates exceeds what their trials give (the dispersion, 1 when it does not)."""
  summary = verdicts.dispersion_summary(results)
  if not summary:
    return []
  fmt = report.num
  lines = ['', '## Seed-to-seed variance', '',
           f"Over the {summary['cells']} cells with several seeds and some spread, the per-seed rates vary "
           f"{summary['median_dispersion']:.1f} times (median) as much as independent trials would make them; "
           f"{summary['rejected']} cells reject one common rate across their seeds (chi-square, 5 %, uncorrected). "
           'This is why the verdicts count seeds.', '',
           '| task | method | per-seed rates | dispersion | chi-square p |', '|---|---|---|---|---|']
  for t, by in results['homogeneity'].items():
    for m, h in by.items():
      rates = ', '.join(f'{r:.2f}' for r in results['main'][t][m]['seeds'])
      lines.append(f"| {t} | {m} | {rates} | {fmt(h['dispersion'], '.2f')} | {fmt(h['p'], '.3f')} |")
  return lines


def markdown(results: dict, command: str = '', commit: str = '') -> str:
  fmt, interval = report.num, report.interval
  unbounded = lambda v: '∞' if v == float('inf') else fmt(v, '.2f')     # no number of UMI episodes is enough
  ref = results['reference']
  lines = [f"# Suite `{results['preset']}`", '']
  if command:
    lines += [f'Command: `{command}`' + (f' at commit `{commit}`' if commit else ''), '']
  if results.get('cell_machines'):
    lines += [f"Cells ran on: {results['cell_machines']}", '']
  if results.get('machine'):
    lines += [f"Report written on: {results['machine']}", '']
  if results.get('backend'):
    lines += [f"Physics of the main table's cells: {results['backend']} (data, evaluation and replay)", '']
  pr = results.get('protocol')
  if pr:
    lines += [f"Protocol version {pr['version']}: {pr['text']}."]
    if pr.get('renamed'):
      lines += ['Methods are named as today for what they ran: ' + ', '.join(
          f'the record\'s `{old}` is `{new}` here' for old, new in pr['renamed'].items()) + '.']
    if pr.get('lacks'):
      lines += [f"This record lacks {pr['lacks']}."]
    lines += ['']
  tasks = [t for t in results['tasks'] if t in results['main']]
  lines += ['## Main table', '', 'Success k/n (pooled over policy seeds) with the 95 % Wilson interval; the '
            'same evaluation placements for every method. ![main table](main_table.png)', '',
            '| method | ' + ' | '.join(tasks) + ' |', '|---|' + '---|' * len(tasks)]
  for m in results['methods']:
    cells = []
    for t in tasks:
      r = results['main'][t].get(m)
      s = r and report.success_block(m, r)
      cells.append(f"{s['successes']}/{s['trials']} {interval(s['wilson_low'], s['wilson_high'], '.2f')}"
                   if s else '–')
    lines.append(f'| {m} | ' + ' | '.join(cells) + ' |')
  floor = [t for t in tasks if len(results['main'][t]) > 1
           and all(report.success_block(m, r)['successes'] == 0 for m, r in results['main'][t].items())]
  if floor:
    lines += ['', f"No method succeeded on {', '.join(floor)}: at this preset's sizes the task is not learned, "
              'so the comparisons there cannot separate the methods.']
  if results['comparisons']:
    lines += comparison_lines(results)
  lines += ['', '## Smoothness', '', 'End-effector speed profile up to the first success, mean over valid '
            'episodes: LDLJ and SPARC closer to 0 and a lower FFT score are smoother. "valid" counts arm-episodes '
            '(one per arm: two per episode on a bimanual task) whose profile the measures accept.', '',
            '| task | method | LDLJ | SPARC | FFT | valid |', '|---|---|---|---|---|---|']
  for t in tasks:
    for m, r in results['main'][t].items():
      sm = r.get('smoothness') or {}
      lines.append(f"| {t} | {m} | {fmt(sm.get('ldlj'), '.3f')} | {fmt(sm.get('sparc'), '.3f')} | "
                   f"{fmt(sm.get('fft'), '.4g')} | {sm.get('valid', '–')} |")
  replays = [f"| {t} | {m} | {pair} | {int(rp['successes'])}/{int(rp['trials'])} | "
             f"{interval(rp['wilson_low'], rp['wilson_high'], '.2f')} | {fmt(rp.get('tracking_error_m'), '.4f')} |"
             for t, by in results['main'].items() for m, r in by.items()
             for pair, rp in sorted(r.get('replay', {}).items())]
  if replays:
    lines += ['', '## Latent replay', '', 'Unseen source episodes encoded by each method\'s world model and '
              'replayed open loop on the Kinova: success k/n with the 95 % Wilson interval; TCP error: mean '
              'distance to the source\'s TCP. ![replay](replay.png)', '',
              '| task | method | replay | success k/n | 95 % Wilson | TCP error (m) |', '|---|---|---|---|---|---|']
    lines += replays
  lines += report.alignment_lines({(t, m): r for t, by in results['main'].items() for m, r in by.items()},
                                  ('task', 'method'))
  sc = results.get('scaling')
  if sc:
    lines += ['', f"## Data scaling on {sc['task']}", '', '![scaling](scaling.png)', '',
              '| series | target | UMI | success k/n | 95 % Wilson |', '|---|---|---|---|---|']
    for name, rows in sc['series'].items():
      for p in rows:
        s = p['success']
        lines.append(f"| {name} | {p['target']} | {p['aux']} | {s['successes']}/{s['trials']} | "
                     f"{interval(s['wilson_low'], s['wilson_high'], '.2f')} |")
    ex = sc.get('exchange_rate')
    seeds_note = lambda r: (f"{r['points_with_seeds']} of its {r['points']} points have several seeds; the others' "
                            'draws hold trial noise only' if r['points_with_seeds'] < r['points']
                            else 'every point has several seeds, their spread is in the interval')
    verdict = lambda r: ('' if r['determined'] else ' **Not determined**: the interval is unbounded or spans '
                         f'more than {scaling.SPAN:.0f}-fold.')
    if ex:
      lines += ['', f"UMI episodes that buy one target episode (slope with target episodes / slope with UMI "
                f"episodes): **{unbounded(ex['aux_per_target'])}**, 95 % bootstrap interval "
                f"[{unbounded(ex['interval'][0])}, {unbounded(ex['interval'][1])}] ({ex['draws']} draws, the point "
                f"both curves share drawn once; in {ex['unbounded_fraction']:.0%} of them more UMI data did not help; "
                f"{seeds_note(ex)}).{verdict(ex)}"]
    mm = sc.get('mip_matching')
    if mm:
      lv = mm['level']
      lines += ['', f"Target episodes MIP needs to match GLAM-O with {lv['target']} target + {lv['aux']} UMI: "
                f"**{fmt(mm['episodes'], '.0f')}**, 95 % bootstrap interval {interval(*mm['interval'], '.0f')} "
                f"(the level lies inside MIP's measured range in {mm['in_range_fraction']:.0%} of draws; n/a: "
                f"beyond it; {seeds_note(mm)}).{verdict(mm)}"]
  lines += heterogeneity_lines(results)
  lines += grid_lines(results)
  if results.get('third_source'):
    lines += ['', '## Third source', '', f'{ref} trained on target + UMI + UR5e against target + UMI (the main '
              'table\'s cell), in the same family of verdicts as the main table.', '',
              '| task | + UR5e k/n | target + UMI k/n | difference | seeds | Welch 95 % | Holm p | better (seeds)? | '
              '95 % Newcombe (trials only) |', '|---|---|---|---|---|---|---|---|---|']
    for t, r in results['third_source'].items():
      w, wo, c = r['with'], r['without'], r['comparison']
      if not wo:
        lines.append(f"| {t} | {w['successes']}/{w['trials']} | – | – | – | – | – | – | – |")
        continue
      sd = c['seeds']
      lines.append(f"| {t} | {w['successes']}/{w['trials']} | {wo['successes']}/{wo['trials']} | "
                   f"{fmt(c['difference'], '+.3f')} | {sd['n'][0]}, {sd['n'][1]} | "
                   f"{interval(*sd['welch']['interval']) if sd['welch'] else '–'} | {fmt(sd.get('holm_p'), '.3f')} | "
                   f"{sd['verdict']} | {interval(*c['newcombe_two_sided'])} |")
  bad = {n: c for n, c in results['cells'].items() if c['status'] != 'done'}
  lines += ['', '## Cells', '', f"{len(results['cells']) - len(bad)} of {len(results['cells'])} cells finished."]
  for n, c in bad.items():
    lines.append(f"- {n}: {c['status']}" + (f" ({c['error']}; see {c['dir']}/error.txt)" if c.get('error') else ''))
  secs = sum(c.get('seconds_all_runs', c.get('seconds', 0)) for c in results['cells'].values())
  lines += ['', f'Time in cells (every run of the command in this directory): {secs / 3600:.2f} h.']
  lines += time_lines(results['cells'])
  commits = sorted({c['commit'] for c in results['cells'].values() if c.get('commit')})
  if commits:
    lines += ['', 'Code of the cells\' last runs: commit ' + ', '.join(f'`{c}`' for c in commits) + '.']
  return '\n'.join(lines) + '\n'
