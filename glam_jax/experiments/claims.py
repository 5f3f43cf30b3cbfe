"""The paper's claims (DESIGN.md §2), each judged from one suite record (its assembled `results.json`).

A verdict is one of VERDICTS: reproduced, not reproduced, not measured yet (the record has no cell for
it), or not testable at this size (the record has the cells, but no method learned the task, an arm has
one seed, or an interval says nothing), each with why, the test and the numbers. Success comparisons use
the record's seed-aware verdicts (experiments/verdicts.py: Welch over per-seed rates, Holm over the
record's family); the scaling ratios need several seeds per point and an interval within tenfold
(eval/scaling.py). A record is judged on its own: records of different protocol versions are never pooled.
"""
from __future__ import annotations

import math

from glam_jax import methods
from glam_jax.eval import report, stats
from glam_jax.experiments import verdicts
from glam_jax.sim import tasks as sim_tasks

REPRODUCED, NOT_REPRODUCED, NOT_MEASURED, NOT_TESTABLE = (
    'reproduced', 'not reproduced', 'not measured yet', 'not testable at this size')
VERDICTS = (REPRODUCED, NOT_REPRODUCED, NOT_MEASURED, NOT_TESTABLE)
TRIVIAL = 0.10           # a success rate below this is trivial (the paper's best baseline on stack_three: 4 %)
MIP_MULTIPLE = 5.0       # the paper: MIP needs about 5x the target demonstrations to match GLAM-O
EXCHANGE = 1.0           # the paper: one auxiliary trajectory is worth one target trajectory
WELCH = ("Welch's one-sided t over per-seed success rates, Holm over the record's family of verdicts, "
         f'{verdicts.ALPHA:.0%} family-wise')


def _claim(claim: str, verdict: str, why: str, test: str, numbers=()) -> dict:
  assert verdict in VERDICTS, verdict
  return {'claim': claim, 'verdict': verdict, 'why': why, 'test': test, 'numbers': list(numbers)}


def _floor(results: dict, task: str) -> bool:
  """No method of the record succeeded once on `task`: the task is not learned at this size."""
  return all(b['success']['successes'] == 0 for b in results['main'].get(task, {}).values())


def _seed_line(task: str, name: str, c: dict) -> str:
  s, w = c['seeds'], c['seeds'].get('welch')
  return (f"{task}: {name} {c['difference']:+.3f}" + (f" (Welch 95 % {report.interval(*w['interval'])}, "
          f"p {s['p']:.3f}, Holm p {s['holm_p']:.3f}, seeds {s['n'][0]}, {s['n'][1]})" if w and not math.isnan(s['p'])
          else f" (seeds {s['n'][0]}, {s['n'][1]})") + f": {s['verdict']}")


def _all_better(rows: list) -> str:
  """Overall verdict of several seed-aware comparisons that must all say 'better'."""
  kinds = [r['seeds']['verdict'] for r in rows]
  if any(k == verdicts.NOT_SHOWN for k in kinds):
    return NOT_REPRODUCED
  return REPRODUCED if kinds and all(k == verdicts.BETTER for k in kinds) else NOT_TESTABLE


