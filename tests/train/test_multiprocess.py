"""Multi-process training: two processes on localhost (one CPU device each, gloo collectives, started with
the tool's --coordinator_address/--num_processes/--process_id) train the tiny world model to the per-step
losses of one process with the same global batch, and write one set of metrics and checkpoints. Those
restore as parameters under one process; resuming their training under one process is refused (the Grain
iterator was saved per process). The runs are subprocesses: the pytest process never joins a cluster."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from glam_jax import configs
from glam_jax.stage1 import experiment
from glam_jax.train import loop, metrics, sharding
from tests.data.helpers import write_synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS, EVERY = 6, 3
OVERRIDES = dict(image_keys=('overhead/rgb', 'overhead/mask'), batch_size=8, num_steps=STEPS, log_every=1,
                 checkpoint_every=EVERY, eval_every=STEPS, eval_batches=1, num_workers=0)
MODEL = dict(conv_features=(8, 16), idm_blocks=1, action_encoder_blocks=1, forward_blocks=1, proprio_blocks=1,
             decoder_layers=1)       # small to compile: on CPU only process 0 gets programs from the cache
DIST_ENV = ('JAX_COORDINATOR_ADDRESS', 'JAX_NUM_PROCESSES', 'JAX_PROCESS_ID', 'SLURM_STEP_NUM_TASKS')
LOSS_RTOL = 1e-5      # measured: at most 1.2e-7 (a float32 ulp at one step, identical at the others)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _start(workdir, data_dir, log, dist: list) -> subprocess.Popen:
  env = {k: v for k, v in os.environ.items() if k not in DIST_ENV}
  env.update(JAX_PLATFORMS='cpu', XLA_FLAGS='--xla_force_host_platform_device_count=1', GLAM_DISTRIBUTED='0')
  args = [f'--config.{k}={v}' for k, v in OVERRIDES.items()] + [f'--config.model.{k}={v}' for k, v in MODEL.items()]
  cmd = [sys.executable, 'tools/train_world_model.py', '--config=experiments/configs/world_model.py:lift,tiny',
         f'--workdir={workdir}', f'--config.data_dir={data_dir}', *args, *dist]
  return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_all(procs: dict, logs: dict, timeout: float) -> None:
  """Waits for every run; the first failure or the deadline (a hung collective) ends them all."""
  deadline = time.time() + timeout
  try:
    while any(p.poll() is None for p in procs.values()):
      failed = [n for n, p in procs.items() if p.poll() not in (None, 0)]
      if failed or time.time() > deadline:
        name = failed[0] if failed else next(n for n, p in procs.items() if p.poll() is None)
        pytest.fail(f'{name}: {"failed" if failed else f"still running after {timeout:.0f} s"}:\n'
                    + open(logs[name]).read()[-4000:])
      time.sleep(0.5)
    for n, p in procs.items():
      assert p.returncode == 0, open(logs[n]).read()[-4000:]
  finally:
    for p in procs.values():
      if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def _rows(workdir, prefix):
  return [r for r in metrics.read_jsonl(os.path.join(workdir, 'metrics.jsonl')) if prefix + 'loss' in r]


def _config(data_dir, **overrides):
  c = configs.load('world_model', 'lift,tiny')
  c.update({**OVERRIDES, 'data_dir': data_dir, **overrides})
  c.model.update(MODEL)
  return c


def test_two_processes_train_like_one_and_resume_only_as_two(tmp_path):
  data_dir = str(tmp_path / 'data')
  write_synthetic(os.path.join(data_dir, 'lift', 'kinova'), 0, [6, 9, 5, 12, 7, 8], size=16)
  write_synthetic(os.path.join(data_dir, 'lift', 'umi'), 1, [7, 4, 10, 8, 6, 9], has_actions=False, name='umi',
                  size=16)
  two, one = str(tmp_path / 'two'), str(tmp_path / 'one')
  port = _free_port()
  runs = {f'process {i}': (two, [f'--coordinator_address=localhost:{port}', '--num_processes=2',
                                 f'--process_id={i}']) for i in range(2)}
  runs['one process'] = (one, [])
  logs = {n: str(tmp_path / f'{n.replace(" ", "_")}.log') for n in runs}
  procs = {}
  for n, (workdir, dist) in runs.items():                 # all three at once: compiling dominates
    with open(logs[n], 'w') as log:
      procs[n] = _start(workdir, data_dir, log, dist)
  _wait_all(procs, logs, timeout=420)

  # One process's per-step losses, to float tolerance; the same held-out evaluation.
  a, b = _rows(two, 'train/'), _rows(one, 'train/')
  assert [r['step'] for r in a] == [r['step'] for r in b] == list(range(1, STEPS + 1))   # each step once
  np.testing.assert_allclose([r['train/loss'] for r in a], [r['train/loss'] for r in b], rtol=LOSS_RTOL)
  assert len({r['train/loss'] for r in b}) == STEPS                                       # it did train
  np.testing.assert_allclose(_rows(two, 'eval/')[0]['eval/loss'], _rows(one, 'eval/')[0]['eval/loss'],
                             rtol=LOSS_RTOL)

  # One set of outputs: one checkpoint per save (each process adds only its Grain iterator state).
  ckpts = os.path.join(two, 'checkpoints')
  assert sorted(os.listdir(ckpts)) == [str(s) for s in range(EVERY, STEPS + 1, EVERY)]
  assert sorted(os.listdir(os.path.join(ckpts, str(STEPS), 'data'))) == ['process_0-of-2.json',
                                                                          'process_1-of-2.json']
  assert len(os.listdir(os.path.join(two, 'tensorboard'))) == 1
  assert json.load(open(os.path.join(two, 'config.json')))['num_steps'] == STEPS

  # The parameters restore under one process (Orbax reshards), equal to the one-process run's.
  _, p2, _ = experiment.load(two)
  _, p1, _ = experiment.load(one)
  for x, y in zip(jax.tree.leaves(p2), jax.tree.leaves(p1)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-5)

  # Training resumes only as two processes: one would read other batches from the saved iterator.
  c = _config(data_dir, num_steps=STEPS + EVERY)
  learner, train_data, _ = experiment.build(c)
  with pytest.raises(ValueError, match=r'process_count: saved with 2, now 1.*num_workers=0 on 2 process\(es\)'):
    loop.train(c, learner, train_data, two, progress=False)
  assert _rows(two, 'train/')[-1]['step'] == STEPS                  # nothing trained under the wrong layout


@pytest.mark.parametrize('args, env, expected', [
    ({}, {}, None),
    ({}, {'SLURM_JOB_ID': '7', 'SLURM_NTASKS': '4'}, None),           # the batch script itself, not an srun step
    ({}, {'SLURM_STEP_NUM_TASKS': '4'}, dict(coordinator_address=None, num_processes=None, process_id=None)),
    ({}, {'SLURM_STEP_NUM_TASKS': '4', 'GLAM_DISTRIBUTED': '0'}, None),
    ({}, {'GLAM_DISTRIBUTED': '1'}, dict(coordinator_address=None, num_processes=None, process_id=None)),
    ({}, {'JAX_COORDINATOR_ADDRESS': 'h:1', 'JAX_NUM_PROCESSES': '2', 'JAX_PROCESS_ID': '1'},
     dict(coordinator_address='h:1', num_processes=2, process_id=1)),
    ({'num_processes': 4, 'process_id': 3}, {'JAX_COORDINATOR_ADDRESS': 'h:1', 'JAX_NUM_PROCESSES': '2'},
     dict(coordinator_address='h:1', num_processes=4, process_id=3)),   # flags over the environment
    ({'num_processes': 1}, {}, None),
])
def test_distributed_settings(args, env, expected):
  assert sharding.distributed_args(**args, env=env) == expected


@pytest.mark.parametrize('args, env, message', [
    ({'coordinator_address': 'h:1', 'num_processes': 2, 'process_id': 2}, {}, 'process_id 2 is out of range'),
    ({'num_processes': 2, 'process_id': 0}, {}, 'missing coordinator_address'),
    ({'coordinator_address': 'h:1'}, {}, 'missing num_processes, process_id'),
    ({'coordinator_address': 'h', 'num_processes': 2, 'process_id': 0}, {}, 'is not host:port'),
    ({}, {'JAX_NUM_PROCESSES': 'two'}, "JAX_NUM_PROCESSES='two' is not an integer"),
    ({'num_processes': 0}, {}, 'at least 1'),
])
def test_inconsistent_distributed_settings_are_refused(args, env, message):
  with pytest.raises(ValueError, match=message):
    sharding.distributed_args(**args, env=env)
