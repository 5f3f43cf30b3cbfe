"""Keeps freed memory in the process: XLA on the CPU allocates and frees a training step's large buffers
every step, and glibc's malloc hands blocks above its mmap threshold back to the kernel at once, so every
step page-faults them in again. Raising the mmap and trim thresholds keeps them in the heap: on the 2-core
CPU a 600-step cpu-size latent policy run spent 16-17 s of its 46 s in the kernel and took 38 s with this
(peak memory about 12 % higher). XLA's steps run on its thread pool, and glibc serves a thread from an
arena of its own whose heaps stop at 64 MB: a larger block there is mapped and unmapped whatever the
thresholds say. One arena for every thread keeps those too: LAWM's cpu pre-training step (temporary buffers
of hundreds of MB) went from 2.35-2.68 to 3.16-3.56 steps/s and its page faults from 10.5 M to 0.4 M in
`tools/bench_train.py --config=experiments/configs/policy.py:lift,lawm,cpu,pretrain` (same machine, A/B);
MIP's and the world model's steps, whose buffers fit an arena, did not change beyond the noise. Called once
by every tool (glam_jax/cli.py) before XLA starts its threads; a no-op without glibc."""
from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
LIMIT = 2 ** 31 - 1             # mallopt takes an int: the largest it accepts


def keep_freed_memory() -> bool:
  """True when glibc took every setting."""
  name = ctypes.util.find_library('c')
  try:
    libc = ctypes.CDLL(name)
    mallopt = libc.mallopt
  except (OSError, AttributeError, TypeError):       # not glibc (macOS, musl without mallopt)
    return False
  settings = ((M_MMAP_THRESHOLD, LIMIT), (M_TRIM_THRESHOLD, LIMIT), (M_ARENA_MAX, 1))
  return all([bool(mallopt(option, value)) for option, value in settings])
