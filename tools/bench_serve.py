"""Latency and throughput of a served policy: in process (`policy_api.infer`) and over the websocket server
(`serving.client`) on this machine, at batch 1 (p50 and p99 over --calls requests) and at larger batches.

  python tools/bench_serve.py [--workdir=POLICY_RUN] [--batches=1,8,64 --calls=200 --json=out.json]
  python tools/bench_serve.py --load_clients=8 --load_seconds=60      # and the load test

The load test starts the server as its own process (tools/serve_policy.py) and runs --load_clients clients,
each in its own thread sending batch-1 requests back to back for --load_seconds: latency p50 and p99 over
every request, the error count, and the server's resident memory each second (flat: no leak).

Without --workdir it first trains a `cpu`-size MIP policy for one step on synthetic lift-shaped data (two
64 x 64 views, the main job's network sizes): the figures are those of the network, whatever its weights.
"""
from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time

from absl import app, flags, logging
import jax
import numpy as np

from glam_jax import cli, configs
from glam_jax.data.synthetic import write_synthetic_recipe
from glam_jax.serving import client as client_lib
from glam_jax.serving import load, policy_api, server
from glam_jax.stage2 import experiment as stage2
from glam_jax.train import loop

_WORKDIR = flags.DEFINE_string('workdir', '', 'Policy run directory; empty: a cpu-size MIP policy on synthetic data.')
_BATCHES = flags.DEFINE_list('batches', ['1', '8', '64'], 'Observations per request.')
_CALLS = flags.DEFINE_integer('calls', 200, 'Requests per measurement (after 10 warm-up requests).')
_LOAD_CLIENTS = flags.DEFINE_integer('load_clients', 0, 'Clients of the load test (0: no load test).')
_LOAD_SECONDS = flags.DEFINE_float('load_seconds', 60.0, 'Duration of the load test.')
_JSON = flags.DEFINE_string('json', '', 'Optional path for the figures as JSON.')


def synthetic_policy(root: str) -> str:
  write_synthetic_recipe(os.path.join(root, 'data', 'lift'))
  c = configs.load('policy', 'lift,mip,cpu')
  c.data_dir = os.path.join(root, 'data')
  c.update(num_steps=1, log_every=1, checkpoint_every=1, eval_every=1)
  learner, train, held_out = stage2.prepare(c, os.path.join(root, 'run'), progress=False)
  loop.train(c, learner, train, os.path.join(root, 'run'), held_out, progress=False)
  return os.path.join(root, 'run')


def timed(fn, obs, calls: int) -> np.ndarray:
  for _ in range(10):
    fn(obs)
  out = []
  for _ in range(calls):
    t0 = time.perf_counter()
    fn(obs)
    out.append(time.perf_counter() - t0)
  return np.array(out) * 1e3


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.WARNING)
  batches = [int(b) for b in _BATCHES.value]
  if _CALLS.value < 1 or min(batches) < 1:
    raise configs.ConfigError('--calls and every batch must be positive')
  with tempfile.TemporaryDirectory() as tmp:
    workdir = _WORKDIR.value or synthetic_policy(tmp)
    policy = policy_api.load_policy(workdir)
    srv = server.PolicyServer(policy, port=0, log=lambda m: None)
    ready = threading.Event()
    thread = threading.Thread(target=lambda: asyncio.run(srv.run(ready)), daemon=True)
    thread.start()
    ready.wait(60)
    rng = np.random.default_rng(0)
    print(f'{policy.metadata["method"]} policy, {jax.device_count()} x {jax.devices()[0].device_kind}, '
          f'{os.cpu_count()} CPUs; observation {dict((k, v["shape"]) for k, v in policy.metadata["observation"].items())}')
    print(f'{"path":10s} {"batch":>5s} {"p50 ms":>8s} {"p99 ms":>8s} {"obs/s":>8s}')
    rows = []
    with client_lib.PolicyClient(f'ws://127.0.0.1:{srv.bound[1]}') as client:
      for batch in batches:
        obs = load.observation(policy.metadata, batch, rng)
        for path, fn in (('in process', policy.infer), ('server', client.infer)):
          ms = timed(fn, obs, _CALLS.value)
          row = dict(path=path, batch=batch, p50_ms=float(np.percentile(ms, 50)), p99_ms=float(np.percentile(ms, 99)),
                     obs_per_s=float(batch * 1e3 / ms.mean()))
          rows.append(row)
          print(f'{path:10s} {batch:5d} {row["p50_ms"]:8.2f} {row["p99_ms"]:8.2f} {row["obs_per_s"]:8.0f}', flush=True)
    srv.stop()
    thread.join(10)
    result = None
    if _LOAD_CLIENTS.value:
      result = load.run(workdir, _LOAD_CLIENTS.value, _LOAD_SECONDS.value)
      rss = result['server_rss_mb']
      print(f'load test: {result["clients"]} clients x {result["seconds"]:.0f} s: {result["requests"]} requests '
            f'({result["requests_per_s"]:.0f}/s), p50 {result["p50_ms"]:.2f} ms, p99 {result["p99_ms"]:.2f} ms, '
            f'{result["errors"]} errors; server memory {rss[0]:.0f} MB at 1 s, {rss[len(rss) // 2]:.0f} MB halfway, '
            f'{rss[-1]:.0f} MB at the end (max {max(rss):.0f})')
  if _JSON.value:
    with open(_JSON.value, 'w') as f:
      json.dump({'rows': rows, 'load_test': result, 'device': jax.devices()[0].device_kind, 'cpus': os.cpu_count()},
                f, indent=1)


if __name__ == '__main__':
  cli.run(main)
