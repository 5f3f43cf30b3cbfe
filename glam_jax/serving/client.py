"""The policy server's client: `PolicyClient('ws://127.0.0.1:8000')` reads the metadata the server sends on
connect; `infer(observation)` returns the action chunk; `health()` asks without running the policy.
`prepare_image` makes a camera frame what the policy was trained on (the importer's centre crop and resize).
"""
from __future__ import annotations

import numpy as np
from websockets.sync.client import connect

from glam_jax.data.importers.common import square_mask, square_rgb
from glam_jax.serving import wire


class ServerError(RuntimeError):
  """The server's reply to a bad request: its message names the problem."""


def prepare_image(frame: np.ndarray, size: int, mask: bool = False) -> np.ndarray:
  """A camera frame (H, W[, C]) -> (size, size, 3) uint8 RGB, or (`mask`) a (size, size) {0, 1} mask: the
  centre square crop and bilinear resize the importers apply (glam_jax/data/importers/common.py)."""
  return square_mask(frame, size) if mask else square_rgb(frame, size)


class PolicyClient:

  def __init__(self, uri: str = 'ws://127.0.0.1:8000', max_message_bytes: int = 64 << 20, open_timeout: float = 30):
    self.ws = connect(uri, max_size=max_message_bytes, open_timeout=open_timeout, compression=None)
    self.metadata = wire.unpack(self.ws.recv())

  def _ask(self, request) -> dict:
    self.ws.send(request if isinstance(request, bytes) else wire.pack(request))
    reply = wire.unpack(self.ws.recv())
    if 'error' in reply:
      raise ServerError(reply['error'])
    return reply

  def infer(self, observation: dict) -> np.ndarray:
    return self._ask(observation)['actions']

  def health(self) -> dict:
    return self._ask({'type': 'health'})

  def send_raw(self, message: bytes) -> dict:
    """Sends bytes as they are and returns the decoded reply, error or not (for testing a server)."""
    self.ws.send(message)
    return wire.unpack(self.ws.recv())

  def close(self) -> None:
    self.ws.close()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()
