"""The committed protocol-1 record regenerates its report and claims, and tools/claims.py gathers the claims
of records into one page; a directory without a record is one error line."""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(*args):
  return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_old_record_regenerates_report_and_claims(tmp_path):
  record = tmp_path / 'suite_cpu'
  shutil.copytree(os.path.join(ROOT, 'docs/results/suite_cpu'), record)
  r = _run('tools/run_suite.py', '--config=experiments/configs/suite.py:cpu', f'--workdir={record}', '--report_only')
  assert r.returncode == 0, r.stderr[-3000:]
  report, page = (record / 'report.md').read_text(), (record / 'claims.md').read_text()
  assert 'Protocol version 1' in report and '## Seed-to-seed variance' in report and 'Holm' in report
  assert 'Protocol version 1; this record lacks per-episode outcomes' in page
  # the trials-only verdict of the old report next to the seed-aware one: lift against MIP
  row = next(l for l in report.splitlines() if l.startswith('| lift | mip |'))
  assert '**not shown**' in row and row.endswith('| yes |')
  out = tmp_path / 'claims.md'
  r = _run('tools/claims.py', f'--records={record}', f'--out={out}')
  assert r.returncode == 0, r.stderr[-3000:]
  index = out.read_text()
  assert index.count('](suite_cpu/claims.md) | 1 |') == 8 and 'not testable at this size' in index
  # by default every committed record of the comparison; a one-method record (the backend check) tests no claim
  r = _run('tools/claims.py', f'--out={tmp_path / "all.md"}')
  assert r.returncode == 0, r.stderr[-3000:]
  assert 'skipped, no cell of the reference method: docs/results/backend_agreement' in r.stdout
  every = (tmp_path / 'all.md').read_text()
  assert 'backend_agreement' not in every and 'suite_cpu_p3' in every
  bad = _run('tools/claims.py', f'--records={tmp_path}', f'--out={tmp_path / "x.md"}')
  assert bad.returncode == 2 and bad.stderr.strip().startswith('error:') and 'no results.json' in bad.stderr
  assert 'Traceback' not in bad.stderr and not (tmp_path / 'x.md').exists()
