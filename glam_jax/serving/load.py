"""A load test of the policy server: the server as its own process (tools/serve_policy.py), clients in threads
sending batch-1 requests back to back; latencies, errors, and the server's resident memory each second."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import psutil

from glam_jax.serving import client as client_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def observation(metadata: dict, batch: int, rng) -> dict:
  """Random observations of the policy's keys, shapes and dtypes (one, or `batch` > 1 with a leading axis)."""
  lead = () if batch == 1 else (batch,)
  return {k: (rng.integers(0, 255, lead + tuple(s['shape']), dtype=np.uint8) if s['dtype'] == 'uint8'
              else rng.normal(0, 0.1, lead + tuple(s['shape'])).astype(np.float32))
          for k, s in metadata['observation'].items()}


def run(workdir: str, clients: int, seconds: float) -> dict:
  """`clients` threads querying a server process for `seconds`: latencies, errors, server memory per second."""
  p = subprocess.Popen([sys.executable, os.path.join(ROOT, 'tools', 'serve_policy.py'), f'--workdir={workdir}',
                        '--port=0'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  try:
    line = ''
    while not line.startswith('serving '):
      line = p.stdout.readline()
      if not line and p.poll() is not None:
        raise RuntimeError('the server did not start')
    uri = f'ws://127.0.0.1:{int(line.rsplit(":", 1)[1])}'
    latencies, errors, memory = [], [], []
    stop = time.time() + seconds

    def work(i):
      rng = np.random.default_rng(i)
      try:
        with client_lib.PolicyClient(uri) as c:
          obs = observation(c.metadata, 1, rng)
          while time.time() < stop:
            t0 = time.perf_counter()
            c.infer(obs)
            latencies.append(time.perf_counter() - t0)
      except Exception as e:    # noqa: BLE001 - counted
        errors.append(repr(e))
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    for t in threads:
      t.start()
    proc = psutil.Process(p.pid)
    while time.time() < stop:
      memory.append(proc.memory_info().rss / 2**20)
      time.sleep(1.0)
    for t in threads:
      t.join(60)
  finally:
    p.terminate()
    p.communicate(timeout=30)
  ms = np.array(latencies) * 1e3
  return {'clients': clients, 'seconds': seconds, 'requests': len(ms), 'errors': len(errors), 'first_errors': errors[:3],
          'p50_ms': float(np.percentile(ms, 50)), 'p99_ms': float(np.percentile(ms, 99)),
          'requests_per_s': len(ms) / seconds, 'server_rss_mb': [round(m, 1) for m in memory]}
