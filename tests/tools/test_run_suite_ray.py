"""The Ray executor (glam_jax/experiments/ray_cells.py): SIGTERM on the driver cancels the running cell and
leaves no Ray process behind; a bad executor request fails in one line. (That its numbers equal the local
executor's is in the smoke-suite test, tests/tools/test_run_suite.py.)"""
import os
import signal
import subprocess
import shutil
import sys
import tempfile
import time

import psutil
import pytest

ray = pytest.importorskip('ray')
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RAY_PROCESSES = ('raylet', 'gcs_server', 'ray::', 'default_worker.py', 'dashboard', 'log_monitor')


def _ray_processes(session_root: str) -> list:
  out = []
  for p in psutil.process_iter(['cmdline']):
    try:
      line = ' '.join(p.info['cmdline'] or [])
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
      continue
    if any(name in line for name in RAY_PROCESSES) and session_root in line:
      out.append(p.pid)
  return out


def test_sigterm_cancels_the_cells_and_leaves_no_process(tmp_path):
  temp = tempfile.mkdtemp(prefix='ray', dir='/tmp')   # short: Ray's socket paths must fit in 107 bytes; its
                                                      # processes name this directory on their command lines
  env = {**os.environ, 'JAX_PLATFORMS': 'cpu', 'RAY_TMPDIR': temp}
  p = subprocess.Popen([sys.executable, 'tools/run_suite.py', '--config=experiments/configs/suite.py:smoke',
                        f'--workdir={tmp_path / "w"}', '--config.tasks=lift', '--config.methods=glam_o',
                        '--config.scaling.task=', '--config.third_source.tasks=', '--executor=ray'], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
  seen = []
  deadline = time.time() + 300
  for line in p.stdout:                     # until the cell is training its world model
    seen.append(line)
    if 'world_model_glam_o' in line or time.time() > deadline:
      break
  assert any('cells on Ray' in s for s in seen), ''.join(seen)[-3000:]
  assert _ray_processes(temp), 'no Ray process found while the cell runs'
  p.send_signal(signal.SIGTERM)
  rest = p.communicate(timeout=120)[0]
  assert p.returncode != 0 and 'cancelling 1 running cells' in rest, rest[-3000:]
  for _ in range(30):
    if not _ray_processes(temp):
      break
    time.sleep(1)
  assert _ray_processes(temp) == [], 'Ray processes left behind'
  shutil.rmtree(temp, ignore_errors=True)


def test_ray_executor_errors_are_one_line(tmp_path):
  r = subprocess.run([sys.executable, 'tools/run_suite.py', '--config=experiments/configs/suite.py:smoke',
                      f'--workdir={tmp_path}', '--executor=ray', '--config.resources.cpus=0'], cwd=ROOT,
                     capture_output=True, text=True, timeout=300)
  assert r.returncode == 2 and 'error: resources.cpus must be above 0' in r.stderr and 'Traceback' not in r.stderr