def beats_best_baseline(results: dict) -> dict:
  claim = f"{results['reference']} beats the best baseline on each task, and by how much"
  baselines = set(methods.with_role('baseline'))
  rows, lines, skipped = [], [], []          # rows: (task, the comparison with its best baseline)
  for task, by in results['comparisons'].items():
    present = {m: results['main'][task][m] for m in by if m in baselines}
    if not present:
      continue
    if _floor(results, task):
      skipped.append(f'{task} (no method succeeded)')
      continue
    best = max(present, key=lambda m: present[m]['success']['rate'])
    rows.append((task, by[best]))
    lines.append(_seed_line(task, f'against {best}, the best baseline here,', by[best]))
  if not rows and not skipped:
    return _claim(claim, NOT_MEASURED, 'no baseline in this record', WELCH)
  verdict = _all_better([c for _, c in rows]) if rows else NOT_TESTABLE
  tasks_where = lambda kind: ', '.join(t for t, c in rows if c['seeds']['verdict'] == kind)
  why = {REPRODUCED: 'better than the best baseline on every task it was measured on',
         NOT_REPRODUCED: 'not shown better than the best baseline on ' + tasks_where(verdicts.NOT_SHOWN),
         NOT_TESTABLE: 'a best baseline with one seed, or no task learned'}[verdict]
  if tasks_where(verdicts.NOT_TESTABLE) and verdict != NOT_TESTABLE:
    why += f"; not testable on {tasks_where(verdicts.NOT_TESTABLE)} (one seed in an arm)"
  missing = [m for m in methods.with_role('baseline') if m not in results['methods']]
  if missing:
    why += f"; baselines not in this record: {', '.join(missing)}"
  if skipped:
    why += f"; not testable on {', '.join(skipped)}"
  absent = [t for t in sim_tasks.TASKS if t not in results['main']]
  if absent:                               # a verdict on some tasks must not read as one on all five
    why += f"; tasks not in this record yet: {', '.join(absent)}"
  return _claim(claim, verdict, why, WELCH, lines)


def only_glam_on_stack_three(results: dict, task: str = 'stack_three') -> dict:
  claim = f'only GLAM is non-trivial on {task}'
  by = results['main'].get(task)
  test = f'pooled success with its 95 % Wilson interval; non-trivial: the interval above {TRIVIAL:.2f}'
  if not by:
    return _claim(claim, NOT_MEASURED, f'no {task} cell in this record', test)
  lines = [f"{m}: {b['success']['successes']}/{b['success']['trials']} "
           f"{report.interval(b['success']['wilson_low'], b['success']['wilson_high'], '.2f')}" for m, b in by.items()]
  if _floor(results, task):
    return _claim(claim, NOT_TESTABLE, f'no method succeeded on {task} at this size', test, lines)
  glam = [m for m in by if methods.get(m).role == 'method']
  others = [m for m in by if methods.get(m).role in ('baseline', 'stronger_baseline')]
  good = [m for m in glam if by[m]['success']['wilson_low'] > TRIVIAL]
  non_trivial = [m for m in others if by[m]['success']['rate'] >= TRIVIAL]
  ok = bool(good) and not non_trivial
  reasons = ([] if good else [f'no GLAM method with its interval above {TRIVIAL:.2f}']) + (
      [f"non-trivial baselines: {', '.join(non_trivial)}"] if non_trivial else [])
  why = f"GLAM's interval above {TRIVIAL:.2f} and every baseline below it" if ok else '; '.join(reasons)
  return _claim(claim, REPRODUCED if ok else NOT_REPRODUCED, why, test, lines)


def _ratio_claim(claim: str, r: dict | None, value: float, expected: float, interval, test: str, unit: str) -> dict:
  if not r:
    return _claim(claim, NOT_MEASURED, 'no scaling curves in this record', test)
  line = f"{value:.2f}{unit}, 95 % interval [{interval[0]:.2f}, {interval[1]:.2f}]" + (
      f" ({r['points_with_seeds']} of {r['points']} points with several seeds)")
  if r['points_with_seeds'] < r['points']:
    return _claim(claim, NOT_TESTABLE, 'one policy seed per scaling point: the interval holds trial noise only, '
                  'not the seeds\' spread', test, [line])
  if not r['determined']:
    return _claim(claim, NOT_TESTABLE, 'the interval is unbounded or spans more than tenfold', test, [line])
  inside = interval[0] <= expected <= interval[1]
  return _claim(claim, REPRODUCED if inside else NOT_REPRODUCED,
                f"{expected:g}{unit} {'inside' if inside else 'outside'} the interval", test, [line])


def mip_needs_five_times(results: dict) -> dict:
  sc = results.get('scaling') or {}
  mm = sc.get('mip_matching')
  test = ("target episodes at which MIP's curve reaches GLAM-O's level, over GLAM-O's target episodes; "
          'parametric bootstrap (seeds drawn from a t over each point\'s seeds)')
  claim = f'MIP needs about {MIP_MULTIPLE:g}x the target episodes to match GLAM-O'
  if not mm:
    return _claim(claim, NOT_MEASURED, 'no scaling curves in this record', test)
  return _ratio_claim(claim, mm, mm['multiple'], MIP_MULTIPLE, mm['multiple_interval'], test, 'x')


