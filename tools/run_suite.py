"""The paper's experiments in one command: every cell of a suite preset, then one report.

  python tools/run_suite.py --config=experiments/configs/suite.py:smoke --workdir=runs/suite_smoke
  python tools/run_suite.py --config=experiments/configs/suite.py:cpu --workdir=runs/suite_cpu \
      [--config.tasks=lift,stack_two --config.methods=glam_o,mip --config.seeds=0,1,2 --config.trials=100]

Each cell (one task and method: data, world model, relabelling, policies for every seed, evaluation,
latent replay) runs in `<workdir>/cells/<section>/<task>-<method>-<hash of its config>/`; data is shared by
the cells with the same recipe under `<workdir>/data/`. Rerunning the command skips finished cells,
resumes unfinished ones and redoes cells whose config changed, so the suite can be run in pieces (stop it
with Ctrl-C or kill it; `--config.tasks=` picks a subset). A failing cell is recorded and the others go
on. `--report_only` writes the report of the cells finished so far and runs none. `--jobs=2` runs two
tasks at once. Writes <workdir>/report.md, claims.md (the paper's claims judged from this record alone;
tools/claims.py gathers every record's into docs/results/claims.md), results.json, main_table.png,
replay.png and scaling.png.

<workdir>/cells.json records every finished cell with its results: `--merge=OTHER` first takes the
finished cells of other runs' records (pieces run on other machines, or the committed
docs/results/suite_cpu/cells.json), so the suite goes on where they stopped. A record made under an
older protocol version (glam_jax/experiments/protocol.py) is refused by `--merge`; `--report_only` on its
own directory still writes its report, labelled with its version, with what it lacks and with each method
under today's name for what it ran.
"""
from __future__ import annotations

import os

os.environ.setdefault('XLA_FLAGS', f'--xla_force_host_platform_device_count={os.cpu_count()}')

import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from glam_jax import cli, compile_cache, file_lock  # noqa: E402
from glam_jax.configs import ConfigError  # noqa: E402
from glam_jax.experiments import claims, protocol, suite, suite_report, task_pipeline  # noqa: E402
from glam_jax.experiments.stages import write_json, write_text  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file('config', 'experiments/configs/suite.py:smoke', 'Suite config and preset.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Suite directory (default runs/suite_<preset>).')
_REPORT_ONLY = flags.DEFINE_bool('report_only', False, 'Run no cell: write the report of the cells finished so '
                                  'far (a suite run in pieces).')
_MERGE = flags.DEFINE_list('merge', [], 'Records of other runs of the suite (cells.json files, or suite directories '
                           'holding one: pieces run on other machines, docs/results/suite_cpu): their finished '
                           'cells join <workdir>/cells.json first and are not run again.')
_EXECUTOR = flags.DEFINE_enum('executor', 'local', ['local', 'ray'], 'Where cells run: this process (local), or as '
                              'Ray tasks (glam_jax/experiments/ray_cells.py; needs requirements-ray.txt).')
_RAY_ADDRESS = flags.DEFINE_string('ray_address', '', 'Ray cluster to join (auto, or HOST:PORT); empty: start one '
                                   'on this machine for the run.')
_JOBS = flags.DEFINE_integer('jobs', 1, 'Tasks run at once, in threads (XLA compiles on one core); 1 for the '
                             'timings the report quotes.')


def _commit() -> str:
  """The checkout's commit, '+changes' appended when tracked files differ from it; '' outside git."""
  git = lambda *a: subprocess.run(['git', *a], capture_output=True, text=True, timeout=10,
                                  cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__)))).stdout.strip()
  try:
    head = git('rev-parse', '--short', 'HEAD')
    return head + ('+changes' if head and git('status', '--porcelain', '--untracked-files=no') else '')
  except (OSError, subprocess.SubprocessError):      # no git, or it hung: the report goes without a commit
    return ''


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  if not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)
  sc = _CONFIG.value
  sc.tasks = task_pipeline.comma_list(sc.tasks)
  sc.methods = task_pipeline.comma_list(sc.methods)
  sc.one_seed_methods = task_pipeline.comma_list(sc.one_seed_methods)
  sc.third_source.tasks = task_pipeline.comma_list(sc.third_source.tasks)     # '' skips the section
  sc.heterogeneity.tasks = task_pipeline.comma_list(sc.heterogeneity.tasks)   # '' skips the section
  sc.heterogeneity.methods = task_pipeline.comma_list(sc.heterogeneity.methods)
  workdir = _WORKDIR.value or os.path.join('runs', f'suite_{sc.preset}')
  cells = suite.cells_of(sc, workdir)          # bad tasks, methods or overrides fail here, before any work
  commit = _commit()                           # before this run writes its report over tracked copies
  version = None                               # today's protocol
  if _MERGE.value:
    suite.merge_records(cells, workdir, _MERGE.value)
  if _REPORT_ONLY.value:
    if not os.path.exists(os.path.join(workdir, 'cells.json')):
      raise ConfigError(f'--report_only: {workdir} holds no suite run (no cells.json)')
    status = suite.read_status(workdir)
    versions = protocol.of_record(status)
    if versions and protocol.VERSION not in versions:      # an older record, read on its own
      version = max(versions)
      cells, status = suite.cells_of_record(sc, status, workdir, version)
  else:
    os.makedirs(workdir, exist_ok=True)
    compile_cache.enable()
    with file_lock.exclusive(os.path.join(workdir, 'suite.lock'), f'the suite directory {workdir}', print):
      if _EXECUTOR.value == 'ray':
        try:
          from glam_jax.experiments import ray_cells
          import ray  # noqa: F401
        except ImportError:
          raise ConfigError('--executor=ray needs Ray: pip install -r requirements-ray.txt') from None
        status = ray_cells.run_cells(cells, workdir, _RAY_ADDRESS.value, sc.resources.cpus, sc.resources.gpus,
                                     commit=commit)
      else:
        status = suite.run_cells(cells, workdir, jobs=_JOBS.value, commit=commit)
  results = suite.assemble(sc, cells, status, workdir, version)
  results['machine'] = suite.machine()           # where the report was written; the cells' are their records'
  write_json(os.path.join(workdir, 'results.json'), results)
  if results['main']:
    suite_report.main_table_chart(results, os.path.join(workdir, 'main_table.png'))
    suite_report.replay_heatmap(results, os.path.join(workdir, 'replay.png'))
  if results['scaling']:
    suite_report.scaling_chart(results, os.path.join(workdir, 'scaling.png'))
  if results['heterogeneity']:
    suite_report.heterogeneity_chart(results, os.path.join(workdir, 'heterogeneity.png'))
  command = 'python ' + ' '.join(shlex.quote(a) for a in sys.argv)
  write_text(os.path.join(workdir, 'report.md'), suite_report.markdown(results, command, commit))
  write_text(os.path.join(workdir, 'claims.md'), claims.markdown(results, workdir, command))
  failed = [n for n, c in results['cells'].items() if c['status'] == 'failed']
  print(f'wrote {workdir}/report.md, claims.md, results.json and figures'
        + (f'; {len(failed)} cell(s) failed: {", ".join(failed)}' if failed else ''))
  return 1 if failed else 0


if __name__ == '__main__':
  cli.run(main)
