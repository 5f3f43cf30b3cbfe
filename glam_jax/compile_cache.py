"""JAX's persistent compilation cache, on for every tool and test: an MJX step takes 15-30 s to compile on
CPU, and the cache turns repeat runs into loads. `counts()` says how well it served this process: lookups
that hit or missed (a program compiled in under a second is never stored, so it misses every time), the
seconds spent compiling and the seconds the hits saved (JAX's own monitoring events)."""
from __future__ import annotations

import os
import threading

import jax
from jax import monitoring

DEFAULT_DIR = os.path.join(os.path.expanduser('~'), '.cache', 'glam_jax', 'jax')

_EVENTS = {'/jax/compilation_cache/cache_hits': 'hits', '/jax/compilation_cache/cache_misses': 'misses'}
_DURATIONS = {'/jax/core/compile/backend_compile_duration': 'compile_s',
              '/jax/compilation_cache/compile_time_saved_sec': 'saved_s'}
_counts = {'hits': 0, 'misses': 0, 'compile_s': 0.0, 'saved_s': 0.0}
_lock = threading.Lock()
_listening = False


def _on_event(event: str, **_) -> None:
  if event in _EVENTS:
    with _lock:
      _counts[_EVENTS[event]] += 1


def _on_duration(event: str, seconds: float, **_) -> None:
  if event in _DURATIONS:
    with _lock:
      _counts[_DURATIONS[event]] += float(seconds)


def enable(path: str | None = None) -> str:
  global _listening
  path = path or os.environ.get('GLAM_JAX_CACHE') or DEFAULT_DIR    # set but empty: the default
  os.makedirs(path, exist_ok=True)
  jax.config.update('jax_compilation_cache_dir', path)
  jax.config.update('jax_persistent_cache_min_compile_time_secs', 1.0)
  jax.config.update('jax_persistent_cache_min_entry_size_bytes', 0)
  if not _listening:
    monitoring.register_event_listener(_on_event)
    monitoring.register_event_duration_secs_listener(_on_duration)
    _listening = True
  return path


def counts() -> dict:
  """This process's cache lookups and compile time so far (since `enable`)."""
  with _lock:
    return dict(_counts)


def since(before: dict) -> dict:
  """What happened since `before` (an earlier `counts()`): hits, misses, the hit rate over the lookups
  (None without any), seconds spent compiling and seconds the hits saved. Cells run at once in threads
  of one process (`run_suite --jobs`) share the counts."""
  now = counts()
  d = {k: now[k] - before.get(k, 0) for k in now}
  lookups = d['hits'] + d['misses']
  return {'hits': d['hits'], 'misses': d['misses'], 'hit_rate': round(d['hits'] / lookups, 3) if lookups else None,
          'compile_s': round(d['compile_s'], 3), 'saved_s': round(d['saved_s'], 3)}
