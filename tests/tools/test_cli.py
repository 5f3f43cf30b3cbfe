"""A bad config on the command line is one line on stderr with exit status 2, before any work: an unknown
field (with ml_collections' suggestion), a wrong type, an impossible combination."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize('override, expected', [
    ('--config.trails=4', "error: unknown config field 'trails'\nDid you mean \"trials\""),
    ('--config.trials=many', "error: flag --config.trials=many: invalid literal for int()"),
    ('--config.image_size=40', 'error: world model of glam_o: image size 40 is not divisible by 2**4'),
])
def test_bad_configs_fail_in_one_message(tmp_path, override, expected):
  workdir = tmp_path / 'run'
  run = subprocess.run([sys.executable, 'tools/run_pipeline.py', '--config=experiments/configs/pipeline.py:lift,smoke',
                        override, f'--workdir={workdir}'], cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert run.returncode == 2, run.stderr[-2000:]
  assert expected in run.stderr and 'Traceback' not in run.stderr, run.stderr[-2000:]
  assert not workdir.exists()


def test_suite_report_only_needs_a_suite_run(tmp_path):
  run = subprocess.run([sys.executable, 'tools/run_suite.py', '--config=experiments/configs/suite.py:smoke',
                        f'--workdir={tmp_path}', '--report_only'], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert run.returncode == 2 and 'holds no suite run (no cells.json)' in run.stderr, run.stderr[-2000:]
  assert 'Traceback' not in run.stderr and os.listdir(tmp_path) == []
  run = subprocess.run([sys.executable, 'tools/run_suite.py', '--config=experiments/configs/suite.py:smoke',
                        f'--workdir={tmp_path}', '--report_only', f'--merge={tmp_path}/elsewhere'], cwd=ROOT,
                       capture_output=True, text=True, timeout=300, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert run.returncode == 2 and 'elsewhere holds no suite record (no cells.json)' in run.stderr, run.stderr[-2000:]
  assert 'Traceback' not in run.stderr and os.listdir(tmp_path) == []


def test_every_suite_section_can_be_emptied_on_the_command_line(tmp_path):
  """`--config.X.tasks=` skips a section (the way a suite is run in pieces): the cells plan, and only the
  missing record stops --report_only."""
  run = subprocess.run([sys.executable, 'tools/run_suite.py', '--config=experiments/configs/suite.py:cpu',
                        f'--workdir={tmp_path}', '--report_only', '--config.tasks=lift', '--config.scaling.task=',
                        '--config.third_source.tasks=', '--config.heterogeneity.tasks=',
                        '--config.heterogeneity.methods=glam_o,mip'], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert run.returncode == 2 and 'holds no suite run (no cells.json)' in run.stderr, run.stderr[-2000:]
