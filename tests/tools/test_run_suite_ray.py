"""The Ray executor (glam_jax/experiments/ray_cells.py): SIGTERM on the driver cancels the running cell and
leaves no Ray process behind; a bad executor request fails in one line. (That its numbers equal the local
executor's is in the smoke-suite test, tests/tools/test_run_suite.py.)"""
import json
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


def _assert_none_left(temp: str) -> None:
  """No process of the Ray whose sessions live in `temp` within 30 s; then its directory goes."""
  for _ in range(30):
    if not _ray_processes(temp):
      break
    time.sleep(1)
  assert _ray_processes(temp) == [], 'Ray processes left behind'
  shutil.rmtree(temp, ignore_errors=True)


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
  _assert_none_left(temp)


def test_ray_executor_errors_are_one_line(tmp_path):
  r = subprocess.run([sys.executable, 'tools/run_suite.py', '--config=experiments/configs/suite.py:smoke',
                      f'--workdir={tmp_path}', '--executor=ray', '--config.resources.cpus=0'], cwd=ROOT,
                     capture_output=True, text=True, timeout=300)
  assert r.returncode == 2 and 'error: resources.cpus must be above 0' in r.stderr and 'Traceback' not in r.stderr


def _start_node(temp: str, head: bool, port: int, **extra) -> None:
  args = ['ray', 'start', f'--port={port}', '--head', f'--temp-dir={temp}', '--include-dashboard=false',
          '--disable-usage-stats'] if head else ['ray', 'start', f'--address=127.0.0.1:{port}']
  args += ['--object-store-memory=100000000'] + [f'--{k.replace("_", "-")}={v}' for k, v in extra.items()]
  r = subprocess.run(args, capture_output=True, text=True, timeout=120, env=_ray_env())
  assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


def _ray_env() -> dict:
  bin_dir = os.path.dirname(sys.executable)
  return {**os.environ, 'PATH': bin_dir + os.pathsep + os.environ['PATH'], 'RAY_enable_metrics_collection': '0',
          'JAX_PLATFORMS': 'cpu'}


def _kill_node(socket_suffix: str) -> list:
  """SIGKILLs the raylet whose socket ends in `socket_suffix` and every process under it (its workers)."""
  killed = []
  for p in psutil.process_iter(['cmdline']):
    line = p.info['cmdline'] or []
    if line and line[0].endswith('raylet') and any(a.endswith(f'sockets/{socket_suffix}') for a in line):
      for q in p.children(recursive=True) + [p]:
        try:
          q.kill()
          killed.append(q.pid)
        except psutil.NoSuchProcess:
          pass
  return killed


@pytest.mark.ray_cluster
def test_a_lost_worker_node_is_retried_and_resumes_with_the_same_numbers(tmp_path):
  """A head without CPUs and one worker node on this machine; the worker node is killed mid-cell (while the
  policy trains), another node joins, the cell is retried there and resumes from its finished stages; the
  numbers equal an uninterrupted local run's and no Ray process is left."""
  temp = tempfile.mkdtemp(prefix='rf', dir='/tmp')
  port = 6300 + os.getpid() % 600
  cell = ['--config=experiments/configs/suite.py:smoke', '--config.tasks=lift', '--config.methods=mip',
          '--config.scaling.task=', '--config.third_source.tasks=', '--config.pipeline.policy.num_steps=300']
  local = subprocess.run([sys.executable, 'tools/run_suite.py', *cell, f'--workdir={tmp_path / "local"}'], cwd=ROOT,
                         capture_output=True, text=True, timeout=900, env=_ray_env())
  assert local.returncode == 0, local.stderr[-3000:]
  try:
    _start_node(temp, True, port, num_cpus=0)
    log = open(tmp_path / 'driver.log', 'w')
    driver = subprocess.Popen([sys.executable, 'tools/run_suite.py', *cell, f'--workdir={tmp_path / "ray"}',
                               '--executor=ray', f'--ray_address=127.0.0.1:{port}'], cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT, env=_ray_env())
    deadline = time.time() + 300
    while 'cells on Ray' not in (tmp_path / 'driver.log').read_text() and time.time() < deadline:
      time.sleep(0.5)                               # the driver joins the head's raylet, the only one yet
    _start_node(temp, False, port, num_cpus=1)      # the node the cell runs on (the head has no CPU)
    while 'train_mip_seed0' not in (tmp_path / 'driver.log').read_text() and time.time() < deadline:
      time.sleep(0.5)
    time.sleep(3)                                   # inside the policy's training
    assert _kill_node('raylet.1'), 'the worker node was not found'
    _start_node(temp, False, port, num_cpus=1)      # somewhere for the retry to run
    assert driver.wait(timeout=600) == 0, (tmp_path / 'driver.log').read_text()[-3000:]
  finally:
    subprocess.run(['ray', 'stop', '--force'], capture_output=True, timeout=120, env=_ray_env())
  cell_dir = next((tmp_path / 'ray' / 'cells').iterdir())
  cell_log = (cell_dir / 'cell.log').read_text()
  assert cell_log.count('[2/4] train_mip_seed0') == 2 and 'data: done earlier' in cell_log, cell_log[-3000:]
  ours = json.load(open(tmp_path / 'ray' / 'results.json'))['main']['lift']['mip']
  theirs = json.load(open(tmp_path / 'local' / 'results.json'))['main']['lift']['mip']
  for key in ('success', 'seeds', 'smoothness', 'episodes'):
    assert json.dumps(ours[key]) == json.dumps(theirs[key]), key
  _assert_none_left(temp)