def umi_one_for_one(results: dict) -> dict:
  ex = (results.get('scaling') or {}).get('exchange_rate')
  test = ('slope of success with target episodes over slope with UMI episodes; parametric bootstrap, the point '
          'both curves share drawn once')
  claim = 'UMI episodes substitute for target episodes one for one'
  if not ex:
    return _claim(claim, NOT_MEASURED, 'no scaling curves in this record', test)
  return _ratio_claim(claim, ex, ex['aux_per_target'], EXCHANGE, ex['interval'], test, ' UMI per target episode')


def third_source_helps(results: dict) -> dict:
  claim = 'the third source (UR5e) helps'
  rows = [(t, r['comparison']) for t, r in (results.get('third_source') or {}).items() if r.get('comparison')]
  if not rows:
    return _claim(claim, NOT_MEASURED, 'no third-source cell with its target + UMI counterpart', WELCH)
  verdict = _all_better([c for _, c in rows])
  return _claim(claim, verdict, {REPRODUCED: 'better with the UR5e data', NOT_REPRODUCED: 'not shown better',
                                 NOT_TESTABLE: 'one seed in an arm'}[verdict], WELCH,
                [_seed_line(t, '+ UR5e against target + UMI', c) for t, c in rows])


def _replay_lines(results: dict, task: str, ref: str, other: str) -> tuple:
  """(lines, any replay pair where the reference is better by Newcombe's one-sided bound)."""
  a = results['main'][task][ref].get('replay', {})
  b = results['main'][task][other].get('replay', {})
  lines, better = [], False
  for pair in sorted(set(a) & set(b)):
    low = stats.compare(a[pair], b[pair])['newcombe_one_sided_low']
    better |= low > 0
    lines.append(f"{task}: replay {pair} {a[pair]['successes']}/{a[pair]['trials']} against "
                 f"{b[pair]['successes']}/{b[pair]['trials']} (Newcombe one-sided low {low:+.3f})")
  return lines, better


def ablations_lose(results: dict) -> dict:
  claim = 'the ablations lose success and replay'
  ref = results['reference']
  rows, lines, replay_ok, replay_seen = [], [], True, False
  for task, by in results['comparisons'].items():
    for m in by:
      if methods.get(m).role != 'ablation' or _floor(results, task):
        continue
      rows.append(by[m])
      lines.append(_seed_line(task, f'against {m}', by[m]))
      rl, better = _replay_lines(results, task, ref, m)
      lines += rl
      replay_seen |= bool(rl)
      replay_ok &= better or not rl
  test = WELCH + "; replay: Newcombe's one-sided bound on replay episodes (one world model: trials only)"
  if not rows:
    return _claim(claim, NOT_MEASURED, 'no ablation cell in this record', test)
  verdict = _all_better(rows)
  if verdict == REPRODUCED and replay_seen and not replay_ok:
    verdict = NOT_REPRODUCED
  why = {REPRODUCED: 'the reference better than each ablation on every task, in success and in a replay pair',
         NOT_REPRODUCED: 'an ablation not shown worse in success or in every replay pair',
         NOT_TESTABLE: 'one seed in an arm'}[verdict]
  return _claim(claim, verdict, why, test, lines)


def masks_help(results: dict) -> dict:
  claim = 'masks help GLAM (GLAM-O on object masks against GLAM on RGB)'
  rows = [(t, by['glam']) for t, by in results['comparisons'].items()
          if results['reference'] == 'glam_o' and 'glam' in by and not _floor(results, t)]
  if not rows:
    return _claim(claim, NOT_MEASURED, 'no glam cell beside glam_o in this record', WELCH)
  verdict = _all_better([c for _, c in rows])
  return _claim(claim, verdict, {REPRODUCED: 'GLAM-O better than GLAM on every task measured',
                                 NOT_REPRODUCED: 'not shown better on every task', NOT_TESTABLE: 'one seed in an arm'}
                [verdict], WELCH, [_seed_line(t, 'glam_o against glam', c) for t, c in rows])


