"""Freed memory stays in the process after `keep_freed_memory` (what spares XLA's CPU steps the page
faults), also when a worker thread frees it (XLA's steps run on its thread pool), and goes back to the kernel
without it."""
import subprocess
import sys

import pytest

from glam_jax import allocator

PROBE = r'''
import ctypes, sys, threading
from glam_jax import allocator
if sys.argv[1] == 'tuned':
  assert allocator.keep_freed_memory()
rss = lambda: int(open('/proc/self/statm').read().split()[1]) * 4096
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
def cycle():
  p = libc.malloc(256 << 20)
  ctypes.memset(p, 1, 256 << 20)          # touch every page
  libc.free(ctypes.c_void_p(p))
before = rss()
if sys.argv[2] == 'thread':
  t = threading.Thread(target=cycle)
  t.start()
  t.join()
else:
  cycle()
print((rss() - before) >> 20)
'''


@pytest.mark.skipif(not sys.platform.startswith('linux') or not allocator.keep_freed_memory(), reason='glibc only')
@pytest.mark.parametrize('where', ['main', 'thread'])
def test_freed_memory_stays_only_when_tuned(where):
  kept = {mode: int(subprocess.run([sys.executable, '-c', PROBE, mode, where], capture_output=True, text=True,
                                   check=True).stdout) for mode in ('tuned', 'default')}
  assert kept['tuned'] >= 200 and kept['default'] < 50, kept
