"""Locks between processes on files (`flock`), for a run's workdir and for a dataset being generated.

The kernel releases a lock when its holder dies, so a lock file left by a killed run is free: it is stale,
and the next run takes it over and says whose it was. The file holds the holder's host, pid and start time,
for the message of whoever finds it held. (flock is per host on most network file systems: runs on
several hosts sharing one directory should use separate workdirs.)
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time

from glam_jax.configs import ConfigError


class Busy(ConfigError):
  """The lock is held by another live process (one line for the command line, as a config error is)."""


def holder(path: str) -> dict:
  """Who holds (or last held) the lock at `path`: {'host', 'pid', 'since'} as written; {} if unknown."""
  try:
    with open(path) as f:
      return json.loads(f.read() or '{}')
  except (OSError, ValueError):
    return {}


def describe(info: dict) -> str:
  if not info:
    return 'another process'
  since = time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info.get('since', 0)))
  return f'pid {info.get("pid")} on {info.get("host")} (since {since})'


def _stale_note(info: dict) -> str:
  return f' (a stale lock of {describe(info)}, no longer running, taken over)' if info else ''


@contextlib.contextmanager
def _locked(path: str, wait: bool, what: str, log=None):
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  acquired = False
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno not in (errno.EAGAIN, errno.EACCES):
        raise
      info = holder(path)
      if not wait:
        raise Busy(f'{what} is in use by {describe(info)}; wait for that run to finish or choose another '
                   f'(lock: {path})') from None
      if log:
        log(f'{what}: waiting for {describe(info)}, which holds it')
      fcntl.flock(fd, fcntl.LOCK_EX)
    else:
      previous = holder(path)
      if log and previous and previous.get('pid') != os.getpid():
        log(f'{what}: lock free{_stale_note(previous)}')
    acquired = True
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({'host': socket.gethostname(), 'pid': os.getpid(), 'since': time.time()}).encode(), 0)
    yield
  finally:
    if acquired:
      try:
        os.ftruncate(fd, 0)                # released cleanly: nothing stale left to report
      except OSError:
        pass
      fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def exclusive(path: str, what: str, log=None):
  """Holds the lock at `path` for the `with` block, or raises `Busy` naming its holder at once."""
  return _locked(path, wait=False, what=what, log=log)


def waiting(path: str, what: str, log=None):
  """Holds the lock at `path` for the `with` block, waiting (and saying so) while another process has it."""
  return _locked(path, wait=True, what=what, log=log)


def is_held(path: str) -> bool:
  """True while a live process holds the lock at `path`."""
  if not os.path.exists(path):
    return False
  fd = os.open(path, os.O_RDONLY)
  try:
    fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    return False
  except OSError:
    return True
  finally:
    os.close(fd)
