"""Resumable stages keyed by a hash of their inputs: what lets the main job and the suite rerun in the same
directory, skipping finished work and redoing work whose config changed."""
from __future__ import annotations

import hashlib
import json
import os
import re
import time


def say(message: str) -> None:
  print(message, flush=True)


def config_hash(*parts) -> str:
  """A short hash of configs (ConfigDicts, dicts, strings): what names a run directory and a stage key."""
  text = json.dumps([p.to_json_best_effort(sort_keys=True) if hasattr(p, 'to_json_best_effort') else p
                     for p in parts], sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:10]


def write_text(path: str, text: str) -> None:
  """Writes a file atomically: a crash or a full disk leaves the old file or the new one, never half of one;
  a failed write removes its temporary file and says which file it was."""
  tmp = path + '.tmp'
  try:
    with open(tmp, 'w') as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except OSError as e:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise OSError(e.errno, f'{path}: could not write ({e.strerror}); the previous version, if any, is intact') from e


_NUMBER_LIST = re.compile(r'\[\s*(-?[\d.eE+-]+(?:,\s*-?[\d.eE+-]+)*)\s*\]')


def write_json(path: str, obj) -> None:
  """Indented JSON with each list of numbers on one line (a record of per-episode outcomes stays short)."""
  text = json.dumps(obj, indent=1)
  write_text(path, _NUMBER_LIST.sub(lambda m: '[' + re.sub(r',\s+', ', ', m.group(1)) + ']', text))


class Stages:
  """Finished stages with the hash of their inputs and their wall times, kept in `<workdir>/stages.json`: a
  rerun skips a stage whose key is unchanged and redoes one whose config changed."""

  def __init__(self, workdir: str, log=say):
    self.path = os.path.join(workdir, 'stages.json')
    self.log = log
    self.done = {}
    if os.path.exists(self.path):
      with open(self.path) as f:
        self.done = {k: v for k, v in json.load(f).items() if isinstance(v, dict)}   # older files: no keys

  def run(self, name: str, key: str, fn, index: int = 0, total: int = 0):
    """Runs `fn` unless stage `name` finished with `key`; `index` of `total` numbers the log line."""
    head = f'[{index}/{total}] {name}' if total else name
    previous = self.done.get(name)
    if previous and previous['key'] == key:
      self.log(f'{head}: done earlier ({previous["seconds"]:.0f} s), skipped')
      return
    why = ': its config changed since the last run, redoing' if previous else ''
    self.log(f'{head}{why}')
    t0 = time.time()
    fn()
    self.done[name] = {'key': key, 'seconds': round(time.time() - t0, 1)}
    write_json(self.path, self.done)

  def forget(self, name: str) -> None:
    """Stage `name` runs again next time (what it made is gone)."""
    self.done.pop(name, None)

  def timings(self) -> dict:
    return {name: v['seconds'] for name, v in self.done.items()}
