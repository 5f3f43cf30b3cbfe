"""Child processes that end when their parent dies, however it dies.

A parent killed with SIGKILL (or by the OOM killer) runs no clean-up, so its children are re-parented and
would run on. Each child the project starts (today: Grain's prefetch workers) calls `exit_with_parent`
first thing: a daemon thread polls the parent's pid and ends the process once it has changed. Polling is
used rather than Linux's PR_SET_PDEATHSIG because that signal fires when the *thread* that started the
child exits, and Grain starts its workers from helper threads; polling is also portable to macOS.
"""
from __future__ import annotations

import os
import threading
import time

POLL_S = 0.5
EXIT_CODE = 70


def _watch(parent_pid: int, interval_s: float) -> None:
  while os.getppid() == parent_pid:
    time.sleep(interval_s)
  os._exit(EXIT_CODE)     # the parent is gone: nothing left to deliver to, skip the clean-up handlers


def exit_with_parent(parent_pid: int, interval_s: float = POLL_S) -> None:
  """Ends this process within `interval_s` of `parent_pid` no longer being its parent (at once if it is
  already gone)."""
  if os.getppid() != parent_pid:
    os._exit(EXIT_CODE)
  threading.Thread(target=_watch, args=(parent_pid, interval_s), name='parent_watch', daemon=True).start()


def grain_worker_init(parent_pid: int):
  """A Grain `worker_init_fn` (called with the worker's index and count) that ties the worker to
  `parent_pid`, the process that built the iterator."""
  return lambda index, count: exit_with_parent(parent_pid)
