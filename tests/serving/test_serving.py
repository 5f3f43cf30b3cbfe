"""A trained policy served: the inference API (one observation or a batch, the chunk in the env's units,
bad observations named), the websocket server and its client (metadata on connect, health without
inference, every kind of bad input answered with an error on a connection that stays usable, several
clients, a client leaving mid-request) and the command line's clean SIGTERM shutdown."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import msgpack
import numpy as np
import pytest

from glam_jax import configs
from glam_jax.serving import client as client_lib
from glam_jax.serving import policy_api, server, wire
from glam_jax.stage2 import experiment as stage2
from glam_jax.train import loop
from tests.stage2.test_policy import write_moving_dot

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def policy_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp('serving')
  write_moving_dot(str(root / 'data' / 'lift' / 'kinova'), [6, 9, 5, 12, 7, 8], True, 0)
  c = configs.load('policy', 'lift,mip,tiny')
  c.data_dir = str(root / 'data')
  c.image_keys = ('overhead/rgb',)
  c.update(batch_size=8, num_steps=2, log_every=1, checkpoint_every=2, eval_every=2)
  learner, train, held_out = stage2.prepare(c, str(root / 'run'), progress=False)
  loop.train(c, learner, train, str(root / 'run'), held_out, progress=False)
  return str(root / 'run')


@pytest.fixture(scope='module')
def policy(policy_dir):
  return policy_api.load_policy(policy_dir)


def _observation(policy, seed=0, batch=None):
  rng = np.random.default_rng(seed)
  lead = () if batch is None else (batch,)
  return {k: (rng.integers(0, 255, lead + tuple(s['shape']), dtype=np.uint8) if s['dtype'] == 'uint8'
              else rng.normal(0, 0.1, lead + tuple(s['shape'])).astype(np.float32))
          for k, s in policy.metadata['observation'].items()}


def test_inference_api(policy):
  m = policy.metadata
  assert m['protocol'] == policy_api.PROTOCOL and m['action_space'] == 'joint_target' and m['ctrl_dt'] == 0.05
  assert set(m['observation']) == {'overhead/rgb', 'ee_pose', 'gripper', 'joint_pos'}
  assert m['observation']['overhead/rgb'] == {'shape': [16, 16, 3], 'dtype': 'uint8'}
  assert m['images']['size'] == [16, 16] and m['horizon'] == 4 and m['execute_steps'] == 2
  one = policy.infer(_observation(policy))
  assert one.shape == (4, 8) and one.dtype == np.float32 and np.isfinite(one).all()
  batch = _observation(policy, batch=3)
  chunks = policy.infer(batch)
  assert chunks.shape == (3, 4, 8)
  np.testing.assert_allclose(chunks[1], policy.infer({k: v[1] for k, v in batch.items()}), rtol=1e-5, atol=1e-6)
  # joint targets come back in radians: the normaliser's scale, not standardised values
  spec = policy.spec['normalizer']['joint_target']
  assert abs(float(np.mean(one[:, :7])) - float(np.mean(spec['mean']))) < 10 * float(np.max(spec['std']))


@pytest.mark.parametrize('change, message', [
    (lambda o: o.pop('ee_pose'), "missing key 'ee_pose'"),
    (lambda o: o.update(ee_pose=np.zeros(5, np.float32)), r'ee_pose: shape \(5,\); expected \(9,\)'),
    (lambda o: o.update({'overhead/rgb': o['overhead/rgb'].astype(np.float32)}), 'overhead/rgb: dtype float32; images are uint8'),
    (lambda o: o.update(gripper=np.array([np.nan], np.float32)), 'gripper: holds NaN or infinite values'),
    (lambda o: o.update(joint_pos=np.zeros(7, np.int64)), 'joint_pos: dtype int64; expected a float array'),
])
def test_bad_observations_are_named(policy, change, message):
  obs = _observation(policy)
  change(obs)
  with pytest.raises(policy_api.ObservationError, match=message):
    policy.infer(obs)


@pytest.fixture(scope='module')
def running(policy):
  srv = server.PolicyServer(policy, port=0, max_message_bytes=1 << 16, log=lambda m: None)
  ready = threading.Event()
  thread = threading.Thread(target=lambda: __import__('asyncio').run(srv.run(ready)), daemon=True)
  thread.start()
  assert ready.wait(30)
  yield srv, f'ws://127.0.0.1:{srv.bound[1]}'
  srv.stop()
  thread.join(10)
  assert not thread.is_alive()


def test_server_metadata_health_and_inference(policy, running):
  srv, uri = running
  with client_lib.PolicyClient(uri) as c:
    assert c.metadata == wire.unpack(wire.pack(policy.metadata))
    before = c.health()['requests']
    assert c.health() == {'status': 'ok', 'protocol': policy_api.PROTOCOL, 'requests': before}   # no inference
    obs = _observation(policy, 1)
    np.testing.assert_array_equal(c.infer(obs), policy.infer(obs))
    assert c.health()['requests'] == before + 1
  assert srv.bound[0] == '127.0.0.1'


def test_bad_requests_get_errors_and_the_connection_stays_usable(policy, running):
  _, uri = running
  obs = _observation(policy, 2)
  obj = {**obs, 'ee_pose': {wire.ARRAY: True, 'data': b'\0' * 8, 'dtype': '|O', 'shape': [1]}}
  bad = {
      'not msgpack': (b'\xc1\xc1 definitely not msgpack', 'not a msgpack message'),
      'object dtype': (msgpack.packb(obj, default=wire._encode, use_bin_type=True), "dtype '|O' refused"),
      'missing key': (wire.pack({k: v for k, v in obs.items() if k != 'gripper'}), "missing key 'gripper'"),
      'wrong shape': (wire.pack({**obs, 'joint_pos': np.zeros(3, np.float32)}), 'joint_pos: shape'),
      'wrong dtype': (wire.pack({**obs, 'overhead/rgb': obs['overhead/rgb'].astype(np.int16)}), 'images are uint8'),
      'NaN': (wire.pack({**obs, 'ee_pose': np.full(9, np.nan, np.float32)}), 'NaN'),
      'oversized': (wire.pack({'pad': np.zeros(70_000, np.uint8)}), 'over the server\'s limit of 65536'),
      'not a map': (wire.pack([1, 2, 3]), 'a request is a map'),
  }
  with client_lib.PolicyClient(uri) as c:
    for name, (message, expected) in bad.items():
      reply = c.send_raw(message)
      assert expected in reply.get('error', ''), (name, reply)
      np.testing.assert_array_equal(c.infer(obs), policy.infer(obs))          # still serving, same connection
    with pytest.raises(client_lib.ServerError, match="missing key 'joint_pos'"):
      c.infer({k: v for k, v in obs.items() if k != 'joint_pos'})
    c.ws.send('a text frame')
    assert 'expected a binary msgpack message' in wire.unpack(c.ws.recv())['error']


def test_several_clients_and_one_leaving_mid_request(policy, running):
  _, uri = running
  leaver = client_lib.PolicyClient(uri)
  leaver.ws.send(wire.pack(_observation(policy, 3)))
  leaver.close()                                             # gone before its reply
  results, errors = {}, []

  def work(i):
    try:
      with client_lib.PolicyClient(uri) as c:
        results[i] = [c.infer(_observation(policy, 10 + i)) for _ in range(5)]
    except Exception as e:     # noqa: BLE001 - reported below
      errors.append(e)
  threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(60)
  assert not errors and len(results) == 4
  for i, chunks in results.items():
    for chunk in chunks:
      np.testing.assert_array_equal(chunk, policy.infer(_observation(policy, 10 + i)))


def _serve(policy_dir):
  """tools/serve_policy.py on a free port: (process, port) once it listens."""
  p = subprocess.Popen([sys.executable, 'tools/serve_policy.py', f'--workdir={policy_dir}', '--port=0'], cwd=ROOT,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  line = ''
  deadline = time.time() + 120
  while not line.startswith('serving ') and time.time() < deadline:
    line = p.stdout.readline()
    assert line or p.poll() is None, 'the server exited'
  return p, int(line.rsplit(':', 1)[1])


def test_command_line_serves_and_stops_on_sigterm(policy_dir):
  p, port = _serve(policy_dir)
  with client_lib.PolicyClient(f'ws://127.0.0.1:{port}') as c:
    assert c.health()['status'] == 'ok' and c.metadata['method'] == 'mip'
  p.send_signal(signal.SIGTERM)
  out = p.communicate(timeout=30)[0]
  assert p.returncode == 0 and 'server stopped' in out, out[-2000:]
  missing = subprocess.run([sys.executable, 'tools/serve_policy.py', '--workdir=/nonexistent'], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
  assert missing.returncode == 2 and 'is not a policy run directory' in missing.stderr and 'Traceback' not in missing.stderr


def test_offline_evaluation_is_zero_for_the_recorded_actions_and_runs_from_the_command_line(policy, policy_dir):
  from glam_jax.data.reader import Dataset
  from glam_jax.eval import offline
  data = os.path.join(os.path.dirname(policy_dir), 'data', 'lift', 'kinova')
  ds = Dataset(data)
  H = policy.metadata['horizon']

  class Oracle:                                   # returns what each episode recorded over the next H steps
    metadata, spec, calls = policy.metadata, policy.spec, []

    def infer(self, obs):
      e = (3, 4, 5)[len(self.calls)]
      self.calls.append(e)
      ep = ds.episodes[e]                         # joint targets in rad, then the recorded gripper command
      rec = np.concatenate([ep['joint_target'], ep['action'][:, 7:]], 1)
      padded = np.concatenate([rec, np.repeat(rec[-1:], H, 0)])
      assert len(obs['ee_pose']) == len(rec)
      return np.stack([padded[t:t + H] for t in range(len(rec))])
  exact = offline.evaluate(Oracle(), data, [3, 4, 5])
  assert exact['mae'] == 0 and exact['mae_per_step'] == [0.0] * H and exact['predictions'] == 12 + 7 + 8
  real = offline.evaluate(policy, data, [3, 4, 5], stride=2)
  assert len(real['mae_per_step']) == H and len(real['mae_per_dim']) == 8 and real['mae'] > 0
  assert real['rmse'] >= real['mae'] and real['predictions'] == 6 + 4 + 4
  run = subprocess.run([sys.executable, 'tools/evaluate_offline.py', f'--workdir={policy_dir}', f'--data={data}'],
                       cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
  assert run.returncode == 0, run.stderr[-3000:]
  with open(os.path.join(policy_dir, 'offline', 'results.json')) as f:
    assert json.load(f)['episodes'] == [5]        # the run's held-out episode (eval_episodes=1 of 6)
  assert os.path.getsize(os.path.join(policy_dir, 'offline', 'trajectories.png')) > 1000
  # a dataset without what the policy reads: named, before any prediction
  write_moving_dot(os.path.join(os.path.dirname(policy_dir), 'umi'), [5, 6], False, 2)
  with pytest.raises(Exception, match="no 'joint_pos', which the policy reads"):
    offline.evaluate(policy, os.path.join(os.path.dirname(policy_dir), 'umi'))


def test_evaluation_through_the_server_gives_the_host_loops_commands_bitwise(policy_dir, tmp_path):
  p, port = _serve(policy_dir)
  try:
    runs = {}
    for name, args in (('remote', [f'--remote=ws://127.0.0.1:{port}']), ('host', [f'--workdir={policy_dir}', '--host_loop'])):
      r = subprocess.run([sys.executable, 'tools/evaluate.py', *args, '--trials=3', '--backend=native', '--seed=7',
                          f'--out_dir={tmp_path / name}'], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, 'JAX_PLATFORMS': 'cpu'})
      assert r.returncode == 0, r.stderr[-3000:]
      runs[name] = np.load(tmp_path / name / 'commands.npy')
    assert runs['remote'].shape[0] == 3 and runs['remote'].shape[2] == 8
    np.testing.assert_array_equal(runs['remote'], runs['host'])
    assert len(np.unique(runs['host'][:, :, 0])) > 3          # the policy's commands, not a constant
  finally:
    p.send_signal(signal.SIGTERM)
    p.communicate(timeout=30)


def test_short_load_test_has_no_errors(policy_dir):
  from glam_jax.serving import load as load_lib
  load = load_lib.run(policy_dir, clients=3, seconds=4)
  assert load['errors'] == 0 and load['requests'] > 30, load
  assert load['p99_ms'] >= load['p50_ms'] > 0 and len(load['server_rss_mb']) >= 3


def test_host_loop_and_jitted_evaluations_run_the_same_episodes(policy, policy_dir):
  """Against the jitted evaluation (policy inside the program) on the same placements: the same success per
  episode, and the first plan's env actions equal up to float rounding (XLA fuses the programs differently)."""
  from glam_jax.data import action_space
  from glam_jax.eval import closed_loop, controllers, host_loop
  from glam_jax.sim import make_env
  env = make_env('lift', 'kinova', render=False)
  hosted = host_loop.evaluate(env, policy.infer, policy.metadata, trials=3, seed=11, num_steps=12, backend='native')
  learner, params, spec, _ = stage2.load(policy_dir)
  controller = controllers.ChunkPolicyController(learner, env, stage2.normalizer(spec), spec['execute_steps'],
                                                 action_space.of(spec))
  jitted = closed_loop.evaluate(env, controller, params, 3, seed=11, chunk=4, num_steps=12, progress=False,
                                backend='native')
  np.testing.assert_array_equal(hosted['success'], jitted['success'])
  period = spec['execute_steps']
  np.testing.assert_allclose(hosted['action'][:, :period], jitted['action'][:, :period], atol=1e-4)
  assert hosted['action'].shape == jitted['action'].shape == (3, 12, 8)
