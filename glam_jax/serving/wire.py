"""Messages between the policy server and its clients: msgpack maps whose numpy arrays travel as
{'__ndarray__': True, 'data': bytes, 'dtype': str, 'shape': [...]} (the convention of openpi's server).

Nothing is unpickled, and only plain numeric dtypes cross (booleans, integers, floats): an object or
structured dtype is refused, as are bytes that are not msgpack. `WireError` names what was wrong.
"""
from __future__ import annotations

import msgpack
import numpy as np

ARRAY = '__ndarray__'
DTYPE_KINDS = 'biuf'        # bool, signed and unsigned integers, floats


class WireError(ValueError):
  """A message that cannot be decoded into plain numbers, strings and arrays."""


def _encode(obj):
  if isinstance(obj, np.ndarray):
    if obj.dtype.kind not in DTYPE_KINDS:
      raise WireError(f'array of dtype {obj.dtype} cannot be sent; only bool, integer and float arrays')
    return {ARRAY: True, 'data': np.ascontiguousarray(obj).tobytes(), 'dtype': obj.dtype.str, 'shape': list(obj.shape)}
  if isinstance(obj, np.generic):
    return obj.item()
  raise TypeError(f'cannot encode {type(obj).__name__}')


def _decode(obj):
  if obj.get(ARRAY) is not True:
    return obj
  try:
    dtype = np.dtype(obj['dtype'])
    shape = tuple(int(n) for n in obj['shape'])
    data = obj['data']
  except (KeyError, TypeError, ValueError) as e:
    raise WireError(f'malformed array ({e})') from None
  if dtype.kind not in DTYPE_KINDS or dtype.fields is not None:
    raise WireError(f'array dtype {obj["dtype"]!r} refused: only bool, integer and float arrays')
  if not isinstance(data, bytes) or len(data) != int(np.prod(shape)) * dtype.itemsize:
    raise WireError(f'array of shape {shape} and dtype {dtype} does not match its {len(data)} bytes')
  return np.frombuffer(data, dtype).reshape(shape)


def pack(obj) -> bytes:
  return msgpack.packb(obj, default=_encode, use_bin_type=True)


def unpack(message: bytes):
  """Decodes one message; raises WireError for anything but msgpack of plain values and arrays."""
  if not isinstance(message, (bytes, bytearray)):
    raise WireError('expected a binary msgpack message, got text')
  try:
    return msgpack.unpackb(message, object_hook=_decode, raw=False, strict_map_key=True)
  except WireError:
    raise
  except (msgpack.exceptions.ExtraData, msgpack.exceptions.FormatError, msgpack.exceptions.StackError,
          ValueError, TypeError) as e:
    raise WireError(f'not a msgpack message ({type(e).__name__}: {e})') from None
