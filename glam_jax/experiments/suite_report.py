"""What the suite leaves for a person to read: `report.md` (main table, GLAM-O's comparisons with the
trials per arm and the smallest difference they can detect, smoothness, latent replay, failed cells) and
the figures: success bars per task with Wilson intervals, and the latent-replay matrix as a heat map.
Drawn with PIL alone, like eval/report.py."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from glam_jax import viz
from glam_jax.eval import report

PALETTE = ((66, 114, 196), (237, 125, 49), (112, 173, 71), (165, 165, 165), (255, 192, 0), (91, 155, 213),
           (158, 72, 14), (99, 99, 99), (38, 68, 120), (67, 104, 43))


def main_table_chart(results: dict, path: str, height: int = 440) -> np.ndarray:
  """Grouped bars: one group per task, one bar per method (legend on top), 95 % Wilson error bars."""
  tasks = [t for t in results['tasks'] if t in results['main']]
  names = results['methods']
  if not tasks:
    raise ValueError('no finished main-table cell to draw')
  width = max(640, 90 + len(tasks) * (30 + 22 * len(names)))
  img = Image.new('RGB', (width, height), (255, 255, 255))
  draw = ImageDraw.Draw(img)
  font, title_font = report.font(13), report.font(16)
  box = (64, 70, width - 24, height - 50)
  y_of = report.rate_axes(draw, box, 'success rate per task (95 % Wilson interval)', font, title_font)
  for i, name in enumerate(names):                       # legend
    x = 64 + i * ((width - 88) // len(names))
    draw.rectangle([x, 34, x + 12, 46], fill=PALETTE[i % len(PALETTE)])
    draw.text((x + 16, 40), name, fill=report.TEXT_COLOUR, font=font, anchor='lm')
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
    draw.text((box[0] + (j + 0.5) * slot, box[3] + 10), task, fill=report.TEXT_COLOUR, font=font, anchor='ma')
  out = np.asarray(img)
  viz.save_png(path, out)
  return out


def replay_rows(results: dict) -> tuple:
  """(row labels 'method', column labels 'task: source->target', rates with NaN where not run)."""
  rows = [m for m in results['methods'] if any('replay' in results['main'][t].get(m, {}) for t in results['main'])]
  cols = sorted({(t, pair) for t, by in results['main'].items() for m in by.values() for pair in m.get('replay', {})},
                key=lambda tp: (results['tasks'].index(tp[0]), tp[1]))
  rates = np.full((len(rows), len(cols)), np.nan)
  for i, m in enumerate(rows):
    for j, (t, pair) in enumerate(cols):
      r = results['main'][t].get(m, {}).get('replay', {}).get(pair)
      if r:
        rates[i, j] = r['rate']
  return rows, [f'{t}: {p}' for t, p in cols], rates


def replay_heatmap(results: dict, path: str, cell: int = 56) -> np.ndarray | None:
  """Latent-replay success per method (rows) and task/source pair (columns), white 0 to blue 1, the rate
  written in each cell; grey where not run. None (no file) when no method was replayed."""
  rows, cols, rates = replay_rows(results)
  if not rows:
    return None
  left, top = 120, 40
  title, title_font = 'latent replay success on the Kinova', report.font(16)
  width = max(left + cell * len(cols) + 20, int(title_font.getlength(title)) + 16)   # a few columns: the title's
  img = Image.new('RGB', (width, top + cell * len(rows) + 170), (255, 255, 255))
  draw = ImageDraw.Draw(img)
  font = report.font(12)
  draw.text((8, 8), title, fill=report.TEXT_COLOUR, font=title_font)
  blue = np.array(PALETTE[0])
  for i, name in enumerate(rows):
    draw.text((left - 6, top + (i + 0.5) * cell), name, fill=report.TEXT_COLOUR, font=font, anchor='rm')
    for j in range(len(cols)):
      r = rates[i, j]
      colour = (200, 200, 200) if np.isnan(r) else tuple(int(v) for v in 255 + r * (blue - 255))
      box = [left + j * cell, top + i * cell, left + (j + 1) * cell - 2, top + (i + 1) * cell - 2]
      draw.rectangle(box, fill=colour)
      if not np.isnan(r):
        draw.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), f'{r:.2f}',
                  fill=(255, 255, 255) if r > 0.6 else report.TEXT_COLOUR, font=font, anchor='mm')
  base = top + cell * len(rows) + 6
  for j, label in enumerate(cols):                    # column labels written downwards, one char wide
    txt = Image.new('RGB', (160, 16), (255, 255, 255))
    ImageDraw.Draw(txt).text((0, 0), label, fill=report.TEXT_COLOUR, font=font)
    img.paste(txt.rotate(-90, expand=True), (left + j * cell + cell // 2 - 8, base))
  out = np.asarray(img)
  viz.save_png(path, out)
  return out


def scaling_series(results: dict) -> list:
  """[(label, [(x, success block)])]: MIP and GLAM-O against target episodes, and GLAM-O against
  base_target + auxiliary episodes (on the same axis: where one auxiliary episode would be worth one
  target episode, that curve lies on the target one)."""
  sc = results['scaling']
  s = sc['series']
  base = s['glam_o_aux'][0]['target'] if s['glam_o_aux'] else 0
  full = s['glam_o_target'][0]['aux'] if s['glam_o_target'] else 0
  rows = [('MIP, target only', [(p['target'], p['success']) for p in s['mip']]),
          (f'GLAM-O, target + {full} UMI', [(p['target'], p['success']) for p in s['glam_o_target']]),
          (f'GLAM-O, {base} target + (x - {base}) UMI', [(base + p['aux'], p['success']) for p in s['glam_o_aux']])]
  return [(label, sorted(pts, key=lambda p: p[0])) for label, pts in rows if pts]


def scaling_chart(results: dict, path: str, size: tuple = (640, 440)) -> np.ndarray:
  """Success against episodes for each scaling series, 95 % Wilson error bars."""
  series = scaling_series(results)
  width, height = size
  img = Image.new('RGB', size, (255, 255, 255))
  draw = ImageDraw.Draw(img)
  font = report.font(13)
  box = (64, 90, width - 24, height - 50)
  y_of = report.rate_axes(draw, box, f"data scaling on {results['scaling']['task']} (95 % Wilson interval)", font,
               report.font(16))
  xs = [x for _, pts in series for x, _ in pts]
  lo, hi = min(xs), max(xs)
  x_of = lambda x: int(box[0] + 20 + (x - lo) / max(hi - lo, 1) * (box[2] - box[0] - 40))
  for x in sorted(set(xs)):
    draw.text((x_of(x), box[3] + 8), str(x), fill=report.TEXT_COLOUR, font=font, anchor='ma')
  draw.text(((box[0] + box[2]) / 2, box[3] + 28), 'episodes (x)', fill=report.TEXT_COLOUR, font=font, anchor='ma')
  for i, (label, pts) in enumerate(series):
    colour = PALETTE[i % len(PALETTE)]
    draw.rectangle([70, 34 + 18 * i, 82, 46 + 18 * i], fill=colour)
    draw.text((88, 40 + 18 * i), label, fill=report.TEXT_COLOUR, font=font, anchor='lm')
    shift = (i - 1) * 4                                   # error bars of equal x side by side
    line = [(x_of(x) + shift, y_of(s['rate'])) for x, s in pts]
    if len(line) > 1:
      draw.line(line, fill=colour, width=3)
    for (x, s), (px, py) in zip(pts, line):
      draw.line([(px, y_of(s['wilson_high'])), (px, y_of(s['wilson_low']))], fill=colour, width=1)
      draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colour)
  out = np.asarray(img)
  viz.save_png(path, out)
  return out


STAGE_KINDS = ('data', 'world_model', 'relabel', 'replay', 'pretrain', 'train', 'evaluate')


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
  left = [n for n, c in cells.items() if c['status'] != 'done']
  known = [n for n in left if group(n) in mean]
  if left:
    hours = sum(np.mean(mean[group(n)]) for n in known) / 3600
    lines += ['', f'Left: {len(left)} cells; {len(known)} of them, at the mean time of the finished cells of their '
              f'section and method (last runs), about {hours:.1f} h'
              + (f'; {len(left) - len(known)} with no finished cell to go by.' if len(known) < len(left) else '.')]
  return lines


def markdown(results: dict, command: str = '', commit: str = '') -> str:
  fmt, interval = report.num, report.interval
  unbounded = lambda v: '∞' if v == float('inf') else fmt(v, '.2f')     # no number of UMI episodes is enough
  ref = results['reference']
  lines = [f"# Suite `{results['preset']}`", '']
  if command:
    lines += [f'Command: `{command}`' + (f' at commit `{commit}`' if commit else ''), '']
  if results.get('machine'):
    lines += [f"Machine: {results['machine']}", '']
  if results.get('backend'):
    lines += [f"Physics: {results['backend']} (data, evaluation and replay)", '']
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
    lines += ['', f'## {ref} against each method', '',
              "p_ref − p_other with Newcombe's interval (method 10); trials per arm; the smallest difference "
              f"those trials detect with 80 % power at {ref}'s rate (two-sided 5 %): where the interval holds zero, "
              f'a true difference below that size is still likely. "{ref} better" is the one-sided test (is the '
              'reference better, decided before the runs): yes when the one-sided 95 % lower bound is above 0; the '
              'two-sided interval can then still hold zero (a difference in either direction is not shown).', '',
              '| task | method | p_ref − p | 95 % two-sided | one-sided low | trials (ref, other) | detectable | '
              f'{ref} better (one-sided 95 %)? |', '|---|---|---|---|---|---|---|---|']
    for t, by in results['comparisons'].items():
      for m, c in by.items():
        lines.append(f"| {t} | {m} | {fmt(c['difference'], '+.3f')} | {interval(*c['newcombe_two_sided'])} | "
                     f"{fmt(c['newcombe_one_sided_low'], '+.3f')} | {c['trials'][0]}, {c['trials'][1]} | "
                     f"{fmt(c['detectable_difference'], '.3f')} | {'yes' if report.verdict(c) else 'no'} |")
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
    if ex:
      lines += ['', f"UMI episodes that buy one target episode (slope with target episodes / slope with UMI "
                f"episodes): **{unbounded(ex['aux_per_target'])}**, 95 % bootstrap interval "
                f"[{unbounded(ex['interval'][0])}, {unbounded(ex['interval'][1])}] ({ex['draws']} draws; in {ex['unbounded_fraction']:.0%} of "
                'them more UMI data did not help).']
    mm = sc.get('mip_matching')
    if mm:
      lv = mm['level']
      lines += ['', f"Target episodes MIP needs to match GLAM-O with {lv['target']} target + {lv['aux']} UMI: "
                f"**{fmt(mm['episodes'], '.0f')}**, 95 % bootstrap interval {interval(*mm['interval'], '.0f')} "
                f"(the level lies inside MIP's measured range in {mm['in_range_fraction']:.0%} of draws; n/a: "
                'beyond it).']
  if results.get('third_source'):
    lines += ['', '## Third source', '', f'{ref} trained on target + UMI + UR5e against target + UMI (the main '
              'table\'s cell).', '', '| task | + UR5e k/n | target + UMI k/n | difference | 95 % Newcombe |',
              '|---|---|---|---|---|']
    for t, r in results['third_source'].items():
      w, wo, c = r['with'], r['without'], r['comparison']
      lines.append(f"| {t} | {w['successes']}/{w['trials']} | "
                   + (f"{wo['successes']}/{wo['trials']} | {fmt(c['difference'], '+.3f')} | "
                      f"{interval(*c['newcombe_two_sided'])} |" if wo else '– | – | – |'))
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
