"""The suite's verdicts: each comparison of the reference against another arm, by trials and by seeds, and
the corrections that hold over a whole record.

Per comparison (`comparison`):
- the paper's protocol, which counts trials only: Newcombe's interval of the pooled rates and its one-sided
  verdict, with the difference those trials detect (one-sided, in the direction tested);
- the verdict that counts seeds (eval/seed_stats.py): Welch's one-sided t over the per-seed rates, the
  exact permutation p over seed labels, the difference the Welch test detects with 80 % power at the
  spread of the seeds; "not testable" with fewer than two seeds in an arm.
Over a record (`adjust`): Holm's correction over every one-sided "reference better" verdict the report
prints (main table and third source), the verdict "better" when the adjusted p is below `ALPHA`, else
"not shown"; each cell's seed homogeneity (do its seeds share one rate?); the paper's own test, a paired t
over tasks.
"""
from __future__ import annotations

import math

import numpy as np

from glam_jax.eval import seed_stats, stats

ALPHA = 0.05                      # family-wise, one-sided
BETTER, NOT_SHOWN, NOT_TESTABLE = 'better', 'not shown', 'not testable'


def per_seed_trials(block: dict) -> int:
  """Episodes each seed was evaluated on (the pooled trials over the seeds)."""
  return block['success']['trials'] // max(len(block.get('seeds') or [0]), 1)


def comparison(ref: dict, other: dict) -> dict:
  """The reference's method block against another's (each with `success` and per-seed rates `seeds`)."""
  a, b = ref['success'], other['success']
  out = {'difference': a['rate'] - b['rate'], **stats.compare(a, b), 'trials': [a['trials'], b['trials']],
         'detectable_difference': stats.detectable_difference(a['rate'], a['trials'], b['trials'])}
  sa, sb = ref.get('seeds') or [], other.get('seeds') or []
  w = seed_stats.welch(sa, sb)
  seeds = {'n': [len(sa), len(sb)], 'welch': w, 'p': w['p_one_sided'] if w else math.nan,
           'permutation_p': seed_stats.permutation(sa, sb) if w else math.nan}
  if w:
    sd = seed_stats.seed_spread(sa, sb, min(per_seed_trials(ref), per_seed_trials(other)))
    seeds.update(spread=sd, detectable=seed_stats.detectable(a['rate'], sd, len(sa), len(sb), ALPHA))
  out['seeds'] = seeds
  return out


def _family(results: dict) -> list:
  """Every comparison a report prints a one-sided verdict for, in the report's order."""
  rows = [c for by in results['comparisons'].values() for c in by.values()]
  rows += [t['comparison'] for t in results.get('third_source', {}).values() if t.get('comparison')]
  return rows + [c for t in results.get('heterogeneity', {}).values() for by in t.get('comparisons', {}).values()
                 for c in by.values()]


def adjust(results: dict) -> None:
  """Holm over the record's family of verdicts, in place: each comparison's `seeds` gains `holm_p` and
  `verdict`; `results` gains `family` (its size and rule), `homogeneity` per main cell and `across_tasks`."""
  family = _family(results)
  adjusted = seed_stats.holm([c['seeds']['p'] for c in family])
  for c, p in zip(family, adjusted):
    c['seeds']['holm_p'] = p
    c['seeds']['verdict'] = NOT_TESTABLE if math.isnan(p) else BETTER if p < ALPHA else NOT_SHOWN
  results['family'] = {'tests': int(sum(not math.isnan(p) for p in adjusted)), 'untestable': len(family)
                       - int(sum(not math.isnan(p) for p in adjusted)), 'alpha': ALPHA, 'correction': 'Holm'}
  results['homogeneity'] = {
      task: {m: seed_stats.homogeneity([round(r * per_seed_trials(block)) for r in block['seeds']],
                                       [per_seed_trials(block)] * len(block['seeds']))
             for m, block in by.items() if len(block.get('seeds') or []) > 1}
      for task, by in results['main'].items()}
  ref = results['reference']
  across = {}
  for m in results['methods']:
    tasks = [t for t, by in results['main'].items() if ref in by and m in by and m != ref]
    if len(tasks) > 1:
      rate = lambda name: [results['main'][t][name]['success']['rate'] for t in tasks]
      across[m] = {**seed_stats.paired_across_tasks(rate(ref), rate(m)), 'task_names': tasks}
  results['across_tasks'] = across


def dispersion_summary(results: dict) -> dict | None:
  """Median dispersion over the record's cells with spread and how many reject one rate at 5 %."""
  rows = [h for by in results.get('homogeneity', {}).values() for h in by.values() if not math.isnan(h['p'])]
  if not rows:
    return None
  return {'cells': len(rows), 'median_dispersion': float(np.median([h['dispersion'] for h in rows])),
          'rejected': sum(h['p'] < 0.05 for h in rows)}
