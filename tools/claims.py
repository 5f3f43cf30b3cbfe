"""The paper's claims judged from every committed suite record, on one page.

  python tools/claims.py [--records=docs/results/suite_cpu,docs/results/suite_shared] [--out=docs/results/claims.md]

Reads each record's `results.json` (written by `tools/run_suite.py ... --report_only`, which also writes the
record's own claims.md with the numbers) and writes one page with a verdict per claim and record
(glam_jax/experiments/claims.py). Records are judged one by one, never pooled. Default records: every
directory under docs/results holding a suite's results.json with cells of the reference method (a record of
one baseline alone, such as docs/results/backend_agreement, tests no claim).
"""
from __future__ import annotations

import glob
import json
import os
import shlex
import sys

from absl import flags

from glam_jax import cli
from glam_jax.configs import ConfigError
from glam_jax.experiments import claims
from glam_jax.experiments.stages import write_text

_RECORDS = flags.DEFINE_list('records', [], 'Suite record directories (default: every one under docs/results).')
_OUT = flags.DEFINE_string('out', 'docs/results/claims.md', 'The page to write.')


def read_record(path: str) -> dict:
  f = os.path.join(path, 'results.json')
  if not os.path.exists(f):
    raise ConfigError(f'{path}: no results.json (run tools/run_suite.py --workdir={path} --report_only first)')
  with open(f) as fh:
    results = json.load(fh)
  if 'preset' not in results or 'comparisons' not in results:
    raise ConfigError(f'{f} is not a suite record')
  if 'family' not in results:
    raise ConfigError(f'{f} predates the seed-aware verdicts: rerun tools/run_suite.py --workdir={path} '
                      '--report_only to refresh it')
  return results


def compares(results: dict) -> bool:
  """Whether a record holds the reference method's cells, which every claim compares against."""
  return any(results['reference'] in by for by in results['main'].values())


def main(argv):
  paths = _RECORDS.value or sorted(os.path.dirname(p) for p in glob.glob('docs/results/*/results.json')
                                   if 'preset' in json.load(open(p)))
  if not paths:
    raise ConfigError('no suite record found: give --records')
  records = [(p, read_record(p)) for p in paths]
  if not _RECORDS.value:         # by default, only records of the comparison (not a one-method backend record)
    skipped = [p for p, r in records if not compares(r)]
    records = [(p, r) for p, r in records if compares(r)]
    if skipped:
      print(f'skipped, no cell of the reference method: {", ".join(skipped)}')
  here = os.path.dirname(os.path.abspath(_OUT.value))
  linked = [(os.path.relpath(os.path.abspath(p), here), r) for p, r in records]
  command = 'python ' + ' '.join(shlex.quote(a) for a in sys.argv)
  write_text(_OUT.value, claims.index(linked, command))
  print(f'wrote {_OUT.value} from {len(records)} record(s): {", ".join(p for p, _ in records)}')


if __name__ == '__main__':
  cli.run(main)
