"""A trainer killed with SIGKILL leaves no process behind: its Grain workers watch their parent's pid."""
import os
import signal
import subprocess
import sys
import time

import psutil

from glam_jax import parent_watch
from tests.data.helpers import write_synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _alive(procs):
  out = []
  for p in procs:
    try:
      if p.status() != psutil.STATUS_ZOMBIE:     # exited; only an un-reaped entry is left
        out.append(p)
    except psutil.NoSuchProcess:
      pass
  return out


def _cmdline(process) -> list:
  """A child's command line; empty for one that ended (or became a zombie) since it was listed."""
  try:
    return process.cmdline()
  except (psutil.NoSuchProcess, psutil.ZombieProcess):
    return []


def test_children_of_a_killed_trainer_end_within_seconds(tmp_path):
  data = tmp_path / 'data'
  write_synthetic(str(data / 'lift' / 'kinova'), 0, [20] * 6, size=16)
  write_synthetic(str(data / 'lift' / 'umi'), 1, [20] * 6, has_actions=False, name='umi', size=16)
  log = open(tmp_path / 'log.txt', 'w')
  trainer = subprocess.Popen(
      [sys.executable, 'tools/train_world_model.py', '--config=experiments/configs/world_model.py:lift,tiny',
       f'--workdir={tmp_path / "run"}', f'--config.data_dir={data}', '--config.num_workers=2',
       '--config.num_steps=100000', '--config.batch_size=8', "--config.image_keys=('overhead/rgb','overhead/mask')",
       '--config.model.conv_features=(8,16)'],
      cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  children = []
  try:
    parent = psutil.Process(trainer.pid)
    deadline = time.time() + 300
    while time.time() < deadline:
      workers = [c for c in parent.children(recursive=True) if 'spawn_main' in ' '.join(_cmdline(c))]
      if len(workers) >= 2:
        break
      assert trainer.poll() is None, (tmp_path / 'log.txt').read_text()[-3000:]
      time.sleep(0.5)
    else:
      raise AssertionError('no Grain workers appeared: ' + (tmp_path / 'log.txt').read_text()[-3000:])
    time.sleep(3)                                   # the workers are now prefetching
    children = parent.children(recursive=True)
    assert len(children) >= 2
    os.kill(trainer.pid, signal.SIGKILL)
    trainer.wait()
    deadline = time.time() + 10
    while _alive(children) and time.time() < deadline:
      time.sleep(0.25)
    assert not _alive(children), [(p.pid, p.cmdline()) for p in _alive(children)]
  finally:
    if trainer.poll() is None:
      trainer.kill()
    for p in _alive(children):      # a failed run leaves nothing behind either
      p.kill()
    log.close()


def test_exit_with_parent_ends_a_process_whose_parent_is_gone():
  # the watched pid is not our parent: the process ends at once with the watcher's exit code
  code = subprocess.run([sys.executable, '-c', f'from glam_jax import parent_watch; import time; '
                         f'parent_watch.exit_with_parent({os.getpid() + 10**6}); time.sleep(30)'],
                        cwd=ROOT, timeout=60).returncode
  assert code == parent_watch.EXIT_CODE
  # and a process whose parent is alive keeps running
  code = subprocess.run([sys.executable, '-c', 'import os, time; from glam_jax import parent_watch; '
                         'parent_watch.exit_with_parent(os.getppid()); time.sleep(1)'], cwd=ROOT, timeout=60).returncode
  assert code == 0
