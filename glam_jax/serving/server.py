"""The policy server: one loaded policy over websockets, msgpack-encoded numpy arrays (`wire`), as openpi's
policy server does it.

On connect the server sends the policy's metadata. Then each binary message is one request:
  {'type': 'health'}                     -> {'status': 'ok', 'protocol': ..., 'requests': N}, the policy not run
  an observation (a map of arrays)       -> {'actions': (H, action_dim) or (B, H, action_dim) float32,
                                             'server_timing': {'infer_ms': ...}}
  anything wrong                         -> {'error': '...'}: the problem named; the connection stays usable
Requests are served in turn, one at a time over all clients (one model, one compiled step; a batch is the
client's to send). It binds to 127.0.0.1 unless told otherwise. A message above `max_message_bytes` gets an
error reply; one above twice that closes the connection (the websocket limit). SIGTERM or SIGINT stops it
cleanly: open connections are closed and `serve` returns.
"""
from __future__ import annotations

import asyncio
import signal
import threading
import time

from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed

from glam_jax.serving import wire
from glam_jax.serving.policy_api import ObservationError

MAX_MESSAGE_BYTES = 16 << 20      # 16 MiB: a batch of 64 observations of two 224 x 224 views fits


class PolicyServer:
  """Serves `policy` (a `policy_api.LoadedPolicy` or anything with `metadata` and `infer`)."""

  def __init__(self, policy, host: str = '127.0.0.1', port: int = 8000, max_message_bytes: int = MAX_MESSAGE_BYTES,
               log=print):
    self.policy, self.host, self.port, self.limit, self.log = policy, host, port, max_message_bytes, log
    self.requests = 0
    self._lock = threading.Lock()          # one inference at a time, whichever client asks
    self._stop = self._loop = None
    self.bound = None                      # (host, port) once listening

  def handle(self, message) -> dict:
    """One request -> its reply (never raises for bad input)."""
    if isinstance(message, (bytes, bytearray)) and len(message) > self.limit:
      return {'error': f'message of {len(message)} bytes is over the server\'s limit of {self.limit}'}
    try:
      request = wire.unpack(message)
    except wire.WireError as e:
      return {'error': str(e)}
    if not isinstance(request, dict):
      return {'error': f'a request is a map (an observation, or {{"type": "health"}}), got {type(request).__name__}'}
    if request.get('type') == 'health':
      return {'status': 'ok', 'protocol': self.policy.metadata['protocol'], 'requests': self.requests}
    t0 = time.perf_counter()
    try:
      with self._lock:
        actions = self.policy.infer(request)
        self.requests += 1
    except ObservationError as e:
      return {'error': str(e)}
    return {'actions': actions, 'server_timing': {'infer_ms': 1e3 * (time.perf_counter() - t0)}}

  async def _connection(self, websocket):
    try:
      await websocket.send(wire.pack(self.policy.metadata))
      async for message in websocket:
        reply = await asyncio.to_thread(self.handle, message)
        await websocket.send(wire.pack(reply))
    except ConnectionClosed:
      pass                                 # a client that left mid-request disturbs no one else

  async def run(self, ready=None) -> None:
    """Serves until `stop()` or SIGTERM/SIGINT; `ready` (a threading.Event) is set once listening."""
    self._loop = asyncio.get_running_loop()
    self._stop = asyncio.Event()
    if threading.current_thread() is threading.main_thread():
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._loop.add_signal_handler(sig, self._stop.set)
    async with ws_serve(self._connection, self.host, self.port, max_size=2 * self.limit) as server:
      self.bound = server.sockets[0].getsockname()[:2]
      self.log(f'serving {self.policy.metadata["method"]} on ws://{self.bound[0]}:{self.bound[1]}')
      if ready is not None:
        ready.set()
      await self._stop.wait()
    self.log('server stopped')

  def stop(self) -> None:
    if self._stop is not None:
      self._loop.call_soon_threadsafe(self._stop.set)       # from any thread


def serve(policy, host: str = '127.0.0.1', port: int = 8000, max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
  """Runs the server in this thread until SIGTERM or SIGINT."""
  asyncio.run(PolicyServer(policy, host, port, max_message_bytes).run())