def transfers_across_sources(results: dict, plain_idm: str = 'clam_o_aux') -> dict:
  claim = (f"with an auxiliary source as different as real UMI data (heterogeneity level >= 1), "
           f"{results['reference']} beats a plain inverse-dynamics model given the same data ({plain_idm})")
  rows = [(t, int(lv), by[plain_idm]) for t, h in (results.get('heterogeneity') or {}).items()
          for lv, by in h.get('comparisons', {}).items() if int(lv) > 0 and plain_idm in by]
  if not rows:
    return _claim(claim, NOT_MEASURED, f'no heterogeneity cell of {plain_idm} at a level above 0', WELCH)
  verdict = _all_better([c for _, _, c in rows])
  return _claim(claim, verdict, {REPRODUCED: 'better at every level and task measured',
                                 NOT_REPRODUCED: 'not shown better at some level or task',
                                 NOT_TESTABLE: 'one seed in an arm'}[verdict], WELCH,
                [_seed_line(f'{t} level {lv}', f'against {plain_idm}', c) for t, lv, c in rows])


CLAIMS = (beats_best_baseline, only_glam_on_stack_three, mip_needs_five_times, umi_one_for_one, third_source_helps,
          ablations_lose, masks_help, transfers_across_sources)


def judge(results: dict) -> list:
  """Every claim's verdict from one record's assembled results."""
  return [c(results) for c in CLAIMS]


def provenance(results: dict) -> dict:
  pr = results.get('protocol') or {}
  return {'version': pr.get('version'), 'lacks': pr.get('lacks', ''),
          'commits': sorted({c['commit'] for c in results['cells'].values() if c.get('commit')})}


def markdown(results: dict, record: str, command: str) -> str:
  """One record's claims page."""
  p = provenance(results)
  lines = [f"# The paper's claims in the record `{record}`", '',
           f'Generated by `{command}` from `{record}/cells.json`; do not edit by hand.', '',
           f"Protocol version {p['version']}" + (f"; this record lacks {p['lacks']}" if p['lacks'] else '')
           + '. Code of the cells: ' + (', '.join(f'`{c}`' for c in p['commits']) or 'not recorded') + '.', '',
           '| claim | verdict | why |', '|---|---|---|']
  judged = judge(results)
  lines += [f"| {c['claim']} | **{c['verdict']}** | {c['why']} |" for c in judged]
  for c in judged:
    lines += ['', f"## {c['claim']}: {c['verdict']}", '', f"Test: {c['test']}.", '']
    lines += [f'- {n}' for n in c['numbers']] or ['- no numbers in this record']
  return '\n'.join(lines) + '\n'


def index(records: list, command: str) -> str:
  """docs/results/claims.md: each claim with one row per record [(record dir, results)], never pooled."""
  lines = ["# The paper's claims, judged from the committed records", '',
           f'Generated by `{command}`; do not edit by hand. Each record is judged on its own (records of '
           'different protocol versions are never pooled); its own `claims.md` has the numbers.', '',
           'Verdicts: reproduced; not reproduced; not measured yet (no cell for it in the record); not testable '
           'at this size (the cells exist, but no method learned the task, an arm has one seed, or an interval '
           'is unbounded or spans more than tenfold).']
  judged = [(path, provenance(r), judge(r)) for path, r in records]
  for i, fn in enumerate(CLAIMS):
    name = judged[0][2][i]['claim'] if judged else fn.__name__
    lines += ['', f'## {name}', '', '| record | protocol | commits | verdict | why |', '|---|---|---|---|---|']
    for path, p, cs in judged:
      c = cs[i]
      commits = p['commits'][0] if len(p['commits']) == 1 else f"{len(p['commits'])}, listed in its page"
      lines.append(f"| [{path}]({path}/claims.md) | {p['version']} | {commits if p['commits'] else '–'} | "
                   f"**{c['verdict']}** | {c['why']} |")
  return '\n'.join(lines) + '\n'
